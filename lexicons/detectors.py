"""Detectors beside the lexicon: personal information and contact details.

Mainland mobile and landline numbers, resident ID numbers (GB 11643 check digit), bank card
numbers (Luhn), e-mail addresses, URLs and domains, QQ numbers and WeChat ids after a keyword.
They see through full-width, circled and other digit styles, Chinese numerals (一三八…, 幺),
digits spaced out or joined by hyphens and dots, ``。`` / ``点`` for the dot of a domain.

A detector match lies inside a *piece*: a run of "word" characters (Latin letters, digits of
any style, Chinese numerals, ``@ _ % + = ? & # ~ / : -``) where two runs may be joined by a dot
(``.``, ``。``, ``．``, ``点``…), by spaces or hyphens between two digits, or by a spaced dot
(``baidu . com``). Pieces are found the same way whatever the split of the text into stream
chunks (a piece ends where the next character cannot continue it), and each piece is examined
on its own, plus up to ``CONTEXT`` characters before it for the QQ/WeChat keywords. That is
what makes one-shot and streaming detection give the same matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np

from .normalize import tables

__all__ = [
    "CONTEXT",
    "DETECTORS",
    "DETECTOR_CATEGORIES",
    "Detected",
    "DetectorStream",
    "IM_KEYWORDS",
    "MIN_DIGITS",
    "TLDS",
    "URL_KEYWORDS",
    "detect_anchored",
    "detect_text",
    "quiet_search",
]

#: detector name -> category id (bundled categories.toml)
DETECTOR_CATEGORIES = {
    "mobile_phone": "a4.personal_info.phone",
    "landline_phone": "a4.personal_info.phone",
    "resident_id": "a4.personal_info.id_number",
    "bank_card": "a4.personal_info.bank_card",
    "email": "a4.personal_info.email",
    "qq": "a4.personal_info.im_account",
    "wechat": "a4.personal_info.im_account",
    "url": "x.diversion.url",
}
DETECTORS = tuple(DETECTOR_CATEGORIES)
#: Characters before a piece searched for a QQ/WeChat keyword.
CONTEXT = 8

_CJK_DIGITS = {
    "〇": "0",
    "零": "0",
    "一": "1",
    "幺": "1",
    "壹": "1",
    "二": "2",
    "两": "2",
    "贰": "2",
    "貳": "2",
    "三": "3",
    "叁": "3",
    "參": "3",
    "四": "4",
    "肆": "4",
    "五": "5",
    "伍": "5",
    "六": "6",
    "陆": "6",
    "陸": "6",
    "七": "7",
    "柒": "7",
    "八": "8",
    "捌": "8",
    "九": "9",
    "玖": "9",
}
_DOTS = ".。．｡点"
_SYMBOLS = "@＠_%+=?&#~/:-－"
#: Top-level domains the URL detector knows. Each is also a key of the main automaton (an
#: anchor of the one-shot scan), so two-letter endings common inside English words (io, co,
#: me, in, to, us, de, ai) are left out: ``example.io`` is reported only with a scheme.
TLDS = (
    "com net org cn gov edu cc tv hk tw mo jp kr uk ru sg ws ly info biz xyz top vip club "
    "shop site online app link live pro work tech store fun icu cloud"
).split()
#: Words that make the URL detector look: the top-level domains and the URL prefixes.
URL_KEYWORDS = (*TLDS, "www", "http", "https", "ftp")
_TLDS = "|".join(TLDS)
#: Fewest digits of a number reported without a keyword (400 numbers have 10).
MIN_DIGITS = 10


@dataclass(frozen=True, slots=True)
class Detected:
    """One detector hit: ``text[start:end]`` is a ``name`` (see ``DETECTOR_CATEGORIES``)."""

    start: int
    end: int
    name: str
    plain: bool  # written in plain ASCII (no full-width/circled digits, numerals, 点 or 。)


# -- character classes ---------------------------------------------------------------------


@cache
def _classes() -> tuple[str, str]:
    """Regex character classes (contents) of digit-like and Latin-letter-like characters:
    every code point (BMP and the math alphanumerics) whose fold is an ASCII digit/letter."""
    fold = tables().fold
    cps = np.concatenate([np.arange(0x80, 0x10000), np.arange(0x1D400, 0x1D800)])
    f = fold[cps]
    digit = cps[(f >= 0x30) & (f <= 0x39)]
    letter = cps[(f >= 0x61) & (f <= 0x7A)]

    def ranges(points: Iterable[int]) -> str:
        out: list[str] = []
        pts = sorted(int(p) for p in points)
        i = 0
        while i < len(pts):
            j = i
            while j + 1 < len(pts) and pts[j + 1] == pts[j] + 1:
                j += 1
            a, b = re.escape(chr(pts[i])), re.escape(chr(pts[j]))
            out.append(a if i == j else f"{a}-{b}")
            i = j + 1
        return "".join(out)

    cjk = "".join(_CJK_DIGITS)
    return "0-9" + ranges(digit) + cjk, "A-Za-z" + ranges(letter)


@cache
def _class_points() -> tuple[frozenset[int], frozenset[int]]:
    """The code points of the two classes of ``_classes`` (digit-like, letter-like)."""
    fold = tables().fold
    cps = np.concatenate([np.arange(0x80, 0x10000), np.arange(0x1D400, 0x1D800)])
    f = fold[cps]
    digit = {int(c) for c in cps[(f >= 0x30) & (f <= 0x39)]}
    digit.update(range(0x30, 0x3A))
    digit.update(map(ord, _CJK_DIGITS))
    letter = {int(c) for c in cps[(f >= 0x61) & (f <= 0x7A)]}
    letter.update(range(0x41, 0x5B))
    letter.update(range(0x61, 0x7B))
    return frozenset(digit), frozenset(letter)


def _fast_class(points: Iterable[int]) -> str:
    """A regex for one character of ``points``, quick to test: the BMP ones listed one by one
    (``re`` tests them with a bitmap) and the astral ones (math alphanumerics) as ranges
    behind a one-range guard. As one class of ranges, ``re`` tested every astral range for
    every character that is not in the set (most of a Chinese text): the piece search took
    ~0.25 us per character, ~4x this."""
    pts = sorted(set(points))
    bmp = "".join(re.escape(chr(p)) for p in pts if p <= 0xFFFF)
    astral = [p for p in pts if p > 0xFFFF]
    if not astral:
        return f"[{bmp}]"
    out: list[str] = []
    i = 0
    while i < len(astral):
        j = i
        while j + 1 < len(astral) and astral[j + 1] == astral[j] + 1:
            j += 1
        a, b = re.escape(chr(astral[i])), re.escape(chr(astral[j]))
        out.append(a if i == j else f"{a}-{b}")
        i = j + 1
    return f"(?:[{bmp}]|(?=[\U00010000-\U0010ffff])[{''.join(out)}])"


@cache
def _piece_re() -> re.Pattern[str]:
    digit, letter = _class_points()
    w = _fast_class(digit | letter | set(map(ord, _SYMBOLS)))
    d = _fast_class(digit)
    dots = f"[{re.escape(_DOTS)}]"
    join = rf"(?:{dots}{{1,2}}|(?<={d})[ \t\u3000\-－]{{1,2}}(?={d})|[ \t\u3000]{dots}[ \t\u3000])"
    return re.compile(rf"{w}+(?:{join}{w}+)*")


@cache
def piece_start_search() -> Callable[..., re.Match[str] | None]:
    """``search`` (text, pos) of a character that can start a piece, or of any astral
    character: where the piece search of ``DetectorStream.feed`` tries next. The class lists
    the BMP characters one by one, which ``re`` tests with a bitmap, ~15x faster than the
    ranges of ``_piece_re``."""
    digit, letter = _classes()
    starts = re.compile(f"[{digit}{letter}{re.escape(_SYMBOLS)}]")
    bmp = "".join(
        starts.findall("".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x10000))))
    )
    return re.compile(f"[{re.escape(bmp)}\U00010000-\U0010ffff]").search


@cache
def quiet_search() -> Callable[[str], re.Match[str] | None]:
    """``search`` of what makes a stream segment need the piece search when no piece is open
    before it: two neighbouring characters that a piece may hold (word characters, dots,
    the separators of digits), a word character at the segment's end (a piece that may go
    on), or any astral character. A segment without one (most Chinese text: its numerals
    stand alone, as in 一个 or 统一) holds only pieces of one word character followed by a
    character that no piece holds: complete, and shorter than any hit. The pattern starts
    with one class, which ``re`` scans for with a bitmap test."""
    digit, letter = _class_points()
    word = {p for p in digit | letter | set(map(ord, _SYMBOLS)) if p <= 0xFFFF}
    held = word | set(map(ord, _DOTS + " \t\u3000－"))
    held_bmp = "".join(re.escape(chr(p)) for p in sorted(held))
    word_bmp = "".join(re.escape(chr(p)) for p in sorted(word))
    astral = "\U00010000-\U0010ffff"
    return re.compile(
        f"[{held_bmp}{astral}](?:[{held_bmp}{astral}]|(?<=[{word_bmp}])\\Z|(?<=[{astral}]))"
    ).search


@cache
def _fold_table() -> dict[int, str]:
    """1:1 fold of piece characters to the detector alphabet: ASCII digits and lower-case
    letters, ``@``, ``.`` (for . 。 ． ｡), ``点`` kept, one space for any whitespace."""
    t = tables()

    class Table(dict):
        def __missing__(self, cp: int) -> str:
            ch = chr(cp)
            if ch in _CJK_DIGITS:
                value = _CJK_DIGITS[ch]
            elif ch in ".。．｡":
                value = "."
            elif ch == "＠":
                value = "@"
            elif ch == "－":
                value = "-"
            elif ch.isspace():
                value = " "
            elif not t.cls[cp] and t.fold[cp] < 0x80:
                value = chr(int(t.fold[cp]))
            else:
                value = ch
            self[cp] = value
            return value

    return Table()


# -- what a piece holds --------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![a-z0-9._%+\-])[a-z0-9._%+\-]{1,64}@[a-z0-9\-]{1,63}"
    r"(?: ?[.点] ?[a-z0-9\-]{1,63})*? ?[.点] ?[a-z]{2,24}(?![a-z0-9\-])"
)
_URL = re.compile(
    r"(?:(?<![a-z0-9])(?:https?|ftp)://[^\s]+)"
    r"|(?:(?<![a-z0-9.\-_@])(?:www ?[.点] ?)?(?:[a-z0-9][a-z0-9\-]{0,62} ?[.点] ?)+"
    rf"(?:{_TLDS})(?![a-z0-9\-])(?::[0-9]{{1,5}})?(?:/[^\s]*)?)"
)
_DIGIT_GROUP = re.compile(r"(?<![0-9])[0-9](?:[ .\-]{0,2}[0-9])*(?:[ \-]?x)?(?![0-9])")
_SEP = re.compile(r"[ .\-]+")
_DIGITS_X = re.compile(r"[0-9x]+")
_IM_INSIDE = re.compile(
    r"(?<![a-z0-9])(?:(?P<kw>qq|vx|wx|weixin|wechat)[:=]|(?P<qq>qq)(?=[0-9]))(?P<id>[a-z0-9_\-]+)"
)
_QQ_ID = re.compile(r"[1-9][0-9]{4,10}(?![0-9])")
_WECHAT_ID = re.compile(r"[a-z][a-z0-9_\-]{5,19}(?![a-z0-9_\-])")
_QQ_KEYWORDS = ("qq", "扣扣", "企鹅", "球球", "q号")
_WECHAT_KEYWORDS = (
    "微信",
    "威信",
    "薇信",
    "维信",
    "徽信",
    "魏信",
    "v信",
    "vx",
    "wx",
    "weixin",
    "wechat",
)
IM_KEYWORDS = _QQ_KEYWORDS + _WECHAT_KEYWORDS
_KW_TAIL = re.compile(r"(?:号码|账号|帐号|号|id|是|为|:|：|\s)*$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id_valid(number: str) -> bool:
    """GB 11643-1999: 17 digits (area, birth date, sequence) and an ISO 7064 MOD 11-2 check
    character (``0``-``9`` or ``X``)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if number[0] not in "123456789":
        return False
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def luhn_valid(number: str) -> bool:
    """The Luhn (mod 10) check of bank card numbers."""
    total = 0
    for i, c in enumerate(reversed(number)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _classify_number(digits: str) -> str | None:
    n = len(digits)
    if n < MIN_DIGITS:
        return None
    if n == 18 and resident_id_valid(digits):
        return "resident_id"
    if "x" in digits:
        return None
    if n == 11 and digits[0] == "1" and digits[1] in "3456789":
        return "mobile_phone"
    if n == 13 and digits.startswith("86") and digits[2] == "1" and digits[3] in "3456789":
        return "mobile_phone"
    if n == 15 and digits.startswith("0086") and digits[4] == "1" and digits[5] in "3456789":
        return "mobile_phone"
    if 16 <= n <= 19 and (digits[0] in "3456") and luhn_valid(digits):
        return "bank_card"
    if n == 10 and digits[:3] in ("400", "800"):
        return "landline_phone"
    if digits[0] == "0" and digits[1] != "0":
        area = 3 if digits[1] in "12" else 4
        if 7 <= n - area <= 8 and digits[area] in "23456789":
            return "landline_phone"
    return None


#: Most digits of a number a detector reports (bank cards: 19; 0086 + a mobile: 15).
_MAX_DIGITS = 19
#: The lengths ``_classify_number`` can accept (landlines 10-12, mobiles 11/13/15, bank cards
#: 16-19, resident ids 18): other candidates are skipped unjoined, which matters in long runs
#: of numbers (statistics tables), where each start would otherwise try several lengths.
_NUMBER_LENGTHS = frozenset({10, 11, 12, 13, 15, 16, 17, 18, 19})


def _numbers(folded: str) -> list[tuple[int, int, str]]:
    """Numbers in a folded piece: each digit group whole, else its longest run of
    separator-delimited parts that is a number (``13800138000 2024`` holds a mobile)."""
    out: list[tuple[int, int, str]] = []
    for m in _DIGIT_GROUP.finditer(folded):
        s, e = m.span()
        if e - s < 5:
            continue
        parts = [p.span() for p in _DIGITS_X.finditer(folded, s, e)]
        lengths = [b - a for a, b in parts]
        i = 0
        while i < len(parts):
            found = None
            digits = 0
            j = i
            while j < len(parts) and digits + lengths[j] <= _MAX_DIGITS:
                digits += lengths[j]
                j += 1
            for k in range(j, i, -1):  # longest first
                if k < j:
                    digits -= lengths[k]
                if digits not in _NUMBER_LENGTHS:  # (the separators between parts are _SEP)
                    continue
                a, b = parts[i][0], parts[k - 1][1]
                name = _classify_number(_SEP.sub("", folded[a:b]))
                if name is not None:
                    found = (a, b, name, k)
                    break
            if found is None:
                i += 1
                continue
            out.append(found[:3])
            i = found[3]
    return out


def _im_from_context(context: str) -> str | None:
    """The account kind a keyword at the end of ``context`` (folded) announces, if any."""
    tail = _KW_TAIL.sub("", context)
    for kw in _QQ_KEYWORDS:
        if tail.endswith(kw):
            return "qq"
    for kw in _WECHAT_KEYWORDS:
        if tail.endswith(kw):
            return "wechat"
    return None


def _im_ids(folded: str, context: Callable[[], str]) -> list[tuple[int, int, str]]:
    out = []
    qq, wechat = _QQ_ID.match(folded), _WECHAT_ID.match(folded)
    if qq or wechat:  # an id starts the piece: is a keyword just before it?
        kind = _im_from_context(context())
        m = qq if kind == "qq" else wechat if kind == "wechat" else None
        if m:
            out.append((0, m.end(), kind))
    for m in _IM_INSIDE.finditer(folded):
        kind = "qq" if "qq" in (m.group("kw"), m.group("qq")) else "wechat"
        id_start = m.start("id")
        m2 = (_QQ_ID if kind == "qq" else _WECHAT_ID).match(folded, id_start)
        if m2:
            out.append((id_start, m2.end(), kind))
    return out


def detect_piece(
    text: str, start: int, end: int, enabled: frozenset[str], base: int = 0
) -> list[Detected]:
    """Detector hits inside the piece ``text[start:end]``; ``text`` starts at original offset
    ``base``."""
    if end - start < 4:  # shorter than any hit (x.cn, a QQ number has 5 digits)
        return []
    raw = text[start:end]
    folded = raw.translate(_fold_table())
    hits: list[tuple[int, int, str]] = []
    if "@" in folded and "email" in enabled:
        hits += [(m.start(), m.end(), "email") for m in _EMAIL.finditer(folded)]
    if ("." in folded or "点" in folded or "://" in folded) and "url" in enabled:
        taken = [(s, e) for s, e, _ in hits]
        for m in _URL.finditer(folded):
            s, e = m.span()
            if not any(a < e and s < b for a, b in taken):
                hits.append((s, e, "url"))
    if len(folded) >= 5:
        hits += [h for h in _numbers(folded) if h[2] in enabled]
    if "qq" in enabled or "wechat" in enabled:

        def context() -> str:
            return text[max(0, start - CONTEXT) : start].translate(_fold_table())

        hits += [h for h in _im_ids(folded, context) if h[2] in enabled]
    seen: set[tuple[int, int, str]] = set()
    out = []
    for s, e, name in sorted(hits):
        if (s, e, name) in seen:
            continue
        seen.add((s, e, name))
        span = raw[s:e]
        plain = span.isascii() and not any(c.isspace() for c in span)
        out.append(Detected(base + start + s, base + start + e, name, plain))
    return out


# -- whole texts and streams ---------------------------------------------------------------


def detect_text(text: str, enabled: frozenset[str], start: int = 0) -> list[Detected]:
    """Every detector hit in ``text[start:]`` (the reference: every piece examined)."""
    out: list[Detected] = []
    for m in _piece_re().finditer(text, start):
        out += detect_piece(text, m.start(), m.end(), enabled)
    return out


@cache
def _piece_char() -> re.Pattern[str]:
    digit, letter = _class_points()
    return re.compile(_fast_class(digit | letter | set(map(ord, _SYMBOLS + _DOTS + " \t\u3000－"))))


def _piece_start(text: str, pos: int) -> int:
    """A position at or before ``pos`` that no piece crosses (the character before it cannot
    be part of one), so a left-to-right search from it finds the pieces of the whole text."""
    is_piece_char = _piece_char().match
    i = pos
    while i > 0 and is_piece_char(text, i - 1):
        i -= 1
    return i


def detect_anchored(
    text: str, ranges: Iterable[tuple[int, int]], enabled: frozenset[str]
) -> list[Detected]:
    """The hits of ``detect_text(text)`` in the pieces that intersect one of ``ranges``
    (``[lo, hi)`` original offsets): the one-shot fast path, which finds where pieces with a
    hit may be with numpy (see scanner.py) and examines only those."""
    pattern = _piece_re()
    done = -1  # pieces ending at or before this were examined
    out: list[Detected] = []
    for lo, hi in sorted(ranges):
        start = max(done, _piece_start(text, lo)) if done <= lo else done
        for m in pattern.finditer(text, start):
            if m.start() >= hi:
                break
            done = m.end()
            if m.end() > lo:
                out += detect_piece(text, m.start(), m.end(), enabled)
    return out


class DetectorStream:
    """Incremental detection over a stream: pieces are examined once they are complete."""

    __slots__ = ("enabled", "pos")

    def __init__(self, enabled: frozenset[str]) -> None:
        self.enabled = enabled
        self.pos = 0  # original offset before which everything has been examined

    def feed(self, text: str, text_base: int, total: int, final: bool) -> list[Detected]:
        """Examine the complete pieces of ``text`` (which starts at ``text_base`` and runs to
        ``total``) after ``self.pos``. Afterwards ``self.pos`` is where text may still be part
        of a piece that is not complete: nothing from there on may be released.

        The pieces are those of ``_piece_re().finditer``, found by jumping to each possible
        start with ``piece_start_search`` (a bitmap class) and matching there: ``finditer``
        tries the piece pattern's alternation at every character in between (~0.06 us each,
        most of a stream chunk's detector time)."""
        out: list[Detected] = []
        match = _piece_re().match
        next_start = piece_start_search()
        s = self.pos - text_base
        n = len(text)
        while (start := next_start(text, s)) is not None:
            m = match(text, start.start())
            if m is None:  # an astral character that cannot start a piece
                s = start.end()
                continue
            s, e = m.span()
            if not final and (e == n or (n - e < 4 and _may_continue(text, e))):
                self.pos = text_base + s
                return out
            out += detect_piece(text, s, e, self.enabled, text_base)
            s = e
        self.pos = total if final else _hold_from(text, text_base, n)
        return out


_CONTINUES = re.compile(r"[ \t\u3000\-－.。．｡点]{1,3}$")


def _may_continue(text: str, end: int) -> bool:
    """Whether what follows a piece ending at ``end`` (up to the end of ``text``) may still
    join a next run to it."""
    return _CONTINUES.match(text, end) is not None


def _hold_from(text: str, text_base: int, n: int) -> int:
    """With no piece open: the position from which a piece may still start (a trailing
    word character cannot be, it would be a piece; only the text end is left)."""
    return text_base + n
