"""The streaming screen and framing on their own, against the real lexicon engine."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexicons import load_lexicon
from service.proxy.framing import NDJSONParser, SSEParser
from service.proxy.protocols import ADAPTERS
from service.proxy.screen import Screen

from . import scripts
from .conftest import BLOCK, FLAG, MASK


@pytest.fixture(scope="module")
def lex(lexdir: Path):  # noqa: ANN201
    return load_lexicon([lexdir])


def _action(m) -> str:  # noqa: ANN001
    return m.action


ALPHABET = st.sampled_from(list("ab 前后。") + [MASK, BLOCK[:3], FLAG, MASK[:2], "€😀"])


def _cuts(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % (len(data) + 1) for p in points})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    return [*out, data[prev:]]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pieces=st.lists(st.lists(ALPHABET, max_size=4).map("".join), min_size=1, max_size=8),
    points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_chat_stream_equals_whole_text_screen_for_any_byte_split(lex, pieces, points) -> None:  # noqa: ANN001
    """Whatever the delta and byte splits, the client sees exactly the whole-text result."""
    full = "".join(pieces)
    whole = Screen(lex, _action)
    expected = whole.text(full)
    screen = Screen(lex, _action)
    translator = ADAPTERS["/v1/chat/completions"].translator({"stream": True}, screen)
    out = b""
    for chunk in _cuts(b"".join(scripts.chat_stream(pieces)), points):
        out += translator.feed(chunk)
    out += translator.close()
    frames = [f for f in out.split(b"\n\n") if f]
    datas = [orjson.loads(f[6:]) for f in frames if f != b"data: [DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in datas if c["choices"])
    if expected is None:
        # what was sent is a prefix of the masked text and stops before the blocked term
        masked = lex.mask(full, [m for m in lex.scan(full) if m.action in ("mask", "block")])
        first_block = min(m.start for m in lex.scan(full) if m.action == "block")
        assert masked.startswith(text) and len(text) <= first_block
        assert datas[-1]["choices"][0]["finish_reason"] == "content_filter"
    else:
        assert text == expected
        assert frames[-1] == b"data: [DONE]"


def test_scanner_failure_fails_closed_by_default_and_open_when_configured(lex) -> None:  # noqa: ANN001
    class Broken:
        def __getattr__(self, name):  # noqa: ANN001, ANN204
            return getattr(lex, name)

        def stream(self, **kw):  # noqa: ANN003, ANN201
            class S:
                def feed(self, text: str):  # noqa: ANN201
                    raise RuntimeError("scanner exploded")

            return S()

    closed = Screen(Broken(), _action)
    assert closed.feed("k", "hello") is None and closed.blocked and closed.failed
    opened = Screen(Broken(), _action, fail_open=True)
    assert opened.feed("k", "hello") == "hello" and not opened.blocked and opened.failed


def test_sse_parser_any_split_keeps_raw_bytes() -> None:
    data = b': ping\n\nevent: x\ndata: {"a":"\xe4\xb8\xad"}\n\ndata: [DONE]\r\n\r\n'
    for size in range(1, len(data)):
        parser = SSEParser()
        frames = []
        for i in range(0, len(data), size):
            frames += parser.feed(data[i : i + size])
        frames += parser.close()
        assert b"".join(f.raw for f in frames) == data
        assert [f.event for f in frames] == [None, "x", None]
        assert orjson.loads(frames[1].data) == {"a": "中"}


def test_ndjson_parser_trailing_line_without_newline() -> None:
    parser = NDJSONParser()
    frames = parser.feed(b'{"a":1}\n{"b"') + parser.feed(b":2}") + parser.close()
    assert [orjson.loads(f.data) for f in frames] == [{"a": 1}, {"b": 2}]


def test_unknown_events_and_pings_pass_byte_exact(lex) -> None:  # noqa: ANN001
    screen = Screen(lex, _action)
    translator = ADAPTERS["/v1/messages"].translator({}, screen)
    weird = b'event: future_event\ndata: {"type":"future_event","x":1}\n\n: comment\n\n'
    assert translator.feed(weird) == weird
