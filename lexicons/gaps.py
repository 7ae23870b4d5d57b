"""Separators or punctuation? The rules that decide whether a hit may skip the noise inside it.

The compact view (normalize.py) drops every noise character, so ``中国、美国`` reads as
``中国美国`` and a term ``国美`` would be found across the enumeration comma. Each hit whose
original span holds noise between two term characters (a *gap*) is therefore checked here,
from the evidence in the text:

- the **class** of each gap: *invisible* (zero-width characters, joiners, BOM, soft hyphen,
  variation selectors, tags, combining marks, emoji modifiers, Hangul fillers: always
  skipped), *separator* (whitespace, symbols, emoji, dots, middle dots, underscores, ASCII
  punctuation other than the clause marks below) or *punctuation* that writers put between
  words (、，；：。！？ and their ASCII forms, quotes, brackets, dashes, ellipses, line
  breaks, and an ASCII ``.`` followed, but not preceded, by whitespace);
- its **size** in visible units: an emoji sequence (ZWJ sequence, skin tone, flag, keycap) or
  any other visible character (a space too) is one unit; a gap holds at most ``MAX_UNITS``;
- whether the term is **spaced out consistently**: every pair of neighbouring term characters
  separated, over at least two gaps (``苹。果，手、机``, ``b.a.n.a.n.a``);
- **jieba word boundaries** around the joined span: a span that starts inside a word of the
  surrounding text (``很开心 明天`` for ``心明天``) or ends inside one was put together from
  two words.

See docs/lexicons.md ("Separators and punctuation") for the rules with examples of both sides.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from .normalize import INVISIBLE_LETTERS, fold

__all__ = [
    "DOTS",
    "MAX_UNITS",
    "NUMERALS",
    "PUNCT_CHARS",
    "ZEROS",
    "Gaps",
    "analyse_span",
    "join_allowed",
]

#: Visible units a gap may hold (a space, an emoji sequence, a symbol: one unit each).
MAX_UNITS = 3

_INVISIBLE, _SEPARATOR, _PUNCT, _SPACE, _REGIONAL, _ZWJ = range(6)

PUNCT_CHARS = frozenset(
    "、，；：。！？,;:!?｡､﹐﹑﹔﹕﹒﹖﹗…‥⋯"  # clause and sentence marks
    "\"'“”‘’「」『』〝〞〟＂＇‹›«»"  # quotes
    "()（）[]［］{}｛｝【】《》〈〉〔〕〖〗〘〙〚〛⦅⦆"  # brackets
    "—―–‒⸺⸻"  # dashes writers put between clauses
    "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # line and paragraph breaks
)
#: A lone dot between two words: a writer's full stop without a space (``很近.房间是``), the
#: separator of a transliterated name (``查理·曼德``) or of a date (``一九九六．四．五``).
DOTS = frozenset(".．")
#: Circles written for 〇 (zero) in Chinese numbers: ``二○○三年``, ``四八○五厂``.
ZEROS = frozenset("○◯")
NUMERALS = frozenset("〇零一二三四五六七八九十百千万亿两")
_class_cache: dict[str, int] = {}
_NOISE_RUN = re.compile("\x00+")


def _char_class(ch: str) -> int:
    cls = _class_cache.get(ch)
    if cls is not None:
        return cls
    cp = ord(ch)
    cat = unicodedata.category(ch)
    if ch in PUNCT_CHARS:
        cls = _PUNCT
    elif ch == "\u200d":
        cls = _ZWJ
    elif cat in ("Cf", "Mn", "Me", "Mc") or 0x1F3FB <= cp <= 0x1F3FF or cp in INVISIBLE_LETTERS:
        cls = _INVISIBLE
    elif cat == "Zs" or ch == "\t":
        cls = _SPACE
    elif 0x1F1E6 <= cp <= 0x1F1FF:
        cls = _REGIONAL
    else:
        cls = _SEPARATOR
    _class_cache[ch] = cls
    return cls


class Gaps(NamedTuple):
    """What lies between the term characters of a span."""

    kept: int  # term (compact) characters in the span
    visible: int  # gaps holding something visible (separator or punctuation)
    punct: int  # gaps holding writer's punctuation
    empty: int  # neighbouring term characters with nothing between them
    too_big: bool  # some gap holds more than MAX_UNITS visible units
    own: int  # gaps where the term as written has noise itself (not counted above)
    dots: int = 0  # gaps holding one lone dot and nothing else visible (很近.房间, 查理·曼德)
    digit: bool = False  # some gap holds a circle written for zero between numerals (二○○三)


def _gap(run: str, repeat: bool) -> tuple[int, bool, bool, str, bool]:
    """(visible units, holds punctuation, holds anything visible, its visible character when
    it holds exactly one, every visible character is a zero circle) of one noise run."""
    units = shown = 0
    punct = visible = False
    zeros = True
    lone = prev = ""
    prev_cls = -1
    regional = 0
    for i, ch in enumerate(run):
        cls = _char_class(ch)
        if cls == _INVISIBLE or cls == _ZWJ:
            pass
        elif cls == _PUNCT:
            punct = visible = True
            units += 1
        elif cls == _SPACE:
            visible = True
            units += 1
        elif cls == _REGIONAL:
            visible = True
            regional += 1
            units += regional % 2  # a flag is a pair of regional indicators
        else:
            visible = True
            if (
                ch == "."
                and prev_cls != _SPACE
                and _char_class(run[i + 1 : i + 2] or "x") == _SPACE
            ):
                punct = True  # "end. Next" ends an English sentence (" . " does not)
            if prev_cls == _ZWJ or (repeat and ch == prev):
                pass  # the next emoji of a ZWJ sequence; a repeated symbol (opt-in fold)
            else:
                units += 1
        if cls != _INVISIBLE:
            prev_cls, prev = cls, ch
            if cls != _ZWJ:
                shown += 1
                lone = ch
                zeros = zeros and ch in ZEROS
        if cls != _REGIONAL:
            regional = 0
    return units, punct, visible, (lone if shown == 1 else ""), (visible and zeros)


def analyse_span(span: str, own_gaps: int = 0, repeat: bool = False) -> Gaps:
    """The gaps of ``span`` (the original text of a hit: it starts and ends with a term
    character). ``own_gaps``: bit ``j`` set when the term as written has noise between its
    characters ``j`` and ``j + 1`` (``online casino``): such gaps are the term's own."""
    folded = fold(span)  # noise (keycap digits too) -> NUL, 1:1
    kept = len(folded) - folded.count("\x00")
    visible = punct = own = runs = dots = 0
    too_big = digit = False
    noise_before = 0
    for m in _NOISE_RUN.finditer(folded):
        s, e = m.span()
        j = s - noise_before - 1  # the gap between term characters j and j + 1
        noise_before += e - s
        runs += 1
        if own_gaps >> j & 1:
            own += 1
            continue
        units, has_punct, has_visible, lone, zeros = _gap(span[s:e], repeat)
        visible += has_visible
        punct += has_punct
        too_big = too_big or units > MAX_UNITS
        if lone in DOTS and not has_punct:
            dots += 1
        if zeros and (span[s - 1] in NUMERALS or span[e] in NUMERALS):
            digit = True
    empty = kept - 1 - runs
    return Gaps(kept, visible, punct, empty, too_big, own, dots, digit)


def join_allowed(gaps: Gaps, latin: bool, on_boundaries, as_written=None) -> bool:
    """Whether a hit with these gaps is a match. ``latin``: the term is made of Latin letters
    and digits; ``on_boundaries()``: whether the span, read without its noise, starts and ends
    on word boundaries of the surrounding text; ``as_written()``: the same with the noise kept
    (each gap a break between words). Both are called only when the rules need them (they
    run jieba)."""
    if gaps.too_big or gaps.digit:
        return False
    if not gaps.visible:
        return True  # nothing but invisible characters between term characters
    # spaced out consistently: every pair of neighbours separated, over two gaps or more
    consistent = gaps.empty == 0 and gaps.kept - 1 - gaps.own >= 2
    if latin:
        return consistent and not gaps.punct  # b.a.n.a.n.a, not "a, b, c"
    if gaps.punct:
        return consistent and on_boundaries()
    if consistent:
        return True
    if not on_boundaries():
        return False
    # a lone dot may be the writer's full stop or a name's separator: the pieces it separates
    # must not belong to words of the text as written (不远.离星光 is 不远 / 离星光)
    return not gaps.dots or as_written is None or as_written()
