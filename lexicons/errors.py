"""Errors raised by the lexicons library."""

from __future__ import annotations

__all__ = ["LexiconError", "LexiconFormatError"]


class LexiconError(ValueError):
    """Base class of every error raised by :mod:`lexicons`."""


class LexiconFormatError(LexiconError):
    """A lexicon file is malformed.

    ``file`` is the path of the file, ``line`` the 1-based line number (0 when the problem is
    with the file as a whole) and ``reason`` a short human-readable explanation.
    """

    def __init__(self, file: str, line: int, reason: str) -> None:
        self.file = str(file)
        self.line = line
        self.reason = reason
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # keep pickling (multiprocessing, caches) working
        return (self.__class__, (self.file, self.line, self.reason))
