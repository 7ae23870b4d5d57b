"""Piece-wise one-shot scanning (lexicons.bulk) == one scan of the whole text."""

from __future__ import annotations

import io
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexicons import load_lexicon
from lexicons.bulk import scan_pieces

SAMPLE = load_lexicon()
# Short pieces so that terms, noise-split terms, allow-list phrases (大麻哈鱼 around 大麻) and
# match=word context (白粉 / 白粉笔) fall on piece boundaries.
PIECES = [t for t, *_ in SAMPLE.iter_terms() if len(t) <= 6] + [
    "大麻哈鱼",
    "白粉笔",
    "卖白粉",
    "冰 毒",
    "買賣槍支",
    "method",
    " ",
    "，",
    "。",
    "\n",
    "\u200b",
    "🍎",
    "的",
    "人",
    "a",
]
# The longest span these pieces can make is far below 64 characters: an overlap of 64
# exercises the piece logic with texts of a few hundred characters.
OVERLAP = 64


def _absolute(lex, data: bytes, piece_bytes: int, overlap: int = OVERLAP):
    out = []
    for base, matches in scan_pieces(
        lex, io.BytesIO(data), piece_bytes=piece_bytes, overlap=overlap
    ):
        out += [replace(m, start=m.start + base, end=m.end + base) for m in matches]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.sampled_from(PIECES), min_size=0, max_size=400),
    piece_bytes=st.integers(min_value=1, max_value=300),
)
def test_pieces_equal_one_scan(parts, piece_bytes):
    text = "".join(parts)
    assert _absolute(SAMPLE, text.encode(), piece_bytes) == SAMPLE.scan(text)


def test_bom_is_not_text_and_offsets_are_absolute():
    text = "普通的文字。" * 300 + "出售冰 毒" + "普通的文字。" * 300
    got = _absolute(SAMPLE, b"\xef\xbb\xbf" + text.encode(), piece_bytes=100)
    assert [(m.term, m.start, m.end) for m in got] == [("冰毒", 1802, 1805)]
    assert text[1802:1805] == "冰 毒"


def test_empty_and_invalid_utf8():
    assert _absolute(SAMPLE, b"", 10) == []
    try:
        _absolute(SAMPLE, "冰毒".encode() + b"\xff", 2)
    except UnicodeDecodeError:
        pass
    else:
        raise AssertionError("invalid UTF-8 must raise")
