"""Segment boundaries: nothing lost or reordered whatever the chunking, bounded length."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.classifier import Segmenter, split_text

texts = st.text(
    alphabet=st.sampled_from(list("天气很好。我们出去吧！真的吗？好；然后…\n,. !?ab 1.5x")),
    max_size=400,
)


def segments_of(text: str, cuts: list[int], max_chars: int = 30, min_chars: int = 4) -> list[str]:
    seg = Segmenter(max_chars=max_chars, min_chars=min_chars)
    out: list[str] = []
    last = 0
    for cut in sorted(c % (len(text) + 1) for c in cuts):
        out += seg.feed(text[last:cut])
        last = max(last, cut)
    out += seg.feed(text[last:])
    rest = seg.flush()
    return out + ([rest] if rest else [])


@settings(max_examples=300)
@given(text=texts, cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=12))
def test_segments_rebuild_the_text_for_any_chunking(text: str, cuts: list[int]) -> None:
    parts = segments_of(text, cuts)
    assert "".join(parts) == text
    assert all(len(p) <= 30 for p in parts)
    assert all(p for p in parts)


@settings(max_examples=200)
@given(text=texts, cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=12))
def test_segments_do_not_depend_on_the_chunking(text: str, cuts: list[int]) -> None:
    assert segments_of(text, cuts) == segments_of(text, [])


def test_sentence_ends() -> None:
    seg = Segmenter(max_chars=100, min_chars=1)
    assert seg.feed("第一句。第二句！") == ["第一句。", "第二句！"]
    assert seg.feed("pi is 3.14 and") == []  # no cut inside a number
    assert seg.feed(" more. Next") == ["pi is 3.14 and more. "]
    assert seg.feed(" line\nx") == ["Next line\n"]
    assert seg.flush() == "x"


def test_an_ascii_end_waits_for_the_next_character() -> None:
    seg = Segmenter(max_chars=100, min_chars=1)
    assert seg.feed("Done.") == []
    assert seg.feed(" Go") == ["Done. "]


def test_short_sentences_join_the_next_and_long_text_is_cut() -> None:
    seg = Segmenter(max_chars=12, min_chars=5)
    assert seg.feed("好。是的，我们走吧。对。") == ["好。是的，我们走吧。"]
    assert seg.flush() == "对。"
    seg = Segmenter(max_chars=8, min_chars=1)
    assert seg.feed("一二三四五六七八九十") == ["一二三四五六七八"]


@given(text=texts, size=st.integers(min_value=1, max_value=60))
def test_split_text_pieces(text: str, size: int) -> None:
    pieces = split_text(text, size)
    assert "".join(pieces) == text
    assert all(len(p) <= size for p in pieces) or pieces == [text]
