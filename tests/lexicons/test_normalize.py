"""The normalisation tables and the two compact-view implementations."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lexicons.normalize import (
    BARRIER,
    NoiseCarry,
    compact_segment,
    compact_small,
    normalize_term,
    tables,
)

CHARS = [
    "a",
    "B",
    "ａ",
    "х",
    "α",
    "𝐛",
    "①",
    "苹",
    "蘋",
    " ",
    "。",
    "\n",
    "!",
    "\u200b",
    "\ufeff",
    "\u00ad",
    "\ufe0f",
    "😀",
    "\x00",
    "\x01",
    "\x02",
    "\u0301",
    "\U000e0041",
    "．",
    "1",
    "\u20e3",
    "\ufe0f",
]


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(CHARS) | st.integers(1, 40).map(lambda n: " " * n), max_size=40
    ).map("".join),
    run_len=st.integers(0, 40),
    base=st.integers(0, 1000),
)
def test_small_and_vectorised_compact_views_agree(text, run_len, base):
    c1 = NoiseCarry(run_len)
    c2 = NoiseCarry(run_len)
    codes, orig = compact_segment(text, base, c1)
    compact, orig2 = compact_small(text, base, c2)
    assert codes.tobytes().decode("utf-32-le") == compact
    assert orig.tolist() == orig2
    assert c1 == c2


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=30))
def test_fold_is_one_to_one_and_offsets_point_at_kept_characters(text):
    codes, orig = compact_segment(text, 0, NoiseCarry())
    t = tables()
    for code, pos in zip(codes.tolist(), orig.tolist(), strict=True):
        if code != BARRIER:
            assert t.cls[ord(text[pos])] == 0
            assert code == t.fold[ord(text[pos])]


def test_term_normalisation_examples():
    assert normalize_term("ＢａＮａＮａ") == "banana"
    assert normalize_term("蘋果手機") == "苹果手机"
    assert normalize_term("b\u200bа\ufe0fn") == "ban"
    assert normalize_term("❶➀⑴⒈₁¹") == "111111"
    assert normalize_term("一二三") == "一二三"  # CJK numerals stay (matcher.md §0.6)
    assert normalize_term("🍎🍎") == ""
