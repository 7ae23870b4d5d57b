"""Normalisation: a 1:1 code-point fold plus a noise class, so offsets stay exact.

Every code point maps to one folded code point (case, width, accents, styled/enclosed Latin and
digits, Cyrillic/Greek look-alikes, traditional -> simplified Chinese) or to *noise* (whitespace,
punctuation, symbols, emoji, zero-width and format characters, variation selectors, combining
marks). Terms and text go through the same tables. Matching runs on the *compact view*: the
folded text with noise removed, where a noise run longer than ``MAX_RUN`` code points becomes a
barrier that no term crosses. Whether a shorter run joins two term characters is decided per
hit, from the run's content and its context (``gaps.py``): the compact view only proposes.

A keycap (a digit, optional U+FE0F, U+20E3) is an emoji: its digit is noise too.

The tables are numpy look-up tables over all of Unicode, built once per process (~0.3 s).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BARRIER",
    "INVISIBLE_LETTERS",
    "MAX_RUN",
    "NORMALIZER_VERSION",
    "NoiseCarry",
    "compact_segment",
    "compact_small",
    "compact_stream",
    "fold",
    "fold_char",
    "kept_offsets",
    "keycap_split",
    "normalize_term",
    "tables",
]

#: Letters (category Lo) that render as nothing, the Hangul fillers: noise, like zero-width
#: characters (the gap rules class them as invisible)
INVISIBLE_LETTERS = (0x115F, 0x1160, 0x3164, 0xFFA0)

#: Bump when the tables or the compact-view rules change: it is part of every lexicon version.
NORMALIZER_VERSION = "norm-4"
#: Longest run of noise code points the compact view joins across (the per-hit rules of
#: ``gaps.py`` then bound what a run may hold: visible units, punctuation, context).
MAX_RUN = 32
#: Code point written into the compact view where a noise run is too long to join across.
BARRIER = 1

KEEP, NOISE = 0, 1

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
_PRIVATE_USE = ((0xE000, 0xF900), (0xF0000, 0x110000))


def _strip_accent(ch: str) -> str:
    """``í`` -> ``i``, ``ǔ`` -> ``u``, ``ü`` -> ``u``: a Latin letter without its diacritics
    (toned pinyin reads as toneless pinyin); anything else unchanged."""
    if ch.isascii() or not ch.isalpha():
        return ch
    base = unicodedata.normalize("NFD", ch)[0]
    return base if base.isascii() and base.isalpha() else ch


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
    return _strip_accent(_CONFUSABLES.get(nf, nf))


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
    """The look-up tables: ``fold[cp]`` (0 for noise) and ``cls[cp]`` (KEEP/NOISE)."""

    fold: np.ndarray
    cls: np.ndarray


_tables: Tables | None = None


def tables(cache_dir: str | os.PathLike[str] | None = None) -> Tables:
    """The fold and class tables over all code points, built once per process (~0.3 s), or
    read from ``cache_dir`` when a previous process saved them there."""
    global _tables
    if _tables is not None:
        return _tables
    path = None
    if cache_dir is not None:
        name = f"normalize-{NORMALIZER_VERSION}-unicode{unicodedata.unidata_version}.bin"
        path = os.path.join(cache_dir, name)
        loaded = _read_tables(path)
        if loaded is not None:
            _tables = loaded
            return _tables
    _tables = _build_tables()
    if path is not None:
        try:
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(_tables.fold.astype("<u4").tobytes())
                fh.write(_tables.cls.tobytes())
            os.replace(tmp, path)
        except OSError:
            pass
    return _tables


_N_CODE_POINTS = 0x110000


def _read_tables(path: str) -> Tables | None:
    """The tables as :func:`tables` caches them (``fold`` as little-endian uint32, then
    ``cls``, raw: no parsing), or None when the file is missing or not that size."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if len(data) != 5 * _N_CODE_POINTS:
        return None
    fold = np.frombuffer(data, dtype="<u4", count=_N_CODE_POINTS)
    cls = np.frombuffer(data, dtype=np.uint8, offset=4 * _N_CODE_POINTS)
    return Tables(fold=fold, cls=cls)  # read-only, as built


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
    # private-use characters (vendor glyphs such as U+F8FF, the logo on Apple devices) are
    # symbols to a reader: noise, like emoji, so 冰\ue000毒 is found
    for lo, hi in _PRIVATE_USE:
        cls[lo:hi] = NOISE
    # letters by category that render as nothing (Default_Ignorable): noise, so 爆\u3164炸 is
    # found (a writer never puts them inside a word; evaders do)
    for cp in INVISIBLE_LETTERS:
        cls[cp] = NOISE
    cls[BARRIER] = NOISE  # a control character (Cc), like NUL, which marks noise in str views
    fold[cls != KEEP] = 0
    for arr in (fold, cls):
        arr.flags.writeable = False
    return Tables(fold=fold, cls=cls)


