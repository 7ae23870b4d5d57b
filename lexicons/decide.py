"""From a raw hit to a match: the rules that need the original text around the hit.

A raw hit is a key found in the compact view (or a derived view) with its original span
``[os_, oe)``. Whether it is a match depends on the entry: ``match=word`` boundaries, the
separator/punctuation rules when the span holds noise (gaps.py), and for the opt-in folds
the spelling actually found (full pinyin, mixed, homophone, repeated characters). Both
engines (the streaming core and the vectorised one-shot scan) call :func:`decide`; the
streaming core calls it once ``WINDOW`` characters after the hit are known (or the text
ended), so both see the same context.
"""

from __future__ import annotations

from functools import lru_cache

from .compiled import Entry
from .folds import REPEAT_RUN
from .gaps import analyse_span, join_allowed
from .normalize import fold, normalize_term, tables
from .wordseg import WINDOW, is_latin_alnum, log10_frequency, on_word_boundaries, tokens_between

__all__ = ["PHONETIC", "decide", "word_ok"]

PHONETIC = frozenset({"pinyin", "mixed", "homophone"})


def word_ok(entry: Entry, text: str, tb: int, total: int, os_: int, oe: int) -> bool:
    """``match=word`` check of the hit ``[os_, oe)``; ``text`` starts at offset ``tb`` and holds
    at least ``WINDOW`` characters of context each side (clipped to the text)."""
    if entry.latin_start and os_ > 0 and is_latin_alnum(text[os_ - 1 - tb]):
        return False
    if entry.latin_end and oe < total and is_latin_alnum(text[oe - tb]):
        return False
    if entry.latin_start and entry.latin_end:
        return True
    ws = max(0, os_ - WINDOW)
    window = text[ws - tb : min(total, oe + WINDOW) - tb]
    return on_word_boundaries(window, os_ - ws, oe - ws, not entry.latin_start, not entry.latin_end)


@lru_cache(maxsize=4096)
def _term_key(term: str) -> str:
    return normalize_term(term)


def _latin_edges_ok(compact: str, text: str, tb: int, total: int, os_: int, oe: int) -> bool:
    """Pinyin written in Latin letters is a whole word: no Latin letter or digit touches it."""
    if "a" <= compact[0] <= "z" and os_ > 0 and is_latin_alnum(text[os_ - 1 - tb]):
        return False
    return not ("a" <= compact[-1] <= "z" and oe < total and is_latin_alnum(text[oe - tb]))


def _joined_reads_as_words(entry: Entry, text: str, tb: int, total: int, os_: int, oe: int) -> bool:
    """Whether the span, read with the noise around and inside it removed, starts and ends on
    jieba word boundaries and is not only single characters that jieba reads as words of
    their own: ``卖身 穿`` reads 卖/身穿 (a match of 身穿), ``很开心 明天`` reads 很/开心/明天
    (no match of 心明天: it starts inside 开心), ``看着书 会跟着`` reads 书/会/跟着 (no match of
    书会: two words of one character each)."""
    if entry.latin_start and os_ > 0 and is_latin_alnum(text[os_ - 1 - tb]):
        return False
    if entry.latin_end and oe < total and is_latin_alnum(text[oe - tb]):
        return False
    ws = max(0, os_ - WINDOW)
    we = min(total, oe + WINDOW)
    before = fold(text[ws - tb : os_ - tb]).replace("\x00", "")
    inside = fold(text[os_ - tb : oe - tb]).replace("\x00", "")
    after = fold(text[oe - tb : we - tb]).replace("\x00", "")
    tokens = tokens_between(before + inside + after, len(before), len(before) + len(inside))
    if tokens is None:
        return False
    return len(inside) > 2 or any(len(t) > 1 for t in tokens)


def _written_on_boundaries(text: str, tb: int, total: int, os_: int, oe: int) -> bool:
    """Whether the span starts and ends on jieba word boundaries of the text as written, its
    noise kept (jieba reads a dot or a space as a break): ``都不远.离星光`` reads 都/不远/./离/星光,
    so 远.离 starts inside 不远."""
    ws = max(0, os_ - WINDOW)
    window = text[ws - tb : min(total, oe + WINDOW) - tb]
    return on_word_boundaries(window, os_ - ws, oe - ws, True, True)


