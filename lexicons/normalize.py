"""Normalisation: a 1:1 code-point fold plus noise classes, so offsets stay exact.

Every code point maps to one folded code point (case, width, styled/enclosed Latin and digits,
Cyrillic/Greek look-alikes, traditional -> simplified Chinese) or to a *noise* class (whitespace,
punctuation, symbols, emoji, zero-width and format characters, variation selectors, combining
marks). Terms and text go through the same tables. Matching runs on the *compact view*: the
folded text with noise removed, where a noise run that is too long (more than ``MAX_GAP``
characters) or holds two or more sentence terminators becomes a barrier that no term crosses.

The tables are numpy look-up tables over all of Unicode, built once per process (~0.2 s).
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BARRIER",
    "MAX_GAP",
    "NORMALIZER_VERSION",
    "NoiseCarry",
    "compact_segment",
    "compact_small",
    "compact_stream",
    "kept_offsets",
    "fold_char",
    "normalize_term",
    "tables",
]

#: Bump when the tables or the compact-view rules change: it is part of every lexicon version.
NORMALIZER_VERSION = "norm-1"
#: Longest run of noise characters skipped between two term characters.
MAX_GAP = 3
#: Code point written into the compact view where a noise run is too long to join across.
BARRIER = 1

KEEP, NOISE, TERMINATOR = 0, 1, 2

_TERMINATORS = "。！？!?；;…\n\r\u2028\u2029\u0085\v\f.｡．"
_NOISE_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Mn", "Me", "Mc", "Sk", "Sm", "Sc", "So"}
# Look-alikes folded to ASCII after case folding (UTS #39 style, restricted to Latin targets).
_CONFUSABLES = {
    # Cyrillic
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "і": "i",
    "ї": "i",
    "ј": "j",
    "ԁ": "d",
    "һ": "h",
    "ӏ": "l",
    "ԛ": "q",
    "ԝ": "w",
    "ɡ": "g",
    "ı": "i",
    # Greek
    "α": "a",
    "β": "b",
    "γ": "y",
    "ε": "e",
    "η": "n",
    "ι": "i",
    "κ": "k",
    "μ": "u",
    "ν": "v",
    "ο": "o",
    "ρ": "p",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ω": "w",
    "ϲ": "c",
    "ϳ": "j",
    "ς": "s",
}
# Parenthesised small letters (So, NFKC gives three characters) -> a..z.
_PAREN_LETTERS = {0x249C + i: ord("a") + i for i in range(26)}
# Astral ranges whose noise/fold matters: SMP (math alphanumerics, emoji), tags, selectors.
_SCAN_RANGES = ((0, 0x20000), (0xE0000, 0xE0200))


def fold_char(ch: str) -> str:
    """Fold one character without the T->S step (used to build the tables)."""
    cp = ord(ch)
    if cp in _PAREN_LETTERS:
        return chr(_PAREN_LETTERS[cp])
    digit = unicodedata.digit(ch, None) if cp > 0x7F else None
    if digit is not None:  # every digit style (①⑴⒈❶➀₁¹０...) -> ASCII; CJK numerals are not digits
        return str(digit)
    nf = unicodedata.normalize("NFKC", ch)
    if len(nf) != 1:
        nf = ch
    cf = nf.casefold()
    if len(cf) == 1:
        nf = cf
    return _CONFUSABLES.get(nf, nf)


def _is_noise(ch: str) -> bool:
    return unicodedata.category(ch) in _NOISE_CATEGORIES or unicodedata.category(ch)[0] == "P"


def _ts_table() -> dict[int, int]:
    import opencc  # opencc-python-reimplemented ships OpenCC's TSCharacters.txt

    path = os.path.join(os.path.dirname(opencc.__file__), "dictionary", "TSCharacters.txt")
    table: dict[int, int] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 2:
                continue
            src, dst = parts[0], parts[1].split(" ")[0]
            if len(src) == 1 and len(dst) == 1 and src != dst:
                table[ord(src)] = ord(dst)
    return table


@dataclass(frozen=True, slots=True)
class Tables:
    """The look-up tables: ``fold[cp]`` (0 for noise) and ``cls[cp]`` (KEEP/NOISE/TERMINATOR)."""

    fold: np.ndarray
    cls: np.ndarray
    code: np.ndarray  # fold with noise -> 0 and terminators -> 2 (one gather per text)


_tables: Tables | None = None


def tables(cache_dir: str | os.PathLike[str] | None = None) -> Tables:
    """The fold and class tables over all code points, built once per process (~0.3 s), or
    read from ``cache_dir`` when a previous process saved them there."""
    global _tables
    if _tables is not None:
        return _tables
    path = None
    if cache_dir is not None:
        name = f"normalize-{NORMALIZER_VERSION}-unicode{unicodedata.unidata_version}.npz"
        path = os.path.join(cache_dir, name)
        try:
            with np.load(path) as data:
                loaded = Tables(fold=data["fold"], cls=data["cls"], code=data["code"])
            if loaded.fold.shape == (0x110000,) and loaded.code.shape == (0x110000,):
                _tables = loaded
                return _tables
        except (OSError, KeyError, ValueError):
            pass
    _tables = _build_tables()
    if path is not None:
        try:
            tmp = f"{path}.{os.getpid()}.tmp.npz"
            np.savez(tmp, fold=_tables.fold, cls=_tables.cls, code=_tables.code)
            os.replace(tmp, path)
        except OSError:
            pass
    return _tables


def _build_tables() -> Tables:
    fold = np.arange(0x110000, dtype=np.uint32)
    cls = np.zeros(0x110000, dtype=np.uint8)
    ts = _ts_table()
    for lo, hi in _SCAN_RANGES:
        for cp in range(lo, hi):
            ch = chr(cp)
            folded = fold_char(ch)
            if folded.isalnum():
                fold[cp] = ord(folded)
            elif _is_noise(ch) or _is_noise(folded):
                cls[cp] = NOISE
            else:
                fold[cp] = ord(folded)
    for cp in np.flatnonzero(cls == 0):
        if int(fold[cp]) in ts:
            fold[cp] = ts[int(fold[cp])]
    for ch in _TERMINATORS:
        cls[ord(ch)] = TERMINATOR
    fold[cls != KEEP] = 0
    fold[BARRIER] = 0
    cls[BARRIER] = NOISE
    code = fold.copy()
    code[cls == TERMINATOR] = TERMINATOR
    for arr in (fold, cls, code):
        arr.flags.writeable = False
    return Tables(fold=fold, cls=cls, code=code)


def normalize_term(term: str) -> str:
    """Compact normalised form of a lexicon term: folded, noise removed."""
    return term.translate(_TRANSLATE).replace("\x00", "").replace("\x02", "")


@dataclass(slots=True)
class NoiseCarry:
    """State carried between segments: the noise run after the last kept character."""

    run_len: int = 0
    run_terms: int = 0


class _LazyTable(dict):
    """``str.translate`` table filled on first use: noise -> NUL, terminator -> STX, else the
    folded character (1:1, so positions are kept)."""

    def __missing__(self, cp: int) -> str:
        t = tables()
        kind = int(t.cls[cp])
        value = "\x02" if kind == TERMINATOR else "\x00" if kind else chr(int(t.fold[cp]))
        self[cp] = value
        return value


_TRANSLATE = _LazyTable()
# The same table as a list over the BMP, for short segments: ``str.translate`` indexes a list
# faster than it looks a dict up (0.7 vs 1.2 us per 20 CJK characters). A code point past its
# end would be left as it is, so it only serves strings proven to hold no astral character:
# ASCII, or a compact 1- or 2-byte-per-character CPython string, told by its size (anything
# else, e.g. a str subclass or another Python, takes the dict).
_BMP_TABLE: list[int] | None = None
_SIZEOF = sys.getsizeof
_UCS1_OVERHEAD = _SIZEOF("\xe9") - 1
_UCS2_OVERHEAD = _SIZEOF("\u0100") - 2


def _bmp_table() -> list[int]:
    global _BMP_TABLE
    if _BMP_TABLE is None:
        _BMP_TABLE = tables().code[:0x10000].tolist()
    return _BMP_TABLE


_NOISE_RUN = re.compile("[\x00\x02]+")


_BAD_RUN = re.compile(f"[\x00\x02]{{{MAX_GAP + 1}}}|\x02\x00*\x02")


def compact_stream(
    segment: str, base: int, carry: NoiseCarry
) -> tuple[str, range | list[int] | str]:
    """:func:`compact_small` tuned for stream deltas: the common cases (no noise, or noise
    runs that cannot make a barrier) take a few C-level string operations. The offsets come
    back as a ``range`` when the segment has no noise, as a list when it needed a barrier, and
    otherwise as the folded segment itself (a ``str``): the compact characters are then its
    characters other than NUL and STX, in order, so :func:`kept_offsets` gives the offsets
    when (and only for as far as) they are needed."""
    if segment.__class__ is str and (  # provably no astral character: the list table
        segment.isascii()
        or _SIZEOF(segment) - 2 * len(segment) == _UCS2_OVERHEAD
        or _SIZEOF(segment) - len(segment) == _UCS1_OVERHEAD
    ):
        folded = segment.translate(_BMP_TABLE or _bmp_table())
    else:
        folded = segment.translate(_TRANSLATE)
    n = len(folded)
    run_len = carry.run_len
    if not run_len and "\x00" not in folded and "\x02" not in folded:
        return folded, range(base, base + n)
    compact = folded.replace("\x00", "").replace("\x02", "")
    if not compact:  # only noise: the run goes on
        carry.run_len = run_len + n
        carry.run_terms += folded.count("\x02")
        return compact, []
    if run_len:  # the run carried over joins this segment's leading noise
        terms = carry.run_terms
        probe = "\x02" * terms + "\x00" * (run_len - terms) + folded
    else:
        probe = folded
    noise = len(probe) - len(compact)
    if (noise > MAX_GAP or probe.count("\x02") > 1) and _BAD_RUN.search(probe):
        return _compact_barriers(folded, base, carry)
    tail = n - len(folded.rstrip("\x00\x02"))
    carry.run_len = tail
    carry.run_terms = folded.count("\x02", n - tail) if tail else 0
    return compact, folded


_WHOLE_BAD_RUN = re.compile(f"[\x00\x02]*(?:{_BAD_RUN.pattern})[\x00\x02]*")


def _mark_barrier(m: re.Match) -> str:
    return "\x00" * (m.end() - m.start() - 1) + "\x01"


def _compact_barriers(folded: str, base: int, carry: NoiseCarry) -> tuple[str, list[int]]:
    """:func:`compact_stream` of a folded segment with at least one kept character in which
    some noise run needs a barrier: each such run between kept characters becomes NUL...NUL
    plus ``BARRIER`` in its last place (1:1, so offsets are kept; the barrier takes the
    offset of the kept character after it)."""
    n = len(folded)
    end = len(folded.rstrip("\x00\x02"))
    lead = n - len(folded.lstrip("\x00\x02"))
    run_len = carry.run_len + lead
    run_terms = carry.run_terms + folded.count("\x02", 0, lead)
    inner = _WHOLE_BAD_RUN.sub(_mark_barrier, folded[lead:end])
    compact = inner.replace("\x00", "").replace("\x02", "")
    orig = [
        i + (ch == "\x01") for i, ch in enumerate(inner, base + lead) if ch > "\x02" or ch == "\x01"
    ]
    if run_len and (run_len > MAX_GAP or run_terms >= 2):
        compact = "\x01" + compact
        orig.insert(0, base + lead)
    carry.run_len = tail = n - end
    carry.run_terms = folded.count("\x02", end) if tail else 0
    return compact, orig


def kept_offsets(folded: str, base: int, start: int = 0) -> list[int]:
    """Original offsets of the kept (non-noise) characters of ``folded[start:]``, a folded
    segment that starts at original offset ``base``."""
    if start:
        folded = folded[start:]
        base += start
    return [i for i, ch in enumerate(folded, base) if ch > "\x02"]


def compact_small(segment: str, base: int, carry: NoiseCarry) -> tuple[str, list[int]]:
    """Pure-Python :func:`compact_segment` for short segments (stream chunks): same output as
    a string of compact characters and a list of original offsets, without numpy overhead."""
    return compact_folded(segment.translate(_TRANSLATE), base, carry)


def compact_folded(folded: str, base: int, carry: NoiseCarry) -> tuple[str, list[int]]:
    """:func:`compact_small` of an already folded segment (``segment.translate`` output)."""
    n = len(folded)
    if not carry.run_len and "\x00" not in folded and "\x02" not in folded:
        return folded, list(range(base, base + n))
    out: list[str] = []
    orig: list[int] = []
    run_len, run_terms = carry.run_len, carry.run_terms
    pos = 0
    for m in _NOISE_RUN.finditer(folded):
        s, e = m.span()
        if s > pos:
            if run_len and (run_len > MAX_GAP or run_terms >= 2):
                out.append("\x01")
                orig.append(base + pos)
            out.append(folded[pos:s])
            orig.extend(range(base + pos, base + s))
            run_len = run_terms = 0
        run_len += e - s
        run_terms += folded.count("\x02", s, e)
        pos = e
    if pos < n:
        if run_len and (run_len > MAX_GAP or run_terms >= 2):
            out.append("\x01")
            orig.append(base + pos)
        out.append(folded[pos:])
        orig.extend(range(base + pos, base + n))
        run_len = run_terms = 0
    carry.run_len, carry.run_terms = run_len, run_terms
    return "".join(out), orig


_EMPTY_U32 = np.zeros(0, dtype=np.uint32)
_EMPTY_I64 = np.zeros(0, dtype=np.int64)


def compact_segment(segment: str, base: int, carry: NoiseCarry) -> tuple[np.ndarray, np.ndarray]:
    """Compact view of ``segment`` (which starts at original offset ``base``).

    Returns ``(codes, orig)``: the compact code points (uint32, ``BARRIER`` where a noise run may
    not be joined across) and, for each, its original offset. ``carry`` is updated in place so
    that a text split into several segments gives exactly the compact view of the whole.
    """
    cps = np.frombuffer(segment.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    f = tables().code[cps]  # folded code point; 0 noise, 2 terminator
    n = cps.size
    keep = np.flatnonzero(f > TERMINATOR)
    if keep.size == n and carry.run_len == 0:  # no noise at all: nothing to insert
        return f, keep + base
    term_pos = np.flatnonzero(f == TERMINATOR)
    if keep.size == 0:
        carry.run_len += n
        carry.run_terms += int(term_pos.size)
        return _EMPTY_U32, _EMPTY_I64
    prev_end = np.empty(keep.size, dtype=np.int64)  # index after the previous kept char
    prev_end[0] = 0
    prev_end[1:] = keep[:-1] + 1
    gap = keep - prev_end
    gap[0] += carry.run_len
    g = np.flatnonzero(gap)  # kept characters preceded by noise
    if term_pos.size:
        terms = np.searchsorted(term_pos, keep[g]) - np.searchsorted(term_pos, prev_end[g])
    else:
        terms = np.zeros(g.size, dtype=np.int64)
    if g.size and g[0] == 0:
        terms[0] += carry.run_terms
    bad = g[(gap[g] > MAX_GAP) | (terms >= 2)]
    last = int(keep[-1])
    carry.run_len = n - 1 - last
    carry.run_terms = int(term_pos.size - np.searchsorted(term_pos, last, side="right"))
    codes = f[keep]
    orig = keep + base
    if bad.size:
        codes = np.insert(codes, bad, BARRIER)
        orig = np.insert(orig, bad, orig[bad])
    return codes, orig
