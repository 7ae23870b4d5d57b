"""The official `anthropic` SDK, and Ollama NDJSON, against the real gateway."""

from __future__ import annotations

import anthropic
import httpx
import orjson
import pytest

from tests.support.fake_upstream import FakeUpstream, split_bytes, sse
from tests.support.lexicon import BLOCK, MASK

from . import scripts

NOTICE = "本内容由人工智能生成"


@pytest.fixture
def client(gateway: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway, api_key="sk-ant-test", max_retries=0, timeout=10)


def _messages(**kw: object) -> dict:
    return {
        "model": "claude",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        **kw,
    }


def test_blocked_prompt_is_a_400_in_the_anthropic_envelope(
    client: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="claude",
            max_tokens=5,
            system=[{"type": "text", "text": f"你是{BLOCK}专家"}],
            messages=[{"role": "user", "content": "hi"}],
        )
    body = info.value.body
    assert body["type"] == "error" and body["error"]["code"] == "content_policy_violation"
    assert fake.requests == []


def test_stream_masked_thinking_screened_signature_untouched(
    client: anthropic.Anthropic, gateway: str, fake: FakeUpstream
) -> None:
    pieces = scripts.anthropic_stream(["前", MASK[:1], MASK[1:], "后"], thinking=True)
    fake.stream("/v1/messages", split_bytes(b"".join(pieces), 3))
    with httpx.stream("POST", gateway + "/v1/messages", json=_messages(stream=True)) as r:
        raw = r.read()
    # thinking is output text too: the term in it is masked; the signature is not text
    assert MASK.encode() not in raw and "想一想 前****后".encode() in raw
    assert b'"signature":"c2lnbmF0dXJl"' in raw
    fake.stream("/v1/messages", pieces)
    with client.messages.stream(
        model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature == "c2lnbmF0dXJl"
    assert final.content[1].text == f"【{NOTICE}】\n\n前****后"
    assert final.stop_reason == "end_turn"


def test_block_mid_stream_ends_with_refusal(
    client: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    fake.stream(
        "/v1/messages",
        scripts.anthropic_stream(["安全", BLOCK[:3], BLOCK[3:], "泄露"])[:-3],
        endless=True,
    )
    with client.messages.stream(
        model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "refusal"
    text = "".join(b.text for b in final.content if b.type == "text")
    assert BLOCK not in text and "泄露" not in text and "安全" in text
    assert fake.cancelled.wait(5)


def test_label_at_the_end_is_a_block_of_its_own(make_gateway, fake: FakeUpstream) -> None:  # noqa: ANN001
    fake.stream("/v1/messages", scripts.anthropic_stream(["一", "二"]))
    with make_gateway(labels={"text_position": "end"}) as base:
        c = anthropic.Anthropic(base_url=base, api_key="k", max_retries=0)
        with c.messages.stream(
            model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            final = stream.get_final_message()
    assert [b.text for b in final.content] == ["一二", f"\n\n【{NOTICE}】"]


def test_upstream_error_event_passes_through(
    client: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    err = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake.stream("/v1/messages", scripts.anthropic_stream(["hi"])[:3] + [sse(err, "error")])
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(
            model="claude", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert "Overloaded" in str(info.value)


def test_whole_message_masked(client: anthropic.Anthropic, fake: FakeUpstream) -> None:
    fake.json("/v1/messages", scripts.anthropic_json(f"a{MASK}b"))
    msg = client.messages.create(
        model="claude", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == f"【{NOTICE}】\n\na****b"


def test_key_injection_per_tenant(make_gateway, fake: FakeUpstream, upstream_url: str) -> None:  # noqa: ANN001
    import hashlib

    key_hash = "sha256:" + hashlib.sha256(b"gw-key").hexdigest()
    tenant = {
        "id": "acme",
        "api_keys": [key_hash],
        "upstream": {"url": upstream_url, "api_key": "sk-ant-upstream"},
    }
    fake.json("/v1/messages", scripts.anthropic_json("ok"))
    with make_gateway(tenants=[tenant]) as base:
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=base, api_key="wrong", max_retries=0).messages.create(
                model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        anthropic.Anthropic(base_url=base, api_key="gw-key", max_retries=0).messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    seen = fake.requests[-1].headers
    assert seen["x-api-key"] == "sk-ant-upstream"
    assert "gw-key" not in str(seen)


def test_ollama_ndjson_stream(gateway: str, fake: FakeUpstream) -> None:
    lines = scripts.ollama_stream(["前", MASK[:2], MASK[2:], "后"])
    fake.stream("/api/chat", split_bytes(b"".join(lines), 4), content_type="application/x-ndjson")
    body = {"model": "llama", "messages": [{"role": "user", "content": "hi"}]}  # streams by default
    with httpx.stream("POST", gateway + "/api/chat", json=body) as r:
        got = [orjson.loads(line) for line in r.iter_lines() if line]
    assert r.headers["content-type"] == "application/x-ndjson"
    assert "".join(g["message"]["content"] for g in got) == f"【{NOTICE}】\n\n前****后"
    assert got[-1]["done"] is True and got[-1]["done_reason"] == "stop"

    fake.stream(
        "/api/generate",
        scripts.ollama_stream(["好", BLOCK, "坏"], chat=False),
        content_type="application/x-ndjson",
    )
    with httpx.stream("POST", gateway + "/api/generate", json={"model": "l", "prompt": "p"}) as r:
        got = [orjson.loads(line) for line in r.iter_lines() if line]
    assert got[-1]["done"] is True and got[-1]["done_reason"] == "content_filter"
    assert BLOCK not in "".join(g["response"] for g in got)


def test_gateway_key_is_never_forwarded(make_gateway, fake: FakeUpstream) -> None:  # noqa: ANN001
    import hashlib

    tenant = {"id": "acme", "api_keys": ["sha256:" + hashlib.sha256(b"gw-key").hexdigest()]}
    fake.json("/api/chat", scripts.ollama_json("ok"))
    with make_gateway(tenants=[tenant]) as base:
        r = httpx.post(
            base + "/api/chat",
            headers={"authorization": "Bearer gw-key"},
            json={"model": "l", "stream": False, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 200
        r = httpx.post(base + "/api/chat", json={"model": "l", "messages": []})
        assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
    assert "authorization" not in fake.requests[-1].headers


def test_tool_use_input_json_is_screened_across_fragments(
    client: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    msg = {
        "id": "msg_t",
        "type": "message",
        "role": "assistant",
        "model": "c",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    args = '{"city": "' + MASK + '"}'
    frames = [
        sse({"type": "message_start", "message": msg}, "message_start"),
        sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "lookup",
                    "input": {},
                },
            },
            "content_block_start",
        ),
    ]
    frames += [
        sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": args[i : i + 4]},
            },
            "content_block_delta",
        )
        for i in range(0, len(args), 4)
    ]
    frames += [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    fake.stream("/v1/messages", frames)
    with client.messages.stream(
        model="c", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as s:
        final = s.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "****"}
    assert len(final.content) == 1  # tool-use-only turn: no text notice
