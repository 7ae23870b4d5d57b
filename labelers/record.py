"""The GB 45438-2025 Annex E implicit label record.

Seven string fields in Annex E order: ``Label``, ``ContentProducer``, ``ProduceID``,
``ReservedCode1``, ``ContentPropagator``, ``PropagateID``, ``ReservedCode2``.

Judgement calls (see ``shared/reference/labeling.md``):

- Charset (Annex E j): values consist of 0x21, 0x23-0x5B, 0x5D-0x7E and the escaped quote
  ``\\"``. In decoded terms: printable ASCII without space and without backslash; a ``"`` is
  allowed only because Annex E j) allows ``\\"`` (PG-SEC SecurityData travels as a JSON string
  inside ReservedCode1/2). Values longer than 2048 characters are refused (Tencent CI limit).
- ``to_json`` writes the bare 7-field object (for carriers whose key is already named AIGC);
  ``to_wrapped_json`` writes ``{"AIGC":{...}}`` for generic carriers (labeling.md §3.5).
- ``parse`` accepts bare or wrapped JSON and tolerates a numeric Label (reported as a problem
  by :func:`parse_record`, which inspection uses).
- Provider codes (TC260-PG-20252A): ``^00[0-9A-Z]{25}$``; position 23 is ``1`` for a
  generation service, ``2`` for a propagation service, or the extension is ``00000``.
  Records read from files may carry bare names (``doubao``); those parse, and inspection
  reports them as a problem. Our own settings require a valid code.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any

from .errors import LabelFormatError

__all__ = [
    "FIELDS",
    "LABEL_VALUES",
    "LabelRecord",
    "check_provider_code",
    "new_produce_id",
    "parse_record",
]

FIELDS: tuple[str, ...] = (
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
)
_ATTRS = (
    "label",
    "content_producer",
    "produce_id",
    "reserved_code1",
    "content_propagator",
    "propagate_id",
    "reserved_code2",
)
LABEL_VALUES = ("1", "2", "3")
MAX_VALUE_LENGTH = 2048

_VALUE_RE = re.compile(r"[\x21-\x5B\x5D-\x7E]*")
_CODE_RE = re.compile(r"00[0-9A-Z]{25}")


def _value_problem(name: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"{name}: value must be a JSON string, got {type(value).__name__}"
    if len(value) > MAX_VALUE_LENGTH:
        return f"{name}: longer than {MAX_VALUE_LENGTH} characters"
    if not _VALUE_RE.fullmatch(value):
        return f"{name}: characters outside Annex E j) (printable ASCII, no space or backslash)"
    return None


def check_provider_code(code: str, *, role: str = "producer") -> list[str]:
    """Problems of a TC260-PG-20252A provider code (empty list when valid).

    ``role`` is ``"producer"`` (service extension starts with ``1``) or ``"propagator"``
    (starts with ``2``); the extension ``00000`` (unused) is valid for both.
    """
    if not _CODE_RE.fullmatch(code):
        return [f"{role} code {code!r} is not a 27-character TC260-PG-20252A code (00 + 25 [0-9A-Z])"]
    expected = "1" if role == "producer" else "2"
    if code[22:] != "00000" and code[22] != expected:
        return [f"{role} code {code!r}: position 23 must be {expected!r} (or extension 00000)"]
    return []


def new_produce_id() -> str:
    """A new unique content id (32 lowercase hex digits, a random UUID)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class LabelRecord:
    """One GB 45438 Annex E record; validated on construction (raises LabelFormatError)."""

    label: str
    content_producer: str = ""
    produce_id: str = ""
    reserved_code1: str = ""
    content_propagator: str = ""
    propagate_id: str = ""
    reserved_code2: str = ""

    def __post_init__(self) -> None:
        if self.label not in LABEL_VALUES:
            raise LabelFormatError(f"Label must be one of '1', '2', '3', got {self.label!r}")
        for name, attr in zip(FIELDS, _ATTRS, strict=True):
            problem = _value_problem(name, getattr(self, attr))
            if problem:
                raise LabelFormatError(problem)

    def to_dict(self) -> dict[str, str]:
        """The 7 fields keyed by their Annex E names, in Annex E order."""
        values = asdict(self)
        return {name: values[attr] for name, attr in zip(FIELDS, _ATTRS, strict=True)}

    def to_json(self) -> str:
        """Compact bare JSON object, 7 fields in Annex E order."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=True)

    def to_wrapped_json(self) -> str:
        """Compact ``{"AIGC":{...}}`` form (Annex E b), for generic carriers."""
        return json.dumps({"AIGC": self.to_dict()}, separators=(",", ":"), ensure_ascii=True)

    def replace(self, **changes: str) -> LabelRecord:
        """A copy with some attributes changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> LabelRecord:
        """Build from a mapping with the Annex E keys (all 7 required, string values)."""
        record, problems = _from_mapping(fields)
        if record is None:
            raise LabelFormatError("; ".join(problems))
        return record

    @classmethod
    def parse(cls, text: str | bytes) -> LabelRecord:
        """Parse bare or ``{"AIGC": {...}}`` wrapped JSON; raises LabelFormatError.

        Tolerates a numeric Label (``1`` -> ``"1"``) as real producers write it.
        """
        record, problems = parse_record(text)
        if record is None:
            raise LabelFormatError("; ".join(problems) or "not an AIGC record")
        return record


def _from_mapping(fields: Any) -> tuple[LabelRecord | None, list[str]]:
    problems: list[str] = []
    if not isinstance(fields, dict):
        return None, ["record is not a JSON object"]
    missing = [k for k in FIELDS if k not in fields]
    if missing:
        problems.append("missing keys: " + ", ".join(missing))
    extra = [k for k in fields if k not in FIELDS]
    if extra:
        problems.append("unknown keys: " + ", ".join(map(str, extra)))
    values: dict[str, str] = {}
    fatal = bool(missing)
    for name, attr in zip(FIELDS, _ATTRS, strict=True):
        value = fields.get(name, "")
        if name == "Label" and isinstance(value, int) and not isinstance(value, bool):
            problems.append("Label: numeric value, Annex E c) requires a string")
            value = str(value)
        problem = _value_problem(name, value)
        if problem:
            problems.append(problem)
            fatal = True
        values[attr] = value if isinstance(value, str) else ""
    if values["label"] not in LABEL_VALUES:
        problems.append(f"Label must be one of '1', '2', '3', got {values['label']!r}")
        fatal = True
    if fatal:
        return None, problems
    return LabelRecord(**values), problems


def parse_record(text: str | bytes) -> tuple[LabelRecord | None, list[str]]:
    """Lenient parse for inspection: ``(record or None, problems)``; never raises."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return None, ["record is not UTF-8"]
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None, ["record is not valid JSON"]
    problems: list[str] = []
    if isinstance(data, dict) and set(data) == {"AIGC"}:
        data = data["AIGC"]
        if isinstance(data, str):  # doubly encoded, seen in the wild
            problems.append("AIGC value is a JSON string, not an object")
            try:
                data = json.loads(data)
            except ValueError:
                return None, [*problems, "record is not valid JSON"]
    record, more = _from_mapping(data)
    return record, problems + more
