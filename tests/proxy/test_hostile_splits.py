"""Issue 11, answers: a term split over two strings that a client joins — tool-call name
fragments, two Anthropic text blocks, two Responses output-text parts — and deltas an
Anthropic stream sends for a block that is not open or not of their type. Readers join them
the way the SDKs do (``text_stream``, ``output_text``, tool-call accumulation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.support.fake_upstream import FakeUpstream, split_bytes, sse
from tests.support.lexicon import BLOCK, MASK

from . import scripts
from .reveal import reveals

CHAT = "/v1/chat/completions"
MSGS = "/v1/messages"
RESP = "/v1/responses"


def _events(raw: bytes) -> list[dict]:
    out = []
    for line in raw.split(b"\n"):
        if line.startswith(b"data: {"):
            out.append(orjson.loads(line[6:]))
    return out


def tool_names(raw: bytes) -> str:
    """Tool-call names as the OpenAI SDK accumulates them (fragments concatenated)."""
    names: dict[int, str] = {}
    for ev in _events(raw):
        for choice in ev.get("choices") or ():
            for call in (choice.get("delta") or {}).get("tool_calls") or ():
                fn = call.get("function") or {}
                names[call.get("index", 0)] = names.get(call.get("index", 0), "") + (
                    fn.get("name") or ""
                )
    return "".join(names.values())


def anthropic_text(raw: bytes) -> str:
    """Every text_delta, in order (the SDK's ``text_stream``, ``get_final_text``)."""
    return "".join(
        ev["delta"].get("text") or ""
        for ev in _events(raw)
        if ev.get("type") == "content_block_delta" and isinstance(ev.get("delta"), dict)
    )


def responses_text(raw: bytes) -> str:
    """Every output_text delta, in order (what a streaming client prints)."""
    return "".join(
        ev.get("delta") or ""
        for ev in _events(raw)
        if ev.get("type") == "response.output_text.delta"
    )


def _chat_names(term: str) -> list[bytes]:
    def call(name: str, first: bool) -> bytes:
        tc: dict[str, Any] = {"index": 0, "function": {"name": name}}
        if first:
            tc.update(id="call_1", type="function")
        delta = {"tool_calls": [tc]}
        return scripts.chat_chunk([{"index": 0, "delta": delta, "finish_reason": None}])

    args = {"index": 0, "function": {"arguments": "{}"}}
    return [
        call("get" + term[:2], True),
        call(term[2:], False),
        scripts.chat_chunk([{"index": 0, "delta": {"tool_calls": [args]}, "finish_reason": None}]),
        scripts.chat_chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
        b"data: [DONE]\n\n",
    ]


def _message_start() -> bytes:
    msg = scripts.anthropic_json("")
    msg["content"] = []
    return sse({"type": "message_start", "message": msg}, "message_start")


def _message_end() -> list[bytes]:
    return [
        sse(
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}},
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]


def _block(index: int, block: dict, deltas: list[dict]) -> list[bytes]:
    out = [
        sse(
            {"type": "content_block_start", "index": index, "content_block": block},
            "content_block_start",
        )
    ]
    out += [
        sse({"type": "content_block_delta", "index": index, "delta": d}, "content_block_delta")
        for d in deltas
    ]
    return out + [sse({"type": "content_block_stop", "index": index}, "content_block_stop")]


def _text(p: str) -> dict:
    return {"type": "text_delta", "text": p}


def _anthropic_blocks(term: str) -> list[bytes]:
    text = {"type": "text", "text": ""}
    return [
        _message_start(),
        *_block(0, text, [_text("前" + term[:2])]),
        *_block(1, text, [_text(term[2:] + "后")]),
        *_message_end(),
    ]


def _anthropic_blocks_between(term: str) -> list[bytes]:
    """Text, a tool_use block, text again: a streaming client prints both texts in a row."""
    text = {"type": "text", "text": ""}
    tool = {"type": "tool_use", "id": "t", "name": "f", "input": {}}
    return [
        _message_start(),
        *_block(0, text, [_text("前" + term[:2])]),
        *_block(1, tool, [{"type": "input_json_delta", "partial_json": "{}"}]),
        *_block(2, text, [_text(term[2:] + "后")]),
        *_message_end(),
    ]


