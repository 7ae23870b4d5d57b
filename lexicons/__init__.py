"""Evasion-resistant, offset-exact, streaming lexicon matcher for Chinese and English text.

    >>> from lexicons import load_lexicon
    >>> lex = load_lexicon()              # the bundled SAMPLE lexicon
    >>> [m.term for m in lex.scan("出售冰 毒")]
    ['冰毒']

See ``docs/lexicons.md`` for the lexicon file format and the matching rules.
"""

from __future__ import annotations

import typing as _typing

from .detectors import DETECTORS
from .errors import LexiconError, LexiconFormatError
from .folds import FOLDS
from .lexicon import Lexicon, load_lexicon
from .scanner import Match, StreamOutput, StreamScanner
from .taxonomy import Category, Taxonomy

if _typing.TYPE_CHECKING:
    from .coverage import CoverageReport, CoverageRow, coverage_report, export_csv

#: Imported on first use: scanning needs none of them (``aigc-gateway scan`` start-up).
_COVERAGE = frozenset({"CoverageReport", "CoverageRow", "coverage_report", "export_csv"})


def __getattr__(name: str) -> object:
    if name in _COVERAGE:
        from . import coverage

        value = globals()[name] = getattr(coverage, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _COVERAGE)


__all__ = [
    "Category",
    "CoverageReport",
    "CoverageRow",
    "DETECTORS",
    "FOLDS",
    "Lexicon",
    "LexiconError",
    "LexiconFormatError",
    "Match",
    "StreamOutput",
    "StreamScanner",
    "Taxonomy",
    "coverage_report",
    "export_csv",
    "load_lexicon",
]