#: A homophone spelling whose characters are, on average, more frequent than this (log10 of
#: jieba's unigram probability per character) reads as ordinary text (这是, 的是 for 着实, 得失).
HOMOPHONE_MAX_LOG10_FREQ = -3.2


def _homophone_ok(text: str, tb: int, total: int, os_: int, oe: int) -> bool:
    """A homophone spelling is an odd sequence of characters: the span starts and ends on
    jieba word boundaries, is not made only of dictionary words (``病毒`` is a word, not a
    spelling of 冰毒; ``兵毒`` is not) and its characters are not the commonest ones (``这是``
    reads like ordinary text, not like a spelling of 着实)."""
    ws = max(0, os_ - WINDOW)
    window = text[ws - tb : min(total, oe + WINDOW) - tb]
    tokens = tokens_between(window, os_ - ws, oe - ws)
    if tokens is None:
        return False
    words = [t for t in tokens if not tables().cls[ord(t[0])]]
    if not any(len(t) == 1 for t in words):
        return False
    return log10_frequency(words) / sum(map(len, words)) <= HOMOPHONE_MAX_LOG10_FREQ


def _extend_repeats(text: str, tb: int, total: int, oe: int) -> int:
    """End of a repeat-fold hit extended over the repeats of its last character (``冰冰毒毒``
    ends after the second 毒), looking at most ``WINDOW`` characters ahead."""
    t = tables()
    last = t.fold[ord(text[oe - 1 - tb])]
    end = oe
    limit = min(total, oe + WINDOW)
    seen = 1
    i = oe
    while i < limit and seen < REPEAT_RUN:
        cp = ord(text[i - tb])
        if t.cls[cp]:
            i += 1
            continue
        if t.fold[cp] != last:
            break
        seen += 1
        i += 1
        end = i
    return end


def decide(
    entry: Entry, text: str, tb: int, total: int, os_: int, oe: int, noisy: bool
) -> tuple[str, int] | None:
    """``(variant, end)`` of the match this hit makes for ``entry``, or None (no match).
    ``noisy``: the span holds noise between term characters."""
    variant = entry.variant
    span = text[os_ - tb : oe - tb]

    def boundaries() -> bool:
        return word_ok(entry, text, tb, total, os_, oe)

    def joined_reads_as_words() -> bool:
        return _joined_reads_as_words(entry, text, tb, total, os_, oe)

    def written_on_boundaries() -> bool:
        return _written_on_boundaries(text, tb, total, os_, oe)

    if variant in PHONETIC:
        compact = normalize_term(span)
        latin = sum(1 for ch in compact if "a" <= ch <= "z")
        if latin == len(compact):
            kind = "pinyin"
        elif latin:
            kind = "mixed"
        elif compact == _term_key(entry.term):
            return None  # the term itself: the main automaton reports it
        elif len(compact) != len(_term_key(entry.term)):
            return None  # 县 (xian) is not a spelling of 西岸 (xi an): one character per syllable
        else:
            kind = "homophone"
        if kind != variant:
            return None
        if kind == "homophone":
            if noisy and not join_allowed(analyse_span(span), False, boundaries):
                return None
            return (kind, oe) if _homophone_ok(text, tb, total, os_, oe) else None
        if noisy:
            gaps = analyse_span(span)
            if gaps.punct or gaps.too_big:
                return None
        return (kind, oe) if _latin_edges_ok(compact, text, tb, total, os_, oe) else None
    if variant == "repeat":
        oe = _extend_repeats(text, tb, total, oe)
        span = text[os_ - tb : oe - tb]
        if len(normalize_term(span)) <= len(_term_key(entry.term)):
            return None  # nothing repeated (the main automaton reports the term itself)
        noisy = True
    if noisy:
        gaps = analyse_span(span, entry.own_gaps, entry.repeat)
        if not join_allowed(gaps, entry.latin, joined_reads_as_words, written_on_boundaries):
            return None
        if entry.repeat and not variant and analyse_span(span, entry.own_gaps).too_big:
            variant = "repeat"  # joined only because a repeated symbol counts once
    if entry.word and not boundaries():
        return None
    if variant:
        return variant, oe
    return ("exact" if span == entry.term else "normalized"), oe
