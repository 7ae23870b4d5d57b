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

from .detectors import DETECTOR_CATEGORIES, IM_KEYWORDS, URL_KEYWORDS
from .errors import LexiconError
from .folds import initials_key, pinyin_keys, repeat_key, split_keys
from .loader import SourceData, default_severity
from .normalize import NORMALIZER_VERSION, normalize_term
from .taxonomy import Taxonomy
from .views import ViewSpec, build_view

__all__ = [
    "Compiled",
    "Entry",
    "FastTables",
    "compile_sources",
    "load_cached",
    "store_cached",
]

_CACHE_FORMAT = 6


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
    variant: str  # "" (exact or normalized, told per hit), else the fold that made the key
    latin: bool  # every key character is a Latin letter or digit
    own_gaps: int  # bit j: the term as written has noise between its characters j and j + 1
    repeat: bool  # the repeat fold is on (a run of one repeated symbol is one unit)


class EntryTable:
    """The entries as columns (a few lists instead of one tuple per entry): fewer objects for
    the garbage collector to walk, and fast to unpickle from the cache."""

    __slots__ = ("_cols",)

    def __init__(self, entries: list[Entry]) -> None:
        cols = tuple(list(col) for col in zip(*entries, strict=True))
        self._cols = cols or tuple([] for _ in Entry._fields)

    def __getitem__(self, i: int) -> Entry:
        return Entry._make(col[i] for col in self._cols)

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
    term_count: int  # number of (term, category) pairs from the files, fold keys excluded
    fast: FastTables | None  # second engine for one-shot scans (daachorse), when installed
    views: tuple[ViewSpec, ...]  # derived views (phonetic, repeat) of opt-in folds
    detectors: frozenset[str]  # detectors turned on
    detector_info: dict[str, tuple[str, str, str]]  # name -> (category, action, severity)
    key_trigger: frozenset[int]  # key ids of detector keywords (one-shot detector anchors)


@dataclass(frozen=True, slots=True)
class FastTables:
    """daachorse automaton over the same keys (pattern id = key id) and numpy payload tables."""

    automaton: object  # daachorse.CharwiseDoubleArrayAhoCorasick
    key_allow: np.ndarray  # bool per key
    entry_rank: np.ndarray  # rank of (category, term): the order of matches at one span
    entry_special: np.ndarray  # bool per entry: match=word or a fold's key (decide.py)
    entry_own_gaps: np.ndarray  # bool per entry: the term as written has noise inside
    key_trigger: np.ndarray  # bool per key: a QQ/WeChat keyword (detector anchor)


def _fast_tables(
    keys: list[str], key_allow, entries, n_keys: int, triggers: set[int]
) -> FastTables | None:
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
        key_allow=np.array(key_allow[:n_keys], dtype=bool),
        entry_rank=rank,
        entry_special=np.array([e.word or bool(e.variant) for e in entries], dtype=bool),
        entry_own_gaps=np.array([e.own_gaps != 0 for e in entries], dtype=bool),
        key_trigger=np.isin(np.arange(n_keys), sorted(triggers)),
    )


