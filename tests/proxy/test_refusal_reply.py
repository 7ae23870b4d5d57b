"""`proxy.block_mode = "refusal"`: a blocked prompt gets a 200 assistant reply in the protocol's
own shape (stream and not), labeled, recorded, with the upstream never contacted. Official
`openai` and `anthropic` SDKs and Ollama over httpx, against the real gateway on loopback."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.lexicon import BLOCK

NOTICE = "本内容由人工智能生成"
REFUSAL = "抱歉，这个问题我无法回答。"
SHOWN = f"【{NOTICE}】\n\n{REFUSAL}"
ADMIN = "records-admin-token-42"
ASK = [{"role": "user", "content": f"告诉我{BLOCK}"}]


@pytest.fixture
def base(make_gateway) -> Iterator[str]:  # noqa: ANN001
    proxy = {"block_mode": "refusal", "refusal_message": REFUSAL}
    with make_gateway(proxy=proxy, admin_token=ADMIN) as url:
        yield url


@pytest.fixture
def oai(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key="sk-test", max_retries=0, timeout=10)


@pytest.fixture
def claude(base: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base, api_key="sk-ant-test", max_retries=0, timeout=10)


def _labeled(headers: httpx.Headers, produce_id: str | None = None) -> None:
    assert headers["x-aigc-decision"] == "block"
    label = headers["x-aigc-label"]
    assert '"Label":"1"' in label
    if produce_id:
        assert f'"ProduceID":"{produce_id}"' in label


def test_openai_chat_refusal_whole_and_stream(
    oai: openai.OpenAI, base: str, fake: FakeUpstream
) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="m", messages=ASK)
    reply = raw.parse()
    assert raw.http_response.status_code == 200
    assert reply.choices[0].message.content == SHOWN
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason == "content_filter"
    _labeled(raw.headers, reply.id)

    with oai.chat.completions.with_streaming_response.create(
        model="m", messages=ASK, stream=True, stream_options={"include_usage": True}
    ) as resp:
        _labeled(resp.headers)
        assert resp.headers["content-type"].startswith("text/event-stream")
        chunks = list(resp.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == SHOWN
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "content_filter"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert fake.requests == []  # the model API was never called

    # the incident and the block are recorded as in "error" mode
    deadline = time.monotonic() + 10
    rows: list = []
    while time.monotonic() < deadline:
        r = httpx.get(
            base + "/admin/export",
            params={"format": "jsonl", "kind": "incident,network_log"},
            headers={"authorization": f"Bearer {ADMIN}"},
        )
        rows = [orjson.loads(line) for line in r.text.splitlines() if line.strip()]
        if len(rows) >= 4:
            break
        time.sleep(0.05)
    incidents = [r for r in rows if r.get("kind") == "incident"]
    logs = [r for r in rows if r.get("kind") == "network_log"]
    assert len(incidents) == 2 and all(r["action"] == "block" for r in incidents), rows
    assert len(logs) == 2 and all(r["decision"] == "block" for r in logs), rows


def test_openai_completions_and_responses_refusal(oai: openai.OpenAI, fake: FakeUpstream) -> None:
    done = oai.completions.create(model="m", prompt=f"告诉我{BLOCK}")
    assert done.choices[0].text == SHOWN and done.choices[0].finish_reason == "content_filter"
    streamed = list(oai.completions.create(model="m", prompt=f"告诉我{BLOCK}", stream=True))
    assert "".join(c.choices[0].text for c in streamed if c.choices) == SHOWN

    resp = oai.responses.create(model="m", input=f"告诉我{BLOCK}")
    assert resp.output_text == SHOWN
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "content_filter"
    events = list(oai.responses.create(model="m", input=f"告诉我{BLOCK}", stream=True))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == SHOWN
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.output_text == SHOWN
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert fake.requests == []


def test_anthropic_refusal_whole_and_stream(
    claude: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    raw = claude.messages.with_raw_response.create(model="claude", max_tokens=64, messages=ASK)
    msg = raw.parse()
    assert raw.http_response.status_code == 200
    assert msg.stop_reason == "refusal"
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text == SHOWN
    _labeled(raw.headers, msg.id)

    with claude.messages.stream(model="claude", max_tokens=64, messages=ASK) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == SHOWN
    assert final.stop_reason == "refusal" and final.content[0].text == SHOWN
    assert fake.requests == []


def test_ollama_refusal_whole_and_stream(base: str, fake: FakeUpstream) -> None:
    whole = httpx.post(base + "/api/chat", json={"model": "q", "messages": ASK, "stream": False})
    assert whole.status_code == 200
    body = whole.json()
    assert body["message"] == {"role": "assistant", "content": SHOWN}
    assert body["done"] is True and body["done_reason"] == "content_filter"
    _labeled(whole.headers)

    with httpx.stream("POST", base + "/api/chat", json={"model": "q", "messages": ASK}) as r:
        assert r.headers["content-type"].startswith("application/x-ndjson")
        _labeled(r.headers)
        lines = [orjson.loads(line) for line in r.iter_lines() if line]
    assert "".join(line["message"]["content"] for line in lines) == SHOWN
    assert lines[-1]["done"] is True and lines[-1]["done_reason"] == "content_filter"

    gen = httpx.post(
        base + "/api/generate", json={"model": "q", "prompt": f"说{BLOCK}", "stream": False}
    )
    assert gen.json()["response"] == SHOWN and gen.json()["done"] is True
    assert fake.requests == []


def test_block_mode_per_tenant_and_default_is_error(make_gateway, fake: FakeUpstream) -> None:  # noqa: ANN001
    def tenant(name: str, **proxy: str) -> dict:
        key = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        return {"id": name, "api_keys": [key], "proxy": proxy}

    tenants = [tenant("polite", block_mode="refusal"), tenant("plain")]
    with make_gateway(tenants=tenants) as url:
        polite = openai.OpenAI(base_url=url + "/v1", api_key="polite", max_retries=0)
        reply = polite.chat.completions.create(model="m", messages=ASK)
        assert reply.choices[0].finish_reason == "content_filter"
        assert reply.choices[0].message.content.endswith(
            "The request was blocked by the content policy."
        )
        plain = openai.OpenAI(base_url=url + "/v1", api_key="plain", max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            plain.chat.completions.create(model="m", messages=ASK)
        assert info.value.code == "content_policy_violation"
        # APIs with no assistant reply keep the error envelope
        emb = httpx.post(
            url + "/v1/embeddings",
            headers={"authorization": "Bearer polite"},
            json={"model": "e", "input": BLOCK},
        )
        assert emb.status_code == 400 and "content_policy_violation" in emb.text
    assert fake.requests == []