def normalize_term(term: str) -> str:
    """Compact normalised form of a lexicon term: folded, noise removed."""
    return _fix_keycaps(term, term.translate(_TRANSLATE)).replace("\x00", "")


_KEYCAP = re.compile("[0-9]\ufe0f?\u20e3")


def _fix_keycaps(segment: str, folded: str) -> str:
    """``folded`` (1:1 with ``segment``) with the digit of every keycap turned into noise."""
    if "\u20e3" not in segment:
        return folded
    chars = list(folded)
    for m in _KEYCAP.finditer(segment):
        chars[m.start()] = "\x00"
    return "".join(chars)


def keycap_split(segment: str) -> int:
    """Length of the prefix of a stream segment that can be compacted now: a trailing digit
    (and U+FE0F after it) waits for the next segment, which may make it a keycap."""
    n = len(segment)
    if n and "0" <= segment[-1] <= "9":
        return n - 1
    if n > 1 and segment[-1] == "\ufe0f" and "0" <= segment[-2] <= "9":
        return n - 2
    return n


@dataclass(slots=True)
class NoiseCarry:
    """State carried between segments: the length of the noise run after the last kept
    character."""

    run_len: int = 0


class _LazyTable(dict):
    """``str.translate`` table filled on first use: noise -> NUL, else the folded character
    (1:1, so positions are kept)."""

    def __missing__(self, cp: int) -> str:
        t = tables()
        value = "\x00" if t.cls[cp] else chr(int(t.fold[cp]))
        self[cp] = value
        return value


_TRANSLATE = _LazyTable()
# The same table as a list over the BMP, for short segments: ``str.translate`` indexes a list
# faster than it looks a dict up (0.7 vs 1.2 us per 20 CJK characters). A code point past its
# end would be left as it is, so it only serves strings proven to hold no astral character:
# ASCII, or a compact 1- or 2-byte-per-character CPython string, told by its size (anything
# else, e.g. a str subclass or another Python, takes the dict). ``str.__sizeof__`` is read
# directly: ``sys.getsizeof`` costs ~4x more per call.
_BMP_TABLE: list[int] | None = None
_UCS1_OVERHEAD = "\xe9".__sizeof__() - 1
_UCS2_OVERHEAD = "\u0100".__sizeof__() - 2


def _bmp_table() -> list[int]:
    global _BMP_TABLE
    if _BMP_TABLE is None:
        _BMP_TABLE = tables().fold[:0x10000].tolist()
    return _BMP_TABLE


_NOISE_RUN = re.compile("\x00+")
_LONG_RUN = re.compile(f"\x00{{{MAX_RUN + 1},}}")


def fold(segment: str) -> str:
    """``segment`` folded 1:1: every noise character (keycap digits too) as NUL."""
    if segment.__class__ is str and (  # provably no astral character: the list table
        segment.isascii()
        or segment.__sizeof__() - 2 * len(segment) == _UCS2_OVERHEAD
        or segment.__sizeof__() - len(segment) == _UCS1_OVERHEAD
    ):
        folded = segment.translate(_BMP_TABLE or _bmp_table())
    else:
        folded = segment.translate(_TRANSLATE)
    return _fix_keycaps(segment, folded) if "\u20e3" in segment else folded


