"""Issue 11, answers: what the gateway repeats in the endings it builds (chunk templates,
Responses snapshots), vendor streams on generic routes whose events are not named deltas
(a term carried over two events), the notice before text in a Responses ``*.added``
snapshot, and Ollama's token logprobs."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.support.fake_upstream import FakeUpstream, split_bytes, sse
from tests.support.lexicon import BLOCK, MASK

from . import scripts
from .reveal import reveals
from .test_hostile_splits import (
    CHAT,
    NOTICE,
    RESP,
    _body,
    _responses_added,
    responses_joined,
)

# -- what the gateway repeats in the endings it builds --------------------------------------


def _resp_snapshot(term: str, where: str) -> list[bytes]:
    """A Responses stream whose ``response.created`` or ``output_item.added`` carries the
    term, then a block: the ``response.incomplete`` ending repeats those snapshots."""
    seq = iter(range(100))

    def ev(kind: str, **data: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **data}, kind)

    extra = {"instructions": f"前{term}"} if where == "created" else {}
    out = [ev("response.created", response=scripts.responses_json("") | {"output": []} | extra)]
    if where == "item":
        part = {"type": "output_text", "text": f"前{term}", "annotations": []}
        item = {"id": "m", "type": "message", "role": "assistant", "content": [part]}
        out.append(ev("response.output_item.added", output_index=0, item=item))
    delta = {"item_id": "m2", "output_index": 1, "content_index": 0}
    return out + [ev("response.output_text.delta", **delta, delta=f"坏{BLOCK}")]


def _chat_template(term: str, field: str) -> list[bytes]:
    """The first chunk's ``id``/``model``/``created`` carry the term; the chunks the gateway
    builds (the block ending) repeat them."""
    first = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    first[field] = f"前{term}"
    return [
        sse(
            {**first, "choices": [{"index": 0, "delta": {"content": "好"}, "finish_reason": None}]}
        ),
        scripts.chat_chunk(
            [{"index": 0, "delta": {"content": f"坏{BLOCK}"}, "finish_reason": None}]
        ),
    ]


SNAPSHOTS = [
    ("responses-created", RESP, lambda t: _resp_snapshot(t, "created")),
    ("responses-item-added", RESP, lambda t: _resp_snapshot(t, "item")),
    ("chat-id", CHAT, lambda t: _chat_template(t, "id")),
    ("chat-model", CHAT, lambda t: _chat_template(t, "model")),
    ("chat-created", CHAT, lambda t: _chat_template(t, "created")),
]


@pytest.mark.parametrize("term", [BLOCK, MASK], ids=["block", "mask"])
@pytest.mark.parametrize("case", SNAPSHOTS, ids=[c[0] for c in SNAPSHOTS])
def test_endings_the_gateway_builds_repeat_only_screened_text(
    case: tuple, term: str, fake: FakeUpstream, gateway: str
) -> None:
    _, path, frames = case
    fake.stream(path, frames(term), endless=True)
    with httpx.stream("POST", gateway + path, json=_body(path)) as r:
        raw = r.read()
    assert not reveals(raw, term), raw.decode()[-900:]
    assert not reveals(raw, BLOCK)


# -- generic routes: vendor streams whose events are not named deltas -----------------------

DASHSCOPE = "/api/v1/services/aigc/text-generation/generation"
GEMINI = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"


def _dashscope(pieces: list[str]) -> list[bytes]:
    return [
        b"id:%d\nevent:result\n:HTTP_STATUS/200\ndata:" % i
        + orjson.dumps({"output": {"text": p, "finish_reason": "null"}, "request_id": "r"})
        + b"\n\n"
        for i, p in enumerate(pieces)
    ]


def _gemini(pieces: list[str]) -> list[bytes]:
    return [
        b"data: "
        + orjson.dumps({"candidates": [{"content": {"parts": [{"text": p}], "role": "model"}}]})
        + b"\r\n\r\n"
        for p in pieces
    ]


def _ndjson(pieces: list[str]) -> list[bytes]:
    return [orjson.dumps({"output": {"text": p}}) + b"\n" for p in pieces]


def _texts(raw: bytes) -> list[str]:
    """The text of every event, in order (what an incremental client prints)."""
    out = []
    for line in raw.replace(b"\r", b"").split(b"\n"):
        line = line.removeprefix(b"data:").strip()
        if not line.startswith(b"{"):
            continue
        doc = orjson.loads(line)
        if "candidates" in doc:
            out.append(doc["candidates"][0]["content"]["parts"][0]["text"])
        elif "output" in doc:
            out.append(doc["output"]["text"])
    return out


def _dashscope_names(pieces: list[str]) -> list[bytes]:
    """Event names that change from event to event, one a ``*delta``: clients read
    ``output.text`` of every event."""
    return [
        b"event:%s\ndata:" % name
        + orjson.dumps({"output": {"text": p}, "request_id": "r"})
        + b"\n\n"
        for name, p in zip([b"result", b"other", b"result.delta", b"x"] * 4, pieces, strict=False)
    ]


GENERIC = [
    ("dashscope-sse", DASHSCOPE, _dashscope, "text/event-stream"),
    ("event-names-change", DASHSCOPE, _dashscope_names, "text/event-stream"),
    ("gemini-sse", GEMINI, _gemini, "text/event-stream"),
    ("vendor-ndjson", "/v1/vendor/generate", _ndjson, "application/x-ndjson"),
]


@pytest.mark.parametrize("size", [4096, 5], ids=["reads-whole", "reads-5-bytes"])
@pytest.mark.parametrize("case", GENERIC, ids=[c[0] for c in GENERIC])
def test_generic_streams_read_plain_events_as_one_text(
    case: tuple, size: int, fake: FakeUpstream, gateway: str
) -> None:
    _, path, build, ctype = case
    body = {"model": "m", "input": {"prompt": "hi"}}
    plain = ["今天", "天气", "很好。"]
    fake.stream(path, split_bytes(b"".join(build(plain)), size), content_type=ctype)
    with httpx.stream("POST", gateway + path, json=body) as r:
        assert _texts(r.read()) == plain  # each event whole, none split or merged

    fake.stream(path, split_bytes(b"".join(build(["前", MASK[:2], MASK[2:], "后"])), size))
    fake.replies[path][-1].content_type = ctype
    with httpx.stream("POST", gateway + path, json=body) as r:
        assert "".join(_texts(r.read())) == "前****后"

    fake.stream(path, split_bytes(b"".join(build(["前", BLOCK[:2], BLOCK[2:], "后"])), size))
    fake.replies[path][-1].content_type = ctype
    with httpx.stream("POST", gateway + path, json=body) as r:
        raw = r.read()
    assert BLOCK not in "".join(_texts(raw)) and not reveals(raw, BLOCK), raw.decode()
    assert b"content_policy_violation" in raw and "后" not in "".join(_texts(raw))


@pytest.mark.parametrize("where", ["part", "item"])
def test_the_notice_precedes_text_in_an_added_snapshot(
    where: str, fake: FakeUpstream, gateway: str
) -> None:
    fake.stream(RESP, _responses_added("天气很好", where))
    with httpx.stream("POST", gateway + RESP, json=_body(RESP)) as r:
        raw = r.read()
    assert responses_joined(raw, notice=True) == NOTICE + "前天气很好后"


@pytest.mark.parametrize("stream", [True, False])
def test_ollama_token_logprobs_are_dropped(stream: bool, fake: FakeUpstream, gateway: str) -> None:
    """Ollama 0.12+ answers ``logprobs`` per token: one line each, they spell the text a
    token at a time (a masked term would be readable from them)."""

    def line(tok: str, done: bool = False) -> dict:
        return {
            "model": "l",
            "message": {"role": "assistant", "content": tok, "thinking": "。"},
            "done": done,
            "logprobs": [{"token": tok, "logprob": -0.1, "top_logprobs": [{"token": tok}]}],
        }

    toks = ["前", *MASK, "后"]
    if stream:
        lines = [orjson.dumps(line(t)) + b"\n" for t in toks]
        fake.stream("/api/chat", [*lines, orjson.dumps(line("", True)) + b"\n"])
        fake.replies["/api/chat"][-1].content_type = "application/x-ndjson"
    else:
        fake.json("/api/chat", line("".join(toks), True))
    r = httpx.post(gateway + "/api/chat", json={"model": "l", "messages": [], "stream": stream})
    got = [orjson.loads(x) for x in r.content.splitlines() if x.strip()]
    assert got and all(g.get("logprobs") is None for g in got), r.text
    assert not reveals(r.content, MASK)
