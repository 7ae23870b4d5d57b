"""The compiled, immutable form of a lexicon: one Aho-Corasick automaton plus payload tables.

Keys are the compact normalised terms, added to pyahocorasick as UTF-8 bytes spelled as
latin-1 characters (matcher.md §8.1): the root fan-out drops from thousands of code points to a
few lead bytes, which makes pyahocorasick's linear child scan several times faster on CJK
lexicons. UTF-8 is self-synchronising, so hits always start and end on character boundaries.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import ahocorasick
import numpy as np

from .loader import SourceData, default_severity
from .normalize import NORMALIZER_VERSION
from .taxonomy import Taxonomy

__all__ = [
    "Compiled",
    "Entry",
    "FastTables",
    "compile_sources",
    "load_cached",
    "store_cached",
]

_CACHE_FORMAT = 5


class Entry(NamedTuple):
    """Payload of one (term, category) pair, resolved against the taxonomy (a tuple: cheap to
    unpickle from the cache)."""

    term: str
    category: str
    action: str
    severity: str
    word: bool  # match=word
    latin_start: bool  # first / last key character is a Latin letter or digit
    latin_end: bool
    pinyin: bool


class EntryTable:
    """The entries as columns (a few lists instead of one tuple per entry): fewer objects for
    the garbage collector to walk, and fast to unpickle from the cache."""

    __slots__ = ("_cols",)

    def __init__(self, entries: list[Entry]) -> None:
        cols = tuple(list(col) for col in zip(*entries, strict=True))
        self._cols = cols or tuple([] for _ in Entry._fields)

    def __getitem__(self, i: int) -> Entry:
        term, cat, action, sev, word, ls, le, pinyin = self._cols
        return Entry(term[i], cat[i], action[i], sev[i], word[i], ls[i], le[i], pinyin[i])

    def __len__(self) -> int:
        return len(self._cols[0])

    @property
    def columns(self) -> tuple[list, ...]:
        """The columns, in :class:`Entry` field order."""
        return self._cols

    def __iter__(self):
        return map(Entry._make, zip(*self._cols, strict=True))

    def __getstate__(self):
        return self._cols

    def __setstate__(self, cols) -> None:
        self._cols = cols


class KeyEntries:
    """Entry ids of each key id, as flat numpy arrays (``flat[off[k] : off[k] + nent[k]]``).

    ``memo`` is a per-process cache that the streaming scanner fills per key id (not pickled).
    """

    __slots__ = ("flat", "memo", "nent", "off")

    def __init__(self, key_entries: list[list[int]]) -> None:
        self.nent = np.array([len(e) for e in key_entries], dtype=np.int64)
        self.off = np.zeros(len(key_entries), dtype=np.int64)
        if len(key_entries) > 1:
            np.cumsum(self.nent[:-1], out=self.off[1:])
        self.flat = np.array([i for e in key_entries for i in e], dtype=np.int64)
        self.memo: dict = {}

    def __getitem__(self, kid: int) -> list[int]:
        o = int(self.off[kid])
        return self.flat[o : o + int(self.nent[kid])].tolist()

    def __getstate__(self):
        return (self.flat, self.nent, self.off)

    def __setstate__(self, state) -> None:
        self.flat, self.nent, self.off = state
        self.memo = {}


@dataclass(frozen=True, slots=True)
class Compiled:
    """Everything a scan needs; picklable for the on-disk cache."""

    version: str
    taxonomy: Taxonomy
    automaton: ahocorasick.Automaton
    key_len: tuple[int, ...]  # compact length (chars) of each key id
    key_entries: KeyEntries  # deny entries of each key id
    key_allow: tuple[bool, ...]  # key is (also) an allow-list phrase
    entries: EntryTable
    open_prefixes: frozenset[str]  # every proper prefix of a key (a longer key may follow)
    open_prefix_ends: dict[str, int]  # last character of an open prefix -> its longest length
    max_key_len: int  # longest key, deny or allow
    max_term_length: int  # longest deny key
    term_count: int  # number of (term, category) pairs from the files, pinyin excluded
    fast: FastTables | None  # second engine for one-shot scans (daachorse), when installed


@dataclass(frozen=True, slots=True)
class FastTables:
    """daachorse automaton over the same keys (pattern id = key id) and numpy payload tables."""

    automaton: object  # daachorse.CharwiseDoubleArrayAhoCorasick
    key_allow: np.ndarray  # bool per key
    entry_rank: np.ndarray  # rank of (category, term): the order of matches at one span
    entry_word: np.ndarray  # bool per entry


def _fast_tables(keys: list[str], key_allow, entries) -> FastTables | None:
    try:
        import daachorse
    except ImportError:
        return None
    if not keys:
        return None
    order = sorted(range(len(entries)), key=lambda i: (entries[i].category, entries[i].term))
    rank = np.empty(len(entries), dtype=np.int64)
    rank[order] = np.arange(len(entries))
    return FastTables(
        automaton=daachorse.CharwiseDoubleArrayAhoCorasick(keys),
        key_allow=np.array(key_allow, dtype=bool),
        entry_rank=rank,
        entry_word=np.array([e.word for e in entries], dtype=bool),
    )


def _is_latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _pinyin_forms(key: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    if not all("\u4e00" <= ch <= "\u9fff" for ch in key):
        return []
    syllables = lazy_pinyin(key, style=Style.NORMAL, errors="ignore")
    if len(syllables) != len(key):
        return []
    forms = ["".join(syllables)]
    if len(key) >= 4:  # initials of short terms fire on too many unrelated abbreviations
        forms.append("".join(s[0] for s in syllables))
    return forms


def compile_sources(
    data: SourceData, version: str, pinyin_categories: tuple[str, ...] = ()
) -> Compiled:
    """Build the automaton and the payload tables from parsed lexicon files."""
    taxonomy = data.taxonomy
    entries: list[Entry] = []
    key_ids: dict[str, int] = {}
    key_entries: list[list[int]] = []
    key_allow: list[bool] = []

    def key_id(key: str) -> int:
        kid = key_ids.get(key)
        if kid is None:
            kid = key_ids[key] = len(key_entries)
            key_entries.append([])
            key_allow.append(False)
        return kid

    def add(key: str, entry: Entry) -> None:
        key_entries[key_id(key)].append(len(entries))
        entries.append(entry)

    pinyin_set = set(pinyin_categories)
    for te in data.entries:
        category = taxonomy.get(te.category)
        action = te.action or (category.default_action if category else "flag")
        severity = te.severity or default_severity(action)
        all_latin = te.key.isascii() and te.key.isalnum()
        word = te.match == "word" if te.match else all_latin
        entry = Entry(
            term=te.term,
            category=te.category,
            action=action,
            severity=severity,
            word=word,
            latin_start=_is_latin(te.key[0]),
            latin_end=_is_latin(te.key[-1]),
            pinyin=False,
        )
        add(te.key, entry)
        if te.category in pinyin_set:
            for form in _pinyin_forms(te.key):
                add(form, Entry(te.term, te.category, action, severity, True, True, True, True))
    for key in data.allow:
        key_allow[key_id(key)] = True

    keys = sorted(key_ids.items(), key=lambda kv: kv[1])
    # Insert keys whose first character is frequent first: pyahocorasick scans a node's children
    # linearly in insertion order, so frequent branches should come first.
    first_freq = Counter(key[0] for key, _ in keys)
    automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    for key, kid in sorted(keys, key=lambda kv: (-first_freq[kv[0][0]], kv[1])):
        automaton.add_word(key.encode("utf-8").decode("latin-1"), kid)
    automaton.make_automaton()
    key_len = tuple(len(key) for key, _ in keys)
    open_prefixes = frozenset(key[:i] for key, _ in keys for i in range(1, len(key)))
    open_prefix_ends: dict[str, int] = {}
    for p in open_prefixes:
        if len(p) > open_prefix_ends.get(p[-1], 0):
            open_prefix_ends[p[-1]] = len(p)
    deny_lens = [key_len[kid] for kid, ents in enumerate(key_entries) if ents]
    return Compiled(
        version=version,
        taxonomy=taxonomy,
        automaton=automaton,
        key_len=key_len,
        key_entries=KeyEntries(key_entries),
        key_allow=tuple(key_allow),
        entries=EntryTable(entries),
        open_prefixes=open_prefixes,
        open_prefix_ends=open_prefix_ends,
        max_key_len=max(key_len, default=0),
        max_term_length=max(deny_lens, default=0),
        term_count=len(data.entries),
        fast=_fast_tables([key for key, _ in keys], key_allow, entries),
    )


def _cache_path(cache_dir: Path, version: str) -> Path:
    name = version.replace(":", "-")
    return cache_dir / f"lexicon-{name}-{NORMALIZER_VERSION}-v{_CACHE_FORMAT}.pickle"


def load_cached(cache_dir: Path, version: str) -> Compiled | None:
    """The cached compiled lexicon for ``version``, or None (missing or unreadable)."""
    path = _cache_path(cache_dir, version)
    try:
        with open(path, "rb") as fh:
            compiled = pickle.load(fh)
    except (
        OSError,
        pickle.UnpicklingError,
        EOFError,
        AttributeError,
        ImportError,
        TypeError,
        ValueError,
    ):
        return None
    if not isinstance(compiled, Compiled) or compiled.version != version:
        return None
    return compiled


def store_cached(cache_dir: Path, compiled: Compiled) -> None:
    """Write the compiled lexicon atomically (temp file + rename); errors are ignored."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".lexicon-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(compiled, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, _cache_path(cache_dir, compiled.version))
    except OSError:
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