def _anthropic_no_start(term: str) -> list[bytes]:
    deltas = [
        sse({"type": "content_block_delta", "index": 0, "delta": _text(p)}, "content_block_delta")
        for p in ("前" + term[:2], term[2:] + "后")
    ]
    return [_message_start(), *deltas, *_message_end()]


def _anthropic_wrong_type(block: dict, delta: Callable[[str], dict]) -> Callable[[str], list]:
    def frames(term: str) -> list[bytes]:
        pieces = ["前" + term[:2], term[2:] + "后"]
        return [_message_start(), *_block(0, block, [delta(p) for p in pieces]), *_message_end()]

    return frames


def _responses_parts(term: str, *, items: bool) -> list[bytes]:
    seq = iter(range(100))

    def ev(kind: str, **data: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **data}, kind)

    out = [ev("response.created", response=scripts.responses_json("") | {"output": []})]
    for i, p in enumerate(["前" + term[:2], term[2:] + "后"]):
        oi, ci = (i, 0) if items else (0, i)
        where = {"item_id": f"m{oi}", "output_index": oi, "content_index": ci}
        out.append(ev("response.output_text.delta", **where, delta=p))
        out.append(ev("response.output_text.done", **where, text=p))
    out.append(ev("response.completed", response=scripts.responses_json("ok")))
    return out


NOTICE = "【本内容由人工智能生成】\n\n"


def _responses_added(term: str, where: str) -> list[bytes]:
    """A part whose first text comes in its ``*.added`` snapshot, continued by deltas."""
    seq = iter(range(100))

    def ev(kind: str, **data: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **data}, kind)

    first = {"type": "output_text", "text": "前" + term[:2], "annotations": []}
    item = {"id": "m", "type": "message", "role": "assistant", "content": []}
    if where == "item":
        item["content"] = [first]
    out = [
        ev("response.created", response=scripts.responses_json("") | {"output": []}),
        ev("response.output_item.added", output_index=0, item=item),
    ]
    at = {"item_id": "m", "output_index": 0, "content_index": 0}
    if where == "part":
        out.append(ev("response.content_part.added", **at, part=first))
    out.append(ev("response.output_text.delta", **at, delta=term[2:] + "后"))
    out.append(ev("response.output_text.done", **at, text="前" + term + "后"))
    return out + [ev("response.completed", response=scripts.responses_json("ok"))]


def responses_joined(raw: bytes) -> str:
    """Part texts of ``*.added`` snapshots and deltas, as the SDK accumulates them (the
    notice taken out, so only the screen decides)."""
    out = ""
    for ev in _events(raw):
        if ev["type"] == "response.content_part.added":
            out += ev["part"].get("text") or ""
        elif ev["type"] == "response.output_item.added":
            out += "".join(p.get("text") or "" for p in ev["item"].get("content") or ())
        elif ev["type"] == "response.output_text.delta":
            out += ev["delta"]
    return out.replace(NOTICE, "")


def _anthropic_start_content(term: str) -> list[bytes]:
    """``message_start`` with a text block already: the SDK's snapshot starts with it, and
    deltas for index 0 land in it."""
    msg = scripts.anthropic_json("")
    msg["content"] = [{"type": "text", "text": "前" + term[:2]}]
    text = {"type": "text", "text": ""}
    return [
        sse({"type": "message_start", "message": msg}, "message_start"),
        *_block(0, text, [_text(term[2:] + "后")]),
        *_message_end(),
    ]


def anthropic_sdk_text(raw: bytes) -> str:
    """``message_start`` content, then every text delta (the SDK's ``get_final_text``)."""
    first = ""
    for ev in _events(raw):
        if ev.get("type") == "message_start":
            first = "".join(b.get("text") or "" for b in ev["message"].get("content") or ())
    return (first + anthropic_text(raw)).replace(NOTICE, "")


def _responses_created_output(term: str) -> list[bytes]:
    """``response.created`` with an output message already: the SDK's snapshot starts with
    it, and deltas for output 0 continue its text."""
    seq = iter(range(100))

    def ev(kind: str, **data: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **data}, kind)

    at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    return [
        ev("response.created", response=scripts.responses_json("前" + term[:2])),
        ev("response.output_text.delta", **at, delta=term[2:] + "后"),
        ev("response.completed", response=scripts.responses_json("ok")),
    ]


