"""Streaming == one-shot for any chunking, and both == a naive reference implementation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexicons import load_lexicon
from lexicons.normalize import MAX_RUN, normalize_term, tables

from .helpers import lexicon_from, stream_all

SAMPLE = load_lexicon()
SAMPLE_PIECES = [t for t, *_ in SAMPLE.iter_terms()] + [
    "大麻哈鱼",
    "白粉笔",
    "卖白粉",
    "冰 毒",
    "買賣槍支",
    "ＨＥＲＯＩＮ",
    "method",
    "meth.",
    " ",
    "，",
    "。",
    "\n",
    "\u200b",
    "🍎",
    "😀",
    "𝐡",
    "的",
    "人",
    "a",
    "Z",
    "1",
    "\ufe0f",
]


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _check_equivalence(lex, text: str, cuts: list[int], mask=None) -> None:
    full = lex.scan(text)
    predicate = mask or (lambda m: m.action in ("mask", "block"))
    expected_text = lex.mask(text, [m for m in full if predicate(m)])
    released, matches = stream_all(lex, _split(text, cuts), mask=mask)
    assert matches == full
    assert released == expected_text


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(SAMPLE_PIECES), max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_any_chunking_equals_one_shot_on_sample_lexicon(pieces, cuts):
    _check_equivalence(SAMPLE, "".join(pieces), cuts)


@settings(max_examples=100, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(SAMPLE_PIECES), max_size=15),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_custom_mask_predicate_streams_identically(pieces, cuts):
    _check_equivalence(SAMPLE, "".join(pieces), cuts, mask=lambda m: m.action == "flag")


def test_one_character_chunks_and_release_is_prompt():
    text = "价格大麻哈鱼很好吃，卖冰毒的人" * 3
    _check_equivalence(SAMPLE, text, list(range(len(text))))
    scanner = SAMPLE.stream()
    released = "".join(scanner.feed(ch).text for ch in "你好，世界。")
    assert released == "你好，世界。"  # nothing that cannot start a term is held back
    assert scanner.held == 0


def test_split_surrogate_free_astral_and_long_stream():
    scanner = SAMPLE.stream()
    out = []
    for _ in range(2000):
        out.append(scanner.feed("普通文本，没有问题。😀𝐡 "))
    out.append(scanner.feed("冰"))
    out.append(scanner.feed("毒"))
    out.append(scanner.flush())
    assert [m.term for o in out for m in o.matches] == ["冰毒"]
    assert len(scanner._core.text) < 10_000  # the context buffer stays bounded


def test_feed_after_flush_is_an_error():
    scanner = SAMPLE.stream()
    scanner.flush()
    try:
        scanner.feed("x")
    except ValueError:
        pass
    else:
        raise AssertionError("feed after flush accepted")


# -- naive reference ---------------------------------------------------------------------------

ALPHABET = [
    "a",
    "b",
    "A",
    "ａ",
    "х",
    "苹",
    "果",
    "蘋",
    "手",
    "机",
    " ",
    "。",
    "\n",
    "\u200b",
    "!",
    "😀",
    "x",
]
TERM_CHARS = ["a", "b", "x", "苹", "果", "手", "机"]


# the classes of the noise characters of ALPHABET, written out by hand (gaps.py decides them
# from Unicode data): the separators/punctuation rules restated independently
PUNCT = {"。", "\n", "!"}
INVISIBLE = {"\u200b"}
WINDOW = 8


def _jieba_cuts(window: str) -> set[int]:
    import jieba

    cuts, pos = {0}, 0
    for token in jieba.cut(window, HMM=False):
        pos += len(token)
        cuts.add(pos)
    return cuts


def naive_scan(deny: list[tuple[str, str]], allow: list[str], text: str):
    """Independent reference: char-by-char compact view, str.find for every term, then the
    separator/punctuation rules of docs/lexicons.md."""
    t = tables()
    comp: list[tuple[str, int]] = []
    run_len = 0
    for i, ch in enumerate(text):
        if t.cls[ord(ch)]:
            run_len += 1
            continue
        if run_len > MAX_RUN:
            comp.append(("\x01", i))
        run_len = 0
        comp.append((chr(int(t.fold[ord(ch)])), i))
    view = "".join(c for c, _ in comp)

    def occurrences(key: str):
        pos = view.find(key)
        while pos != -1:
            yield pos, pos + len(key) - 1
            pos = view.find(key, pos + 1)

    allowed = [occ for key in {normalize_term(a) for a in allow} for occ in occurrences(key)]

    def latin(ch: str) -> bool:
        f = chr(int(t.fold[ord(ch)]))
        return f.isascii() and f.isalnum()

    def squeeze(part: str) -> str:  # folded, noise removed
        return "".join(chr(int(t.fold[ord(c)])) for c in part if not t.cls[ord(c)])

    def on_boundaries(start: int, end: int, key: str) -> bool:
        """The joined span, read without noise, on jieba boundaries and not only one-character
        words (docs/lexicons.md, rule 4)."""
        ls, le = latin(key[0]), latin(key[-1])
        if ls and start > 0 and latin(text[start - 1]):
            return False
        if le and end < len(text) and latin(text[end]):
            return False
        ws, we = max(0, start - WINDOW), min(len(text), end + WINDOW)
        before, inside = squeeze(text[ws:start]), squeeze(text[start:end])
        window = before + inside + squeeze(text[end:we])
        cuts = _jieba_cuts(window)
        a, b = len(before), len(before) + len(inside)
        if a not in cuts or b not in cuts:
            return False
        tokens, pos = [], 0
        import jieba

        for tok in jieba.cut(window, HMM=False):
            if a <= pos < b:
                tokens.append(tok)
            pos += len(tok)
        return len(inside) > 2 or any(len(tok) > 1 for tok in tokens)

    def joins(cs: int, ce: int, key: str) -> bool:
        gaps = []  # per neighbouring pair: the noise between them
        for j in range(cs, ce):
            gaps.append(text[comp[j][1] + 1 : comp[j + 1][1]])
        visible = [g for g in gaps if any(c not in INVISIBLE for c in g)]
        if not visible:
            return True
        for g in visible:
            units = sum(1 for c in g if c not in INVISIBLE)
            if units > 3:
                return False
        punct = any(c in PUNCT for g in visible for c in g)
        consistent = all(gaps) and len(gaps) >= 2
        start, end = comp[cs][1], comp[ce][1] + 1
        if key.isascii() and key.isalnum():
            return consistent and not punct
        if punct:
            return consistent and on_boundaries(start, end, key)
        return consistent or on_boundaries(start, end, key)

    out = []
    for term, category in deny:
        key = normalize_term(term)
        whole_word = key.isascii() and key.isalnum()
        for cs, ce in occurrences(key):
            if any(a <= cs and b >= ce for a, b in allowed):
                continue
            start, end = comp[cs][1], comp[ce][1] + 1
            if end - start > len(key) and not joins(cs, ce, key):
                continue
            if whole_word and (
                (start > 0 and latin(text[start - 1])) or (end < len(text) and latin(text[end]))
            ):
                continue
            out.append((start, end, category, term))
    return sorted(out)


terms_st = st.lists(
    st.text(alphabet=st.sampled_from(TERM_CHARS), min_size=1, max_size=4), min_size=1, max_size=6
)
allow_st = st.lists(
    st.text(alphabet=st.sampled_from(TERM_CHARS), min_size=2, max_size=5), max_size=3
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    deny=terms_st,
    deny2=terms_st,
    allow=allow_st,
    text=st.text(alphabet=st.sampled_from(ALPHABET), max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8),
)
def test_matches_naive_reference(deny, deny2, allow, text, cuts):
    deny = list(dict.fromkeys(deny))
    deny2 = list(dict.fromkeys(deny2))
    with tempfile.TemporaryDirectory() as tmp:
        files = {"custom.txt": "\n".join(deny) + "\n", "a2.other.txt": "\n".join(deny2) + "\n"}
        if allow:
            files["allow.txt"] = "\n".join(allow) + "\n"
        lex = lexicon_from(Path(tmp), files)
    keys_seen: dict[tuple[str, str], str] = {}
    pairs = []
    for cat, terms in (("custom", deny), ("a2.other", deny2)):
        for term in terms:
            if (normalize_term(term), cat) not in keys_seen:  # the loader keeps the first
                keys_seen[(normalize_term(term), cat)] = term
                pairs.append((term, cat))
    got = [(m.start, m.end, m.category, m.term) for m in lex.scan(text)]
    assert got == naive_scan(pairs, allow, text)
    _check_equivalence(lex, text, cuts)


# -- differential: the one-shot engine (daachorse) against the streaming core (pyahocorasick) --


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.sampled_from(SAMPLE_PIECES), max_size=30))
def test_fast_engine_equals_streaming_core(pieces):
    from lexicons.scanner import scan_text

    text = "".join(pieces)
    pytest.importorskip("daachorse")
    compiled = SAMPLE._c
    assert scan_text(compiled, text, engine="fast") == scan_text(compiled, text, engine="stream")


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(SAMPLE_PIECES), max_size=30))
def test_short_text_path_equals_vectorised_path(pieces):
    """One-shot scans of short texts take the streaming core (``_scan_short``): the same
    matches as the vectorised daachorse path, and ``scan`` picks it by length."""
    from lexicons import scanner as scanner_module

    pytest.importorskip("daachorse")
    text = "".join(pieces)
    compiled = SAMPLE._c
    fast = scanner_module._scan_fast(compiled, text)
    assert scanner_module._scan_short(compiled, text) == fast
    assert scanner_module.scan_text(compiled, text) == fast


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.sampled_from(SAMPLE_PIECES), max_size=40))
def test_column_wise_matches_equal_per_hit_decisions(pieces):
    """The vectorised path builds the matches of hits that need no decision column-wise (or,
    for a few hits, one at a time); sending every hit through the per-hit decision instead
    gives the same matches."""
    from lexicons import scanner as scanner_module

    pytest.importorskip("daachorse")
    text = "".join(pieces)
    compiled = SAMPLE._c
    fast = _scan_fast_both_ways(compiled, text)
    assert scanner_module._scan_fast(compiled, text, general=True) == fast


def _scan_fast_both_ways(compiled, text: str):
    """``_scan_fast`` with the matches built column-wise and one hit at a time (a few hits
    take the latter): both must agree."""
    from lexicons import scanner as scanner_module

    saved = scanner_module.COLUMN_WISE_MIN
    try:
        scanner_module.COLUMN_WISE_MIN = 0
        column_wise = scanner_module._scan_fast(compiled, text)
        scanner_module.COLUMN_WISE_MIN = 1 << 30
        per_hit = scanner_module._scan_fast(compiled, text)
    finally:
        scanner_module.COLUMN_WISE_MIN = saved
    assert column_wise == per_hit
    return column_wise


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    deny=terms_st,
    deny2=terms_st,
    allow=allow_st,
    text=st.text(alphabet=st.sampled_from(ALPHABET), max_size=80),
)
def test_column_wise_matches_equal_per_hit_decisions_any_lexicon(deny, deny2, allow, text):
    """The same on generated lexicons: one key in two categories (several matches per hit),
    allow-list phrases, Latin terms (word mode), noise inside spans."""
    from lexicons import scanner as scanner_module

    pytest.importorskip("daachorse")
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "custom.txt": "\n".join(dict.fromkeys(deny)) + "\n",
            "a2.other.txt": "\n".join(dict.fromkeys(deny2)) + "\n",
        }
        if allow:
            files["allow.txt"] = "\n".join(allow) + "\n"
        lex = lexicon_from(Path(tmp), files)
    fast = _scan_fast_both_ways(lex._c, text)
    assert scanner_module._scan_fast(lex._c, text, general=True) == fast
    assert fast == lex.scan(text)


@settings(max_examples=100, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(SAMPLE_PIECES), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=8),
)
def test_vectorised_chunk_path_streams_identically(pieces, cuts):
    """Large chunks (files, long deltas) take the numpy path: force it for every chunk."""
    from lexicons import scanner as scanner_module

    saved = scanner_module.SMALL_SEGMENT
    scanner_module.SMALL_SEGMENT = -1
    try:
        _check_equivalence(SAMPLE, "".join(pieces), cuts)
    finally:
        scanner_module.SMALL_SEGMENT = saved


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(
        st.sampled_from(
            [*"冰毒大麻哈鱼卖人的，。 \u200b", "1", "\ufe0f", "\u20e3", "😀"]
            + [f"冰{z * k}毒" for z in " \u200b" for k in (MAX_RUN - 1, MAX_RUN, MAX_RUN + 1)]
            + ["\u200b" * MAX_RUN]
        ),
        max_size=30,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=20),
)
def test_noise_runs_and_keycaps_cut_anywhere(pieces, cuts):
    """Chunks cut inside terms, inside noise runs just shorter and longer than ``MAX_RUN``
    (a barrier or not: zero-width runs join terms up to it), between a digit and its keycap
    marks: the one-shot result, and that of the vectorised path (short one-shot texts take
    the streaming core)."""
    from lexicons import scanner as scanner_module

    text = "".join(pieces)
    _check_equivalence(SAMPLE, text, cuts)
    if SAMPLE._c.fast is not None:
        assert SAMPLE.scan(text) == scanner_module._scan_fast(SAMPLE._c, text)


def test_hold_back_is_only_a_possible_term_start():
    scanner = SAMPLE.stream()
    assert scanner.feed("卖冰").text == "卖"  # 冰 may start 冰毒
    assert scanner.held == 1
    out = scanner.feed("毒")  # a complete term that no longer term extends: released at once
    assert out.text == "**" and [m.term for m in out.matches] == ["冰毒"]
    assert scanner.feed("的人").text == "的"  # 人 may start 人肉搜索
    assert scanner.feed("大麻").text == "人"  # 大麻 may grow into the allowed 大麻哈鱼
    out = scanner.feed("哈鱼")
    assert out.text == "大麻哈鱼" and out.matches == []
    assert scanner.flush().text == ""


@settings(max_examples=200, deadline=None)
@given(
    hits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=50),
            st.integers(min_value=1, max_value=6),
            st.integers(min_value=0, max_value=4),
        ),
        max_size=40,
    )
)
def test_span_order_equals_lexsort(hits):
    """The one-key sort of the vectorised path orders hits as ``np.lexsort`` of (start, end,
    rank) does, ties included (both stable)."""
    import numpy as np

    from lexicons import scanner as scanner_module

    starts = np.array([s for s, _, _ in hits], dtype=np.int64)
    ends = starts + np.array([n for _, n, _ in hits], dtype=np.int64)
    rank = np.array([r for _, _, r in hits], dtype=np.int64)
    expected = np.lexsort((rank, ends, starts)).tolist()
    saved = scanner_module.ONE_KEY_SORT_MIN
    scanner_module.ONE_KEY_SORT_MIN = 0
    try:
        assert scanner_module._span_order(starts, ends, rank, 60, 5).tolist() == expected
        assert scanner_module._span_order(starts, ends, rank, 1 << 60, 5).tolist() == expected
    finally:
        scanner_module.ONE_KEY_SORT_MIN = saved
    assert scanner_module._span_order(starts, ends, rank, 60, 5).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.sampled_from([*SAMPLE_PIECES, "𠀀", "冰𠀀毒"]), max_size=40),
    block=st.integers(min_value=1, max_value=12),
)
def test_search_in_blocks_equals_one_search(pieces, block):
    """Long one-shot texts are searched in blocks, each preceded by the last max_key_len - 1
    characters before it: the same hits in the same order as one search over the whole
    compact view."""
    from lexicons import scanner as scanner_module
    from lexicons.normalize import NoiseCarry, compact_segment

    pytest.importorskip("daachorse")
    compiled = SAMPLE._c
    codes, _ = compact_segment("".join(pieces), 0, NoiseCarry())
    whole = compiled.fast.automaton.find_overlapping(codes.tobytes().decode("utf-32-le"))
    saved = scanner_module.SEARCH_BLOCK
    scanner_module.SEARCH_BLOCK = block
    try:
        got = scanner_module.compact_hits(compiled, codes)
    finally:
        scanner_module.SEARCH_BLOCK = saved
    assert got.tolist() == [list(h) for h in whole]


def test_astral_characters_in_terms_and_text(tmp_path):
    """A term with a character outside the BMP (CJK extension B) is found by every engine,
    the one-shot search in blocks included."""
    from lexicons.scanner import scan_text

    lex = lexicon_from(tmp_path, {"custom.txt": "𠀀冰\n冰毒\n"})
    text = ("卖𠀀冰毒的人，" * 4000) + "冰 毒"
    full = lex.scan(text)
    assert [m.term for m in full[:2]] == ["𠀀冰", "冰毒"]
    assert full == scan_text(lex._c, text, engine="stream")
    assert lex.scan(text.replace("𠀀", "")) == scan_text(
        lex._c, text.replace("𠀀", ""), engine="stream"
    )
