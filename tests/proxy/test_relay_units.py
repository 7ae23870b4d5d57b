"""The streaming relay and framing on their own, against the real lexicon and policy."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.proxy.framing import NDJSONParser, SSEParser
from service.proxy.protocols import ADAPTERS
from service.proxy.slots import Slots
from service.proxy.stream import StreamRelay
from tests.support.lexicon import BLOCK, FLAG, MASK

from . import scripts

ALPHABET = st.sampled_from(list("ab 前后。") + [MASK, BLOCK[:3], FLAG, MASK[:2], "€😀"])


def cuts(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % (len(data) + 1) for p in points})
    out, prev = [], 0
    for p in points:
        out.append(data[prev:p])
        prev = p
    return [*out, data[prev:]]


def relay(make_decisions: Any, adapter: str, request: dict, **kw: Any) -> StreamRelay:
    decisions = make_decisions(**kw)
    slots = Slots(decisions, None)
    return StreamRelay(ADAPTERS[adapter].stream(request, slots), decisions)


def run(r: StreamRelay, chunks: list[bytes]) -> bytes:
    out = b"".join(r.feed(c) for c in chunks)
    return out + r.close() + r.final


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pieces=st.lists(st.lists(ALPHABET, max_size=4).map("".join), min_size=1, max_size=8),
    points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_chat_stream_equals_whole_text_screen_for_any_byte_split(
    make_decisions: Any, pieces: list[str], points: list[int]
) -> None:
    """Whatever the delta and byte splits, the client sees exactly the whole-text result."""
    full = "".join(pieces)
    expected = make_decisions().text(full)
    r = relay(make_decisions, "openai_chat", {"stream": True})
    out = run(r, cuts(b"".join(scripts.chat_stream(pieces)), points))
    frames = [f for f in out.split(b"\n\n") if f]
    datas = [orjson.loads(f[6:]) for f in frames if f != b"data: [DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in datas if c["choices"])
    assert all(c["choices"][0]["delta"] or c["choices"][0]["finish_reason"] for c in datas)
    if expected is None:
        lex = make_decisions().lexicon
        masked = lex.mask(full, [m for m in lex.scan(full) if m.action in ("mask", "block")])
        first_block = min(m.start for m in lex.scan(full) if m.action == "block")
        assert masked.startswith(text) and len(text) <= first_block
        assert datas[-1]["choices"][0]["finish_reason"] == "content_filter"
        assert r.cut
    else:
        assert text == expected
        assert frames[-1] == b"data: [DONE]"


def test_scanner_failure_fails_closed_by_default_and_open_when_configured(
    make_decisions: Any,
) -> None:
    real = make_decisions().lexicon

    class Broken:
        version = real.version

        def scan(self, text: str) -> list:
            raise RuntimeError("scanner exploded")

        def stream(self, **kw: Any) -> Any:
            raise RuntimeError("scanner exploded")

    closed = make_decisions(lexicon=Broken())
    assert closed.text("hello") is None and closed.blocked and closed.failed
    opened = make_decisions(lexicon=Broken(), fail_open=True)
    assert opened.text("hello") == "hello" and not opened.blocked and opened.failed


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
        assert not any(f.bad for f in frames)


SSE_PIECES = st.sampled_from(
    [b"data: ", b"data:", b"data", b"event: x", b"id: 1", b": ping", b"{}", b"[DONE]", b" ", b"\n"]
    + [b"\n\n", b"\r\n", b"\xe4\xb8\xad", b"hello there", b"x"]
)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(SSE_PIECES, max_size=24),
    points=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
@example(pieces=[b"data: ", b"{}", b"\n", b"event: x", b"\n\n"], points=[])
@example(
    pieces=[b"data: ", b"x", b"\n", b"hello there", b"\n\n", b"data:", b"x", b"\n\n"], points=[]
)
def test_sse_parser_frames_are_their_blocks_parsed_for_any_split(
    pieces: list[bytes], points: list[int]
) -> None:
    """The parser's inline one-line-event path gives what ``_parse_sse_block`` gives."""
    from service.proxy.framing import _parse_sse_block

    data = b"".join(pieces)
    parser = SSEParser()
    frames = [f for chunk in cuts(data, points) for f in parser.feed(chunk)] + parser.close()
    assert b"".join(f.raw for f in frames) == data
    for frame in frames:
        block = frame.raw
        for sep in (b"\r\n\r\n", b"\n\n", b"\r\r"):
            if block.endswith(sep):
                block = block[: -len(sep)]
                break
        if not block.strip() and frame.data is None:
            continue  # a trailing blank rest
        assert (frame.event, frame.data, frame.bad) == _parse_sse_block(block)


