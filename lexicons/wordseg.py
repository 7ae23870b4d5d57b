"""Word boundaries for ``match=word``: Latin letter/digit neighbours, jieba's segmentation for CJK.

The segmentation is jieba's ``Tokenizer().cut(text, HMM=False)``, token for token, computed over
``wordfreq``'s index of jieba's dictionary, so neither jieba nor its 498k-entry prefix dict is
loaded (~0.65 s): a window needs the dictionary groups of its own characters only. It runs only
on a small window around a hit (``WINDOW`` characters each side), never on the whole text, so
its cost is per hit, not per character.
"""

from __future__ import annotations

import functools
import math
import re

from . import wordfreq
from .normalize import tables

__all__ = [
    "WINDOW",
    "cut",
    "is_latin_alnum",
    "log10_frequency",
    "on_word_boundaries",
    "tokens_between",
]

#: Characters of context on each side of a hit that are segmented.
WINDOW = 8

# jieba's re_han_default, re_skip_default and re_eng (jieba/__init__.py, 0.42).
_RE_HAN = re.compile(r"([\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-]+)")
_RE_SKIP = re.compile(r"(\r\n|\s)")
_RE_ENG = re.compile("[a-zA-Z0-9]")


def is_latin_alnum(ch: str) -> bool:
    """True for a letter or digit of the Latin script (after width/style folding)."""
    folded = int(tables().fold[ord(ch)])
    return folded < 0x250 and folded != 0 and chr(folded).isalnum()


def cut(text: str) -> list[str]:
    """jieba's ``Tokenizer().cut(text, HMM=False)`` with its default dictionary: runs of
    ``_RE_HAN`` characters segmented by the dictionary, whitespace (``\\r\\n`` as one) and
    every other character on its own."""
    out: list[str] = []
    for block in _RE_HAN.split(text):
        if not block:
            continue
        if _RE_HAN.match(block):
            out += _cut_block(block)
            continue
        for piece in _RE_SKIP.split(block):
            if _RE_SKIP.match(piece):
                out.append(piece)
            else:
                out += piece
    return out


def _cut_block(block: str) -> list[str]:
    """jieba's ``__cut_DAG_NO_HMM``: the route of most probable dictionary words (its ``get_DAG``
    and ``calc``, same arithmetic and tie-break), then single Latin letters/digits merged."""
    index = wordfreq.index()
    logtotal = math.log(index.total)
    n = len(block)
    route: list[tuple[float, int]] = [(0.0, 0)] * (n + 1)
    for k in range(n - 1, -1, -1):
        group = index.group(block[k])
        ends = []
        if group is not None:
            i = k
            frag = block[k]
            while i < n and frag in group:
                if group[frag]:
                    ends.append(i)
                i += 1
                frag = block[k : i + 1]
        if not ends:
            ends.append(k)
        freq = group.get if group is not None else _no_freq
        route[k] = max(
            (math.log(freq(block[k : x + 1]) or 1) - logtotal + route[x + 1][0], x) for x in ends
        )
    out: list[str] = []
    x = 0
    buf = ""
    while x < n:
        y = route[x][1] + 1
        word = block[x:y]
        if len(word) == 1 and _RE_ENG.match(word):
            buf += word
        else:
            if buf:
                out.append(buf)
                buf = ""
            out.append(word)
        x = y
    if buf:
        out.append(buf)
    return out


def _no_freq(_word: str) -> None:
    return None


@functools.lru_cache(maxsize=4096)
def _tokens(window: str) -> tuple[tuple[int, str], ...]:
    out = []
    pos = 0
    for token in cut(window):
        out.append((pos, token))
        pos += len(token)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _boundaries(window: str) -> frozenset[int]:
    return frozenset([0, *(pos + len(tok) for pos, tok in _tokens(window))])


def tokens_between(window: str, start: int, end: int) -> list[str] | None:
    """The jieba tokens of ``window[start:end]``, or None when ``start`` or ``end`` falls
    inside a token."""
    cuts = _boundaries(window)
    if start not in cuts or end not in cuts:
        return None
    return [tok for pos, tok in _tokens(window) if start <= pos < end]


def on_word_boundaries(
    window: str, start: int, end: int, check_start: bool, check_end: bool
) -> bool:
    """Whether ``window[start:end]`` starts/ends on jieba token boundaries of ``window``."""
    cuts = _boundaries(window)
    return (not check_start or start in cuts) and (not check_end or end in cuts)


def log10_frequency(tokens: list[str]) -> float:
    """Sum of log10 of jieba's unigram probability of each token (1 for unknown words)."""
    index = wordfreq.index()
    return sum(math.log10(max(index.freq(t) or 1, 1) / index.total) for t in tokens)