def responses_sdk_text(raw: bytes) -> str:
    """``response.created`` output texts, then the deltas (the SDK's snapshot)."""
    first = ""
    for ev in _events(raw):
        if ev.get("type") == "response.created":
            for item in ev["response"].get("output") or ():
                first += "".join(p.get("text") or "" for p in item.get("content") or ())
    return (first + responses_text(raw)).replace(NOTICE, "")


def _chat_other_choice(term: str) -> list[bytes]:
    """n = 1, but the second half comes as choice 1: clients that print
    ``chunk.choices[0].delta.content`` print both."""

    def c(index: int, text: str) -> bytes:
        return scripts.chat_chunk(
            [{"index": index, "delta": {"content": text}, "finish_reason": None}]
        )

    def stop(index: int) -> bytes:
        return scripts.chat_chunk([{"index": index, "delta": {}, "finish_reason": "stop"}])

    return [c(0, "前" + term[:2]), stop(0), c(1, term[2:] + "后"), stop(1), b"data: [DONE]\n\n"]


def first_choice_text(raw: bytes) -> str:
    out = ""
    for ev in _events(raw):
        if ev.get("choices"):
            out += (ev["choices"][0].get("delta") or {}).get("content") or ""
    return out.replace(NOTICE, "")


CASES: list[tuple[str, str, Callable[[str], list[bytes]], Callable[[bytes], str]]] = [
    ("chat-choice-beyond-n", CHAT, _chat_other_choice, first_choice_text),
    ("responses-created-with-output", RESP, _responses_created_output, responses_sdk_text),
    ("anthropic-message-start-content", MSGS, _anthropic_start_content, anthropic_sdk_text),
    ("responses-part-added-text", RESP, lambda t: _responses_added(t, "part"), responses_joined),
    ("responses-item-added-text", RESP, lambda t: _responses_added(t, "item"), responses_joined),
    ("chat-tool-name-fragments", CHAT, _chat_names, tool_names),
    ("anthropic-two-text-blocks", MSGS, _anthropic_blocks, anthropic_text),
    ("anthropic-text-tool-text", MSGS, _anthropic_blocks_between, anthropic_text),
    ("anthropic-delta-without-block", MSGS, _anthropic_no_start, anthropic_text),
    (
        "anthropic-text-delta-in-tool-block",
        MSGS,
        _anthropic_wrong_type({"type": "tool_use", "id": "t", "name": "f", "input": {}}, _text),
        anthropic_text,
    ),
    (
        "anthropic-thinking-delta-in-text-block",
        MSGS,
        _anthropic_wrong_type(
            {"type": "text", "text": ""}, lambda p: {"type": "thinking_delta", "thinking": p}
        ),
        lambda raw: "".join((ev.get("delta") or {}).get("thinking") or "" for ev in _events(raw)),
    ),
    ("responses-two-parts", RESP, lambda t: _responses_parts(t, items=False), responses_text),
    ("responses-two-items", RESP, lambda t: _responses_parts(t, items=True), responses_text),
]


def _body(path: str) -> dict:
    if path == MSGS:
        return {"model": "c", "max_tokens": 5, "messages": [], "stream": True}
    if path == RESP:
        return {"model": "m", "input": "hi", "stream": True}
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


@pytest.mark.parametrize("size", [4096, 3], ids=["reads-whole", "reads-3-bytes"])
@pytest.mark.parametrize("term", [BLOCK, MASK], ids=["block", "mask"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_term_split_over_strings_a_client_joins_never_reaches_it(
    case: tuple, term: str, size: int, fake: FakeUpstream, gateway: str
) -> None:
    _, path, frames, read = case
    fake.stream(path, split_bytes(b"".join(frames(term)), size))
    with httpx.stream("POST", gateway + path, json=_body(path)) as r:
        raw = r.read()
    assert r.status_code == 200
    assert term not in read(raw) and not reveals(raw, term), raw.decode()[-900:]


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
    out = ""
    for ev in _events(raw):
        if ev["type"] == "response.content_part.added":
            out += ev["part"].get("text") or ""
        elif ev["type"] == "response.output_item.added":
            out += "".join(p.get("text") or "" for p in ev["item"].get("content") or ())
        elif ev["type"] == "response.output_text.delta":
            out += ev["delta"]
    assert out == NOTICE + "前天气很好后"


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