def test_sse_parser_marks_lines_it_does_not_understand() -> None:
    frames = SSEParser().feed(b"data: {}\nhello there\n\nid: a b\ndata: {}\n\n")
    assert [f.bad for f in frames] == [True, True]


def test_ndjson_parser_trailing_line_without_newline() -> None:
    parser = NDJSONParser()
    frames = parser.feed(b'{"a":1}\n{"b"') + parser.feed(b":2}") + parser.close()
    assert [orjson.loads(f.data) for f in frames] == [{"a": 1}, {"b": 2}]


def test_unknown_events_are_screened_and_comments_become_pings(make_decisions: Any) -> None:
    r = relay(make_decisions, "anthropic_messages", {})
    weird = (
        f'event: future_event\ndata: {{"type":"future_event","x":"{MASK}"}}\n\n: {BLOCK}\n\n'
    ).encode()
    out = r.feed(weird)
    assert MASK.encode() not in out and BLOCK.encode() not in out
    assert b'"x":"****"' in out
    assert r.feed(f": {BLOCK}\n\n".encode()) == b": ping\n\n"  # a keep-alive, not its text


def test_relayed_headers_are_plain_tokens_the_lexicon_does_not_match(tmp_path: Any) -> None:
    from multidict import CIMultiDict

    from lexicons import load_lexicon
    from service.proxy.headers import relayed

    (tmp_path / "a1.terrorism_extremism.txt").write_text(
        f"{BLOCK}\taction=block\nbadword\taction=block\n", encoding="utf-8"
    )
    lexicon = load_lexicon([tmp_path])

    class Answer:
        headers = CIMultiDict(
            [
                ("x-ratelimit-limit-requests", "10000"),
                ("x-upstream-note", "the badword here"),  # an ASCII term
                ("openai-version", "2020-10-01"),
                ("openai-note", "b%61dword"),  # an escape could spell anything
                ("anthropic-note", BLOCK.encode().decode("latin-1")),  # UTF-8 bytes
                ("x-request-id", "req_1"),
                ("x-other", "not relayed"),
            ]
        )

    got = relayed(Answer(), lexicon)
    assert got == [
        (b"x-ratelimit-limit-requests", b"10000"),
        (b"openai-version", b"2020-10-01"),
        (b"x-upstream-request-id", b"req_1"),
    ]
    # without a lexicon only the shape is checked
    assert (b"x-upstream-note", b"the badword here") in relayed(Answer())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.lists(st.sampled_from([*"ab 前后。€😀/", BLOCK]), max_size=12).map("".join),
    levels=st.integers(0, 12),
    ascii_only=st.booleans(),
)
def test_unescape_all_reads_json_nested_in_strings(
    text: str, levels: int, ascii_only: bool
) -> None:
    """Checked against the stdlib: a text JSON-encoded ``levels`` times over reads as the text
    between the quotes of every level."""
    from service.proxy.jsontext import unescape_all

    encoded = text
    for _ in range(levels):
        encoded = json.dumps(encoded, ensure_ascii=ascii_only)
    decoded, complete = unescape_all(encoded)
    assert complete
    assert decoded == '"' * levels + text + '"' * levels


@settings(max_examples=300)
@given(
    text=st.lists(st.sampled_from([*"ab 7\n前后配方請吧€é", BLOCK]), max_size=12).map("".join),
    codec=st.sampled_from(["utf-8", "utf-16", "utf-32", "gb18030", "big5"]),
    declare=st.booleans(),
)
def test_decode_text_never_misreads(text: str, codec: str, declare: bool) -> None:
    """Checked against the stdlib codecs: where the encoding can be known (UTF-8, a byte order
    mark, a declared charset) the text read back is the text written, or nothing (refused as
    not screenable); undeclared GB18030 is read right unless its bytes are also UTF-8."""
    from service.proxy.payloads import decode_text

    try:
        data = text.encode(codec)
    except UnicodeEncodeError:
        return  # not in Big5
    got = decode_text(data, codec if declare else None)
    if codec in ("utf-8", "utf-16", "utf-32"):
        assert got is not None and got[0] == text
    elif declare:
        assert got is None or got[0] == text
    elif codec == "gb18030" and decode_text(data, "utf-8") is None:
        assert got is not None and got[0] == text
