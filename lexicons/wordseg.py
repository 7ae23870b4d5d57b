"""Word boundaries for ``match=word``: Latin letter/digit neighbours, jieba for CJK.

jieba runs only on a small window around a hit (``WINDOW`` characters each side), never on the
whole text, so its cost is per hit, not per character.
"""

from __future__ import annotations

import functools
import logging
import math
import threading

from .normalize import tables

__all__ = ["WINDOW", "is_latin_alnum", "log10_frequency", "on_word_boundaries", "tokens_between"]

#: Characters of context on each side of a hit given to jieba.
WINDOW = 8

_lock = threading.Lock()


def is_latin_alnum(ch: str) -> bool:
    """True for a letter or digit of the Latin script (after width/style folding)."""
    folded = int(tables().fold[ord(ch)])
    return folded < 0x250 and folded != 0 and chr(folded).isalnum()


@functools.cache
def _tokenizer():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _lock:
        tok = jieba.Tokenizer()
        tok.initialize()
    return tok


@functools.lru_cache(maxsize=4096)
def _tokens(window: str) -> tuple[tuple[int, str], ...]:
    out = []
    pos = 0
    for token in _tokenizer().cut(window, HMM=False):
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
    tok = _tokenizer()
    return sum(math.log10(max(tok.FREQ.get(t) or 1, 1) / tok.total) for t in tokens)
