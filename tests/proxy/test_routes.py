"""Every gateway route screens its request, its response and (where the API streams) its stream."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply, split_bytes
from tests.support.lexicon import BLOCK, MASK

from . import scripts


@dataclass
class Case:
    path: str
    request: Callable[[str], dict]  # text -> request body
    sent: Callable[[dict], str]  # forwarded body -> the screened text
    error: Callable[[dict], str]  # error body -> its code
    reply: Callable[[str], dict] | None = None  # non-streaming reply carrying text
    got: Callable[[dict], str] | None = None  # client body -> the text
    stream: Callable[[list[str]], list[bytes]] | None = None
    stream_type: str = "text/event-stream"


def _openai_err(body: dict) -> str:
    return body["error"]["code"]


CASES = [
    Case(
        "/v1/chat/completions",
        lambda t: {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": [{"type": "text", "text": t}]},
            ],
        },
        lambda b: b["messages"][1]["content"][0]["text"],
        _openai_err,
        scripts.chat_json,
        lambda b: b["choices"][0]["message"]["content"],
        scripts.chat_stream,
    ),
    Case(
        "/v1/completions",
        lambda t: {"model": "m", "prompt": t},
        lambda b: b["prompt"],
        _openai_err,
        scripts.completions_json,
        lambda b: b["choices"][0]["text"],
        scripts.completions_stream,
    ),
    Case(
        "/v1/responses",
        lambda t: {
            "model": "m",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": t}]}],
        },
        lambda b: b["input"][0]["content"][0]["text"],
        _openai_err,
        scripts.responses_json,
        lambda b: b["output"][0]["content"][0]["text"],
        scripts.responses_stream,
    ),
    Case(
        "/v1/messages",
        lambda t: {
            "model": "claude",
            "max_tokens": 10,
            "system": "sys",
            "messages": [{"role": "user", "content": t}],
        },
        lambda b: b["messages"][0]["content"],
        lambda b: b["error"]["code"],
        scripts.anthropic_json,
        lambda b: b["content"][0]["text"],
        scripts.anthropic_stream,
    ),
    Case(
        "/api/chat",
        lambda t: {"model": "llama", "stream": False, "messages": [{"role": "user", "content": t}]},
        lambda b: b["messages"][0]["content"],
        lambda b: b["code"],
        scripts.ollama_json,
        lambda b: b["message"]["content"],
        lambda p: scripts.ollama_stream(p),
        "application/x-ndjson",
    ),
    Case(
        "/api/generate",
        lambda t: {"model": "llama", "stream": False, "prompt": t},
        lambda b: b["prompt"],
        lambda b: b["code"],
        lambda t: scripts.ollama_json(t, chat=False),
        lambda b: b["response"],
        lambda p: scripts.ollama_stream(p, chat=False),
        "application/x-ndjson",
    ),
    Case(
        "/v1/embeddings",
        lambda t: {"model": "e", "input": ["ok", t]},
        lambda b: b["input"][1],
        _openai_err,
    ),
    Case(
        "/v1/images/generations",
        lambda t: {"model": "img", "prompt": t, "response_format": "b64_json"},
        lambda b: b["prompt"],
        _openai_err,
        lambda t: {
            "created": 1,
            "data": [
                {"b64_json": base64.b64encode(scripts.png_bytes()).decode(), "revised_prompt": t}
            ],
        },
        lambda b: b["data"][0]["revised_prompt"],
    ),
    Case(
        "/v1/audio/speech",
        lambda t: {"model": "tts", "voice": "v", "input": t},
        lambda b: b["input"],
        _openai_err,
    ),
]
IDS = [c.path for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_request_is_screened_before_the_upstream(
    case: Case, fake: FakeUpstream, gateway: str
) -> None:
    r = httpx.post(gateway + case.path, json=case.request(f"请告诉我{BLOCK}吧"))
    assert r.status_code == 400
    assert case.error(r.json()) == "content_policy_violation"
    assert r.headers["x-aigc-decision"] == "block"
    assert r.headers["x-aigc-lexicon-version"].startswith("sha256:")
    assert fake.requests == []  # the upstream was never contacted

    # mask: the upstream receives the masked text, nothing else changes
    if case.path == "/v1/audio/speech":
        fake.reply(case.path, Reply([scripts.wav_bytes()], content_type="audio/wav"))
    elif case.reply is not None:
        fake.json(case.path, case.reply("fine"))
    else:
        fake.json(case.path, {"object": "list", "data": [{"embedding": [0.1], "index": 0}]})
    r = httpx.post(gateway + case.path, json=case.request(f"代号是{MASK}。"))
    assert r.status_code == 200, r.text
    assert case.sent(fake.requests[-1].json()) == "代号是****。"
    assert r.headers["x-aigc-decision"] == "mask"


@pytest.mark.parametrize("case", [c for c in CASES if c.reply is not None], ids=lambda c: c.path)
def test_response_is_screened(case: Case, fake: FakeUpstream, gateway: str) -> None:
    assert case.reply is not None and case.got is not None
    fake.json(case.path, case.reply(f"答案：{MASK}。"))
    r = httpx.post(gateway + case.path, json=case.request("hello"))
    assert r.status_code == 200, r.text
    text = case.got(r.json())
    assert MASK not in text and "答案：****。" in text
    assert r.headers["x-aigc-decision"] == "mask"

    fake.json(case.path, case.reply(f"答案：{BLOCK}。"))
    r = httpx.post(gateway + case.path, json=case.request("hello"))
    assert BLOCK not in r.text
    assert r.headers["x-aigc-decision"] == "block"


def _stream_body(case: Case) -> dict:
    body = case.request("hello")
    body["stream"] = True
    return body


@pytest.mark.parametrize("case", [c for c in CASES if c.stream is not None], ids=lambda c: c.path)
def test_stream_is_screened_split_anywhere(case: Case, fake: FakeUpstream, gateway: str) -> None:
    assert case.stream is not None
    # the masked term split over three deltas, and the bytes re-cut every 5 bytes, which
    # splits the 3-byte UTF-8 characters too
    pieces = case.stream(["开头", MASK[:1], MASK[1:3], MASK[3:] + "结尾"])
    fake.stream(case.path, split_bytes(b"".join(pieces), 5), content_type=case.stream_type)
    with httpx.stream("POST", gateway + case.path, json=_stream_body(case)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(case.stream_type)
        raw = r.read().decode()
    assert MASK not in raw and MASK[1:3] not in raw
    assert "****" in raw.replace('","', "").replace("\n", "") or "*" in raw

    # block: the term split over two deltas never reaches the client; the stream ends natively
    pieces = case.stream(["安全的前缀", BLOCK[:2], BLOCK[2:], "后面的内容"])
    fake.stream(case.path, split_bytes(b"".join(pieces), 7), content_type=case.stream_type)
    with httpx.stream("POST", gateway + case.path, json=_stream_body(case)) as r:
        raw = r.read().decode()
    assert BLOCK[2:] not in raw and "后面的内容" not in raw
    assert "安全的前缀" in raw
    assert any(
        marker in raw
        for marker in (
            '"finish_reason":"content_filter"',
            '"reason":"content_filter"',
            '"stop_reason":"refusal"',
            '"done_reason":"content_filter"',
        )
    )


def test_stream_output_and_tool_json(fake: FakeUpstream, gateway: str) -> None:
    """A chat reply in JSON mode gets no explicit label (it would break the JSON)."""
    fake.json("/v1/chat/completions", scripts.chat_json('{"a": 1}'))
    body: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"},
    }
    r = httpx.post(gateway + "/v1/chat/completions", json=body)
    assert orjson.loads(r.json()["choices"][0]["message"]["content"]) == {"a": 1}
    assert "x-aigc-label" in r.headers  # the implicit label is still there


def test_blocks_and_latency_are_in_the_metrics(fake: FakeUpstream, gateway: str) -> None:
    httpx.post(gateway + "/v1/completions", json={"model": "m", "prompt": BLOCK})
    fake.stream("/v1/completions", scripts.completions_stream(["a", "b"]))
    with httpx.stream(
        "POST", gateway + "/v1/completions", json={"model": "m", "prompt": "p", "stream": True}
    ) as r:
        r.read()
    text = httpx.get(gateway + "/metrics").text
    assert (
        'aigc_gateway_proxy_blocks_total{category="a1.terrorism_extremism",direction="input"}'
        in text
    )
    assert "aigc_gateway_proxy_ttft_added_seconds_count" in text
    assert "aigc_gateway_proxy_holdback_chars_count" in text


def test_every_decision_reaches_the_records(make_gateway, fake: FakeUpstream) -> None:  # noqa: ANN001
    token = "admin-token-for-tests-0123456789"
    fake.stream("/v1/chat/completions", scripts.chat_stream(["x", MASK[:2], MASK[2:], "y"]))
    with make_gateway(admin_token=token) as base:
        user = {"x-aigc-user": "user-42"}
        r = httpx.post(base + "/v1/completions", headers=user, json={"model": "m", "prompt": BLOCK})
        assert r.status_code == 400
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        with httpx.stream("POST", base + "/v1/chat/completions", headers=user, json=body) as s:
            s.read()
        export = httpx.get(
            base + "/admin/export",
            params={"format": "jsonl"},
            headers={"authorization": f"Bearer {token}"},
        )
    assert export.status_code == 200, export.text
    rows = [orjson.loads(line) for line in export.text.splitlines() if line.strip()]
    by_kind: dict[str, list[dict]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    block, mask = sorted(by_kind["incident"], key=lambda r: r["direction"])
    assert (block["direction"], block["action"], block["terms"]) == ("input", "block", [BLOCK])
    assert block["categories"] == ["a1.terrorism_extremism"] and block["user_id"] == "user-42"
    assert (mask["direction"], mask["action"], mask["offsets"]) == ("output", "mask", [[1, 5]])
    assert mask["content_id"] == "chatcmpl-fake" and mask["stream_position"] is not None
    assert block["lexicon_version"].startswith("sha256:")
    logs = {r["route"]: r for r in by_kind["network_log"]}
    assert (
        logs["/v1/completions"]["decision"] == "block" and logs["/v1/completions"]["status"] == 400
    )
    assert logs["/v1/chat/completions"]["decision"] == "mask"
    delivery = by_kind["label_delivery"][0]
    assert (
        delivery["content_id"] == "chatcmpl-fake" and delivery["explicit"] and delivery["implicit"]
    )
