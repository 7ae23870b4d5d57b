"""What every per-format module provides, and what its readers return.

A format module (``labelers.formats.<name>``) is a plain module with:

    sniff(data: bytes) -> bool                        # by content, never by file name
    media_type(data: bytes) -> str                    # e.g. "image/png"; data already sniffed
    write_implicit(data: bytes, record: LabelRecord) -> bytes
        # exactly one record afterwards: replace ours/others' record in place, never append
    read_implicit(data: bytes) -> list[FoundRecord]   # every carrier found, even broken ones
    add_explicit(data: bytes, settings: LabelSettings) -> bytes

Readers and writers raise ``CorruptFileError`` for corrupt/truncated/hostile input and never
return partial output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..record import LabelRecord, parse_record
from ..settings import LabelSettings

__all__ = ["FoundRecord", "FormatModule"]


@dataclass(slots=True)
class FoundRecord:
    """One AIGC payload found in a file: where (``carrier``), the raw text, the parsed record
    (None when it does not parse) and the problems seen (empty when fully compliant)."""

    carrier: str
    raw: str
    record: LabelRecord | None
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_raw(cls, carrier: str, raw: str | bytes, *, problems: list[str] | None = None
                 ) -> FoundRecord:
        """Parse ``raw`` leniently (bare or wrapped) and collect its problems."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        record, found = parse_record(raw)
        return cls(carrier, text, record, [*(problems or []), *found])

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "carrier": self.carrier,
            "raw": self.raw,
            "record": self.record.to_dict() if self.record else None,
            "problems": list(self.problems),
        }


class FormatModule(Protocol):
    """Structural type of a ``labelers.formats.<name>`` module."""

    def sniff(self, data: bytes) -> bool: ...

    def media_type(self, data: bytes) -> str: ...

    def write_implicit(self, data: bytes, record: LabelRecord) -> bytes: ...

    def read_implicit(self, data: bytes) -> list[FoundRecord]: ...

    def add_explicit(self, data: bytes, settings: LabelSettings) -> bytes: ...
