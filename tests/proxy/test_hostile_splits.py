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


def responses_joined(raw: bytes, notice: bool = False) -> str:
    """Part texts of ``*.added`` snapshots and deltas, as the SDK accumulates them (the
    notice taken out unless ``notice``, so only the screen decides)."""
    out = ""
    for ev in _events(raw):
        if ev["type"] == "response.content_part.added":
            out += ev["part"].get("text") or ""
        elif ev["type"] == "response.output_item.added":
            out += "".join(p.get("text") or "" for p in ev["item"].get("content") or ())
        elif ev["type"] == "response.output_text.delta":
            out += ev["delta"]
    return out if notice else out.replace(NOTICE, "")


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


# -- text for a field that had ended ---------------------------------------------------------


def _anthropic_reused_index(term: str) -> list[bytes]:
    text = {"type": "text", "text": ""}
    return [
        _message_start(),
        *_block(0, text, [_text("前")]),
        *_block(0, text, [_text(term)]),
        *_message_end(),
    ]


def _responses_after_done(term: str) -> list[bytes]:
    seq = iter(range(100))

    def ev(kind: str, **data: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **data}, kind)

    at = {"item_id": "m", "output_index": 0, "content_index": 0}
    return [
        ev("response.created", response=scripts.responses_json("") | {"output": []}),
        ev("response.output_text.delta", **at, delta="前"),
        ev("response.output_text.done", **at, text="前"),
        ev("response.output_text.delta", **at, delta=term),
        ev("response.completed", response=scripts.responses_json("ok")),
    ]


ENDED = [
    ("anthropic-block-index-reused", MSGS, _anthropic_reused_index),
    ("responses-delta-after-done", RESP, _responses_after_done),
]


@pytest.mark.parametrize("term", [BLOCK, MASK], ids=["block", "mask"])
@pytest.mark.parametrize("case", ENDED, ids=[c[0] for c in ENDED])
def test_text_for_an_ended_field_ends_the_stream_even_failing_open(
    case: tuple, term: str, make_gateway: Any, fake: FakeUpstream
) -> None:
    """A field's scanner is closed once it ended; more text for it is not a scanner fault
    that ``fail_open_output`` would let through, but a stream the gateway cannot read."""
    _, path, frames = case
    with make_gateway(proxy={"fail_open_output": True}) as base:
        fake.stream(path, frames(term))
        with httpx.stream("POST", base + path, json=_body(path)) as r:
            raw = r.read()
    assert not reveals(raw, term), raw.decode()[-900:]
    assert b"upstream_invalid_stream" in raw
