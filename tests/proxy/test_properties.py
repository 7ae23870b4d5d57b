"""Property tests (issue 11): a blocked term put anywhere in a valid request or answer — any
key, any nesting, any list position, inside JSON in strings, data URLs or base64, in any
stream field split at any byte — never reaches the upstream or the client."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.proxy.protocols import ADAPTERS
from service.proxy.slots import Slots
from service.proxy.stream import StreamRelay
from tests.support.fake_upstream import FakeUpstream
from tests.support.lexicon import BLOCK, MASK

from . import scripts
from .reveal import reveals

KEYS = st.text(st.characters(categories=("L", "N"), max_codepoint=0x9FFF), min_size=1, max_size=6)
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=6))
TREES = st.recursive(
    LEAVES,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(KEYS, kids, max_size=3),
    max_leaves=8,
)
HOW = st.sampled_from(
    ["plain", "embedded", "key", "json", "json_ascii", "json_in_json", "data_url", "b64_long"]
)
SLOW = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def wrap(term: str, how: str) -> Any:
    if how == "plain":
        return term
    if how == "embedded":
        return f"前缀{term}后缀"
    if how == "key":
        return {term: 1}
    if how == "json":
        return json.dumps({"a": [term]}, ensure_ascii=False)
    if how == "json_ascii":
        return json.dumps({"a": term})
    if how == "json_in_json":
        return json.dumps([json.dumps({"q": term})])
    if how == "data_url":
        return "data:text/plain;base64," + base64.b64encode(term.encode()).decode()
    return base64.b64encode((term * 20).encode()).decode()


def insert(data: st.DataObject, tree: Any, value: Any) -> Any:
    """``tree`` with ``value`` put at a random place (drawn as it descends)."""
    if isinstance(tree, dict) and tree and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(tree)))
        tree[key] = insert(data, tree[key], value)
        return tree
    if isinstance(tree, list) and tree and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(tree) - 1))
        tree[i] = insert(data, tree[i], value)
        return tree
    if isinstance(tree, dict):
        tree[data.draw(KEYS)] = value
        return tree
    if isinstance(tree, list):
        tree.insert(data.draw(st.integers(0, len(tree))), value)
        return tree
    return data.draw(st.sampled_from([value, [tree, value], {"k": value}]))


def _request(data: st.DataObject, path: str) -> dict:
    if path == "/v1/messages":
        body: dict = {
            "model": "c",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
        }
    elif path == "/v1/responses":
        body = {
            "model": "m",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        }
    elif path == "/api/chat":
        body = {"model": "l", "stream": False, "messages": [{"role": "user", "content": "hi"}]}
    else:
        body = {
            "model": "m",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        }
    return body


@pytest.fixture
def upstream(fake_server: tuple[FakeUpstream, str]) -> FakeUpstream:
    return fake_server[0]


@SLOW
@given(
    data=st.data(),
    path=st.sampled_from(
        ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/api/chat", "/v1/vendor/thing"]
    ),
    tree=TREES,
    how=HOW,
)
def test_a_blocked_term_anywhere_in_a_request_never_reaches_the_upstream(
    upstream: FakeUpstream, gateway: str, data: st.DataObject, path: str, tree: Any, how: str
) -> None:
    upstream.reset()
    body = _request(data, path)
    place = data.draw(st.sampled_from(["extra", "message", "part"]))
    value = insert(data, tree, wrap(BLOCK, how))
    if place == "extra":
        body[data.draw(KEYS)] = value
    elif place == "message":
        body["messages" if "messages" in body else "input"][0][data.draw(KEYS)] = value
    else:
        msg = body["messages" if "messages" in body else "input"][0]
        content = msg["content"]
        if isinstance(content, list):
            content.append(
                {"type": data.draw(st.sampled_from(["text", "weird"])), "text": "x", "extra": value}
            )
        else:
            msg["content"] = [{"type": "text", "text": "x", "extra": value}]
    upstream.json(path, {"ok": True})
    r = httpx.post(
        gateway + path, content=orjson.dumps(body), headers={"content-type": "application/json"}
    )
    assert r.status_code in (400, 415), r.text
    assert all(not reveals(req.body, BLOCK) for req in upstream.requests)


@SLOW
@given(data=st.data(), tree=TREES, how=HOW, term=st.sampled_from([BLOCK, MASK]))
def test_a_term_anywhere_in_a_whole_answer_never_reaches_the_client(
    upstream: FakeUpstream, gateway: str, data: st.DataObject, tree: Any, how: str, term: str
) -> None:
    upstream.reset()
    answer = scripts.chat_json("ok")
    target = data.draw(st.sampled_from(["top", "choice", "message"]))
    value = insert(data, tree, wrap(term, how))
    key = data.draw(KEYS)
    if target == "top":
        answer[key] = value
    elif target == "choice":
        answer["choices"][0][key] = value
    else:
        answer["choices"][0]["message"][key] = value
    upstream.json("/v1/chat/completions", answer)
    r = httpx.post(
        gateway + "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert not reveals(r.content, term), r.text[:400]


def _cuts(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % (len(data) + 1) for p in points})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    return [*out, data[prev:]]


FIELDS = st.sampled_from(
    [
        ("delta", "content"),
        ("delta", "reasoning"),
        ("delta", "reasoning_content"),
        ("delta", "refusal"),
        ("delta", "x_vendor"),
        ("delta", "audio", "transcript"),
        ("delta", "tool_calls", 0, "function", "arguments"),
        ("extra", "note"),
    ]
)


def _put(delta_path: tuple, text: str) -> dict:
    choice: dict = {"index": 0, "delta": {}, "finish_reason": None}
    node: Any = choice
    for i, step in enumerate(delta_path[:-1]):
        nxt = delta_path[i + 1]
        if isinstance(step, int):
            continue
        child = [{"index": 0}] if isinstance(nxt, int) else {}
        node.setdefault(step, child)
        node = node[step][0] if isinstance(nxt, int) else node[step]
    node[delta_path[-1]] = text
    return choice


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    field=FIELDS,
    term=st.sampled_from([BLOCK, MASK]),
    escaped=st.booleans(),
    before=st.text(st.sampled_from(list("ab前后。😀€")), max_size=6),
    cuts_in_text=st.lists(st.integers(0, 40), max_size=4),
    byte_points=st.lists(st.integers(0, 5000), max_size=16),
)
def test_a_term_in_any_stream_field_split_anywhere_never_reaches_the_client(
    make_decisions: Any,
    field: tuple,
    term: str,
    escaped: bool,
    before: str,
    cuts_in_text: list[int],
    byte_points: list[int],
) -> None:
    text = before + term + "尾"
    if field[-1] == "arguments":
        text = json.dumps({"q": text}, ensure_ascii=escaped)
    points = sorted({p % (len(text) + 1) for p in cuts_in_text})
    pieces, prev = [], 0
    for p in [*points, len(text)]:
        pieces.append(text[prev:p])
        prev = p
    frames = [scripts.chat_chunk([_put(field, p)]) for p in pieces if p]
    frames += [
        scripts.chat_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        b"data: [DONE]\n\n",
    ]
    decisions = make_decisions()
    relay = StreamRelay(
        ADAPTERS["openai_chat"].stream({"stream": True}, Slots(decisions, None)), decisions
    )
    out = b"".join(relay.feed(c) for c in _cuts(b"".join(frames), byte_points))
    out += relay.close() + relay.final
    assert not reveals(out, term), out.decode()[-600:]
    if term == BLOCK:
        assert b"content_filter" in out and relay.cut


def _anthropic(kind: str, pieces: list[str]) -> list[bytes]:
    from .test_hostile_answers import anthropic_block

    block, dtype, field = {
        "text": ({"type": "text", "text": ""}, "text_delta", "text"),
        "thinking": ({"type": "thinking", "thinking": ""}, "thinking_delta", "thinking"),
        "tool": (
            {"type": "tool_use", "id": "t", "name": "f", "input": {}},
            "input_json_delta",
            "partial_json",
        ),
    }[kind]
    return anthropic_block(block, [{"type": dtype, field: p} for p in pieces])


def _responses(kind: str, pieces: list[str]) -> list[bytes]:
    from .test_hostile_answers import responses_events

    return responses_events(kind, pieces, {"content_index": 0})


def _ollama(field: str, pieces: list[str]) -> list[bytes]:
    lines = [
        orjson.dumps(
            {"model": "l", "message": {"role": "assistant", "content": "", field: p}, "done": False}
        )
        + b"\n"
        for p in pieces
    ]
    return lines + [b'{"model":"l","message":{"role":"assistant","content":""},"done":true}\n']


PROTOCOL_FIELDS = [
    ("anthropic_messages", lambda p: _anthropic("text", p), False),
    ("anthropic_messages", lambda p: _anthropic("thinking", p), False),
    ("anthropic_messages", lambda p: _anthropic("tool", p), True),
    ("openai_responses", lambda p: _responses("response.output_text.delta", p), False),
    ("openai_responses", lambda p: _responses("response.function_call_arguments.delta", p), True),
    ("openai_responses", lambda p: _responses("response.reasoning_summary_text.delta", p), False),
    ("openai_completions", lambda p: scripts.completions_stream(p), False),
    ("ollama_chat", lambda p: _ollama("content", p), False),
    ("ollama_chat", lambda p: _ollama("thinking", p), False),
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    case=st.sampled_from(PROTOCOL_FIELDS),
    term=st.sampled_from([BLOCK, MASK]),
    escaped=st.booleans(),
    before=st.text(st.sampled_from(list("ab前后。😀€")), max_size=6),
    cuts_in_text=st.lists(st.integers(0, 40), max_size=4),
    byte_points=st.lists(st.integers(0, 5000), max_size=16),
)
def test_a_term_in_any_protocol_stream_split_anywhere_never_reaches_the_client(
    make_decisions: Any,
    case: tuple,
    term: str,
    escaped: bool,
    before: str,
    cuts_in_text: list[int],
    byte_points: list[int],
) -> None:
    adapter, build, is_json = case
    text = before + term + "尾"
    if is_json:
        text = json.dumps({"q": text}, ensure_ascii=escaped)
    points = sorted({p % (len(text) + 1) for p in cuts_in_text})
    pieces, prev = [], 0
    for p in [*points, len(text)]:
        if text[prev:p]:
            pieces.append(text[prev:p])
        prev = p
    decisions = make_decisions()
    request = {"stream": True, "model": "m"}
    relay = StreamRelay(ADAPTERS[adapter].stream(request, Slots(decisions, None)), decisions)
    out = b"".join(relay.feed(c) for c in _cuts(b"".join(build(pieces)), byte_points))
    out += relay.close() + relay.final
    assert not reveals(out, term), out.decode()[-600:]
    if term == BLOCK:
        assert relay.cut
