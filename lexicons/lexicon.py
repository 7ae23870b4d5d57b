"""The public :class:`Lexicon` object and :func:`load_lexicon`."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .compiled import Compiled, compile_sources, load_cached, store_cached
from .loader import compute_version, read_sources
from .normalize import tables
from .scanner import Match, StreamScanner, mask_text, scan_text
from .taxonomy import Taxonomy
from .wordfreq import use_cache_dir

__all__ = ["Lexicon", "load_lexicon"]

PathLike = str | os.PathLike[str]


class Lexicon:
    """A compiled, immutable lexicon. Safe to share between threads and tasks.

    Reloading builds a new ``Lexicon``; scans and streams in flight keep the one they hold.
    """

    __slots__ = ("_c", "_counts")

    def __init__(self, compiled: Compiled) -> None:
        self._c = compiled
        self._counts: dict[str, int] | None = None

    @property
    def version(self) -> str:
        """Content hash of the lexicon files, ``"sha256:<16 hex>"``."""
        return self._c.version

    @property
    def taxonomy(self) -> Taxonomy:
        """The categories (bundled taxonomy plus any from the lexicon directories)."""
        return self._c.taxonomy

    @property
    def term_count(self) -> int:
        """Number of (term, category) pairs loaded (a term in two categories counts twice)."""
        return self._c.term_count

    @property
    def max_term_length(self) -> int:
        """Longest term, in normalised characters."""
        return self._c.max_term_length

    def counts_by_category(self) -> dict[str, int]:
        """Terms per category id (the spellings of opt-in folds not counted)."""
        if self._counts is None:
            counts = Counter(e.category for e in self._c.entries if not e.variant)
            self._counts = dict(sorted(counts.items()))
        return dict(self._counts)

    def iter_terms(self) -> Iterator[tuple[str, str, str, str]]:
        """``(term, category, action, severity)`` of every loaded term, in file order."""
        for e in self._c.entries:
            if not e.variant:
                yield e.term, e.category, e.action, e.severity

    def scan(self, text: str) -> list[Match]:
        """Every match in ``text``, sorted by (start, end, category)."""
        if not isinstance(text, str):
            raise TypeError("text must be str")
        return scan_text(self._c, text)

    def mask(self, text: str, matches: Iterable[Match], char: str = "*") -> str:
        """``text`` with exactly the original spans of ``matches`` replaced by ``char``."""
        if len(char) != 1:
            raise ValueError("char must be a single character")
        return mask_text(text, [(m.start, m.end) for m in matches], char)

    def stream(
        self, mask: Callable[[Match], bool] | None = None, mask_char: str = "*"
    ) -> StreamScanner:
        """A new :class:`StreamScanner`; ``mask`` defaults to action in ("mask", "block")."""
        return StreamScanner(self._c, mask=mask, mask_char=mask_char)

    def __repr__(self) -> str:
        return f"<Lexicon {self.version} terms={self.term_count}>"


def load_lexicon(
    dirs: Iterable[PathLike] | PathLike | None = None,
    *,
    cache_dir: PathLike | None = None,
    pinyin_categories: Iterable[str] = (),
    one_shot: bool = False,
) -> Lexicon:
    """Load and compile lexicon directories (DESIGN §3.2) into a :class:`Lexicon`.

    ``dirs`` None or empty -> the bundled sample lexicon; several directories merge. With
    ``cache_dir`` the compiled form is cached on disk, keyed by the content version, so a restart
    or another worker loads it instead of compiling, and so are the normalisation tables and the
    index of jieba's dictionary for word boundaries (``wordfreq``). Opt-in folds (pinyin,
    homophones, split characters, ...) and detectors are set in each directory's ``lexicon.toml``;
    ``pinyin_categories`` (the service's setting of that name) adds the ``pinyin`` and
    ``initials`` folds to those categories, as ``lexicon.toml`` would. ``one_shot``: the caller
    makes one-shot scans (``aigc-gateway scan``), so what only streams use is left in the
    cache's pickled form until first used, instead of being loaded now.

    Raises :class:`~lexicons.LexiconFormatError` (file, line, reason) for malformed files.
    """
    if dirs is None:
        paths: list[Path] = []
    elif isinstance(dirs, str | os.PathLike):
        paths = [Path(dirs)]
    else:
        paths = [Path(d) for d in dirs]
    pinyin = tuple(sorted(set(pinyin_categories)))
    version = compute_version(paths, extra="pinyin=" + ",".join(pinyin))
    tables(cache_dir)  # build (or read) the normalisation tables now, not in the first scan
    use_cache_dir(cache_dir)  # where the word-boundary index is cached (loaded on first use)
    if cache_dir is not None:
        cached = load_cached(Path(cache_dir), version, defer=one_shot)
        if cached is not None:
            return Lexicon(cached)
    extra = {category: frozenset({"pinyin", "initials"}) for category in pinyin}
    compiled = compile_sources(read_sources(paths, extra), version)
    if cache_dir is not None:
        store_cached(Path(cache_dir), compiled)
    return Lexicon(compiled)