def compact_stream(
    segment: str, base: int, carry: NoiseCarry
) -> tuple[str, range | list[int] | str]:
    """:func:`compact_small` tuned for stream deltas: the common cases (no noise, or noise
    runs too short to make a barrier) take a few C-level string operations. The offsets come
    back as a ``range`` when the segment has no noise, as a list when it needed a barrier, and
    otherwise as the folded segment itself (a ``str``): the compact characters are then its
    characters other than NUL, in order, so :func:`kept_offsets` gives the offsets when (and
    only for as far as) they are needed."""
    folded = fold(segment)
    n = len(folded)
    run_len = carry.run_len
    if not run_len and "\x00" not in folded:
        return folded, range(base, base + n)
    compact = folded.replace("\x00", "")
    if not compact:  # only noise: the run goes on
        carry.run_len = run_len + n
        return compact, []
    noise = n - len(compact)
    if run_len + noise > MAX_RUN and (  # else no run can be too long: the common case
        run_len + n - len(folded.lstrip("\x00")) > MAX_RUN
        or (noise > MAX_RUN and _LONG_RUN.search(folded))
    ):
        return compact_folded(folded, base, carry)
    carry.run_len = n - len(folded.rstrip("\x00"))
    return compact, folded


def kept_offsets(folded: str, base: int, start: int = 0) -> list[int]:
    """Original offsets of the kept (non-noise) characters of ``folded[start:]``, a folded
    segment that starts at original offset ``base``."""
    if start:
        folded = folded[start:]
        base += start
    return [i for i, ch in enumerate(folded, base) if ch != "\x00"]


def compact_small(segment: str, base: int, carry: NoiseCarry) -> tuple[str, list[int]]:
    """Pure-Python :func:`compact_segment` for short segments (stream chunks): same output as
    a string of compact characters and a list of original offsets, without numpy overhead."""
    return compact_folded(fold(segment), base, carry)


def compact_folded(folded: str, base: int, carry: NoiseCarry) -> tuple[str, list[int]]:
    """:func:`compact_small` of an already folded segment."""
    n = len(folded)
    if not carry.run_len and "\x00" not in folded:
        return folded, list(range(base, base + n))
    out: list[str] = []
    orig: list[int] = []
    run_len = carry.run_len
    pos = 0
    for m in _NOISE_RUN.finditer(folded):
        s, e = m.span()
        if s > pos:
            if run_len > MAX_RUN:
                out.append("\x01")
                orig.append(base + pos)
            out.append(folded[pos:s])
            orig.extend(range(base + pos, base + s))
            run_len = 0
        run_len += e - s
        pos = e
    if pos < n:
        if run_len > MAX_RUN:
            out.append("\x01")
            orig.append(base + pos)
        out.append(folded[pos:])
        orig.extend(range(base + pos, base + n))
        run_len = 0
    carry.run_len = run_len
    return "".join(out), orig


_EMPTY_U32 = np.zeros(0, dtype=np.uint32)
_EMPTY_I64 = np.zeros(0, dtype=np.int64)


def compact_segment(
    segment: str, base: int, carry: NoiseCarry, cps: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Compact view of ``segment`` (which starts at original offset ``base``).

    Returns ``(codes, orig)``: the compact code points (uint32, ``BARRIER`` where a noise run may
    not be joined across) and, for each, its original offset. ``carry`` is updated in place so
    that a text split into several segments gives exactly the compact view of the whole.
    ``cps``: the segment's code points, when the caller has them already.
    """
    if cps is None:
        cps = np.frombuffer(segment.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    f = tables().fold.take(cps)  # folded code point; 0 for noise (take: no index copy)
    if "\u20e3" in segment:
        for m in _KEYCAP.finditer(segment):
            f[m.start()] = 0
    n = cps.size
    keep = np.flatnonzero(f != 0)  # nonzero of a bool mask: several times faster
    if keep.size == n and carry.run_len == 0:  # no noise at all: nothing to insert
        return f, keep + base if base else keep
    if keep.size == 0:
        carry.run_len += n
        return _EMPTY_U32, _EMPTY_I64
    # noise runs too long to join across: before the first kept character (with the carried
    # run) and between neighbouring kept characters
    bad = np.flatnonzero(np.diff(keep) > MAX_RUN + 1) + 1
    if keep[0] + carry.run_len > MAX_RUN:
        bad = np.concatenate(([0], bad))
    carry.run_len = n - 1 - int(keep[-1])
    codes = f[keep]
    orig = keep + base if base else keep
    if bad.size:
        codes = np.insert(codes, bad, BARRIER)
        orig = np.insert(orig, bad, orig[bad])
    return codes, orig