def _is_latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def compile_sources(
    data: SourceData, version: str, pinyin_categories: tuple[str, ...] = ()
) -> Compiled:
    """Build the automata and the payload tables from parsed lexicon files.

    ``pinyin_categories`` is accepted for callers of the old API; the loader turns it into
    the ``pinyin`` and ``initials`` folds of those categories (see ``load_lexicon``).
    """
    del pinyin_categories
    taxonomy = data.taxonomy
    entries: list[Entry] = []
    key_ids: dict[str, int] = {}  # main-view keys
    view_entries: dict[str, dict[str, list[Entry]]] = {"phonetic": {}, "repeat": {}}
    key_entries: list[list[int]] = []
    key_allow: list[bool] = []
    key_len: list[int] = []

    def new_key(length: int) -> int:
        key_entries.append([])
        key_allow.append(False)
        key_len.append(length)
        return len(key_entries) - 1

    def key_id(key: str) -> int:
        kid = key_ids.get(key)
        if kid is None:
            kid = key_ids[key] = new_key(len(key))
        return kid

    def add(kid: int, entry: Entry) -> None:
        key_entries[kid].append(len(entries))
        entries.append(entry)

    for te in data.entries:
        category = taxonomy.get(te.category)
        action = te.action or (category.default_action if category else "flag")
        severity = te.severity or default_severity(action)
        all_latin = te.key.isascii() and te.key.isalnum()
        word = te.match == "word" if te.match else all_latin
        repeat = "repeat" in te.folds
        base = Entry(
            term=te.term,
            category=te.category,
            action=action,
            severity=severity,
            word=word,
            latin_start=_is_latin(te.key[0]),
            latin_end=_is_latin(te.key[-1]),
            variant="",
            latin=all_latin,
            own_gaps=te.own_gaps,
            repeat=repeat,
        )
        add(key_id(te.key), base)
        if not te.folds:
            continue
        derived = base._replace(own_gaps=0)
        if "initials" in te.folds and (form := initials_key(te.key)):
            latin = derived._replace(
                word=True, latin_start=True, latin_end=True, latin=True, variant="initials"
            )
            add(key_id(form), latin)
        if "split" in te.folds:
            for form in split_keys(te.key):
                add(key_id(form), derived._replace(variant="split"))
        phonetic = [f for f in ("pinyin", "mixed", "homophone") if f in te.folds]
        if phonetic:
            for form in pinyin_keys(te.key):
                bucket = view_entries["phonetic"].setdefault(form, [])
                bucket += [derived._replace(variant=v, word=False) for v in phonetic]
        if repeat:
            bucket = view_entries["repeat"].setdefault(repeat_key(te.key), [])
            bucket.append(derived._replace(variant="repeat"))
    for key in data.allow:
        key_allow[key_id(key)] = True
    # keywords near which a detector may report something: anchors of the one-shot scan
    keywords = IM_KEYWORDS if data.detectors & {"qq", "wechat"} else ()
    if "url" in data.detectors:
        keywords += URL_KEYWORDS
    triggers = {key_id(normalize_term(kw)) for kw in keywords}
    n_main = len(key_entries)  # main-view keys are 0..n_main-1 (daachorse pattern ids)
    view_keys: dict[str, dict[str, int]] = {}
    for kind, forms in view_entries.items():
        view_keys[kind] = {}
        for form, bucket in forms.items():
            kid = view_keys[kind][form] = new_key(len(form))
            for entry in bucket:
                add(kid, entry)

    keys = sorted(key_ids.items(), key=lambda kv: kv[1])
    # Insert keys whose first character is frequent first: pyahocorasick scans a node's children
    # linearly in insertion order, so frequent branches should come first.
    first_freq = Counter(key[0] for key, _ in keys)
    automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    for key, kid in sorted(keys, key=lambda kv: (-first_freq[kv[0][0]], kv[1])):
        automaton.add_word(key.encode("utf-8").decode("latin-1"), kid)
    automaton.make_automaton()
    open_prefixes = frozenset(key[:i] for key, _ in keys for i in range(1, len(key)))
    open_prefix_ends: dict[str, int] = {}
    for p in open_prefixes:
        if len(p) > open_prefix_ends.get(p[-1], 0):
            open_prefix_ends[p[-1]] = len(p)
    views = []
    for kind, forms in view_keys.items():
        if forms:
            try:
                views.append(build_view(kind, forms))
            except ImportError:
                raise LexiconError(f"the {kind} folds need the daachorse package") from None
    main_lens = [key_len[kid] for _, kid in keys]
    deny_lens = [key_len[kid] for _, kid in keys if key_entries[kid]]
    detector_info = {}
    for name in sorted(data.detectors):
        cat = DETECTOR_CATEGORIES[name]
        info = taxonomy.get(cat)
        action = info.default_action if info else "mask"
        detector_info[name] = (cat, action, default_severity(action))
    return Compiled(
        version=version,
        taxonomy=taxonomy,
        automaton=automaton,
        key_len=tuple(key_len),
        key_entries=KeyEntries(key_entries),
        key_allow=tuple(key_allow),
        entries=EntryTable(entries),
        open_prefixes=open_prefixes,
        open_prefix_ends=open_prefix_ends,
        max_key_len=max(main_lens, default=0),
        max_term_length=max(deny_lens, default=0),
        term_count=len(data.entries),
        fast=_fast_tables([key for key, _ in keys], key_allow, entries, n_main, triggers),
        views=tuple(views),
        detectors=data.detectors,
        detector_info=detector_info,
        key_trigger=frozenset(triggers),
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
