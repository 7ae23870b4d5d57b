"""Public operations: label, inspect and propagate a file; label a text.

Judgement calls:

- The format is sniffed from the bytes; a file name or declared media type never overrides
  it (a ``.jpg`` that is a PDF is labeled as a PDF). They only choose between plain text and
  Markdown, which content cannot always tell apart.
- Idempotency: a file that already carries *our* record (same ``ContentProducer``) keeps its
  ``ProduceID`` and gets no second explicit label; duplicate copies of our record collapse to
  one. A file carrying another producer's record, or an unparsable AIGC payload, is refused
  (``LabelConflictError``): re-labeling it would rewrite another party's label (M Art. 10);
  ``propagate_file`` is the right call.
- Propagation (M Art. 6): an existing record keeps Label, ContentProducer, ProduceID and
  ReservedCode1 byte for byte; we fill ContentPropagator/PropagateID (and ReservedCode2 when
  signing). Propagator fields already set by another party are refused, except the Annex E
  note 1 convention where they merely repeat the producer's own code and id. With an existing
  record no explicit notice is added to the file (the producer's explicit label is there and
  the "属于" prompt belongs next to the content in the UI; editing the content would also break
  the producer's content binding); ``LabeledFile.notice`` carries the wording. Without a
  record, Label "2" (user declared) or "3" (detected) and the matching 可能为/疑似 notice is
  added to the file.
- No partial output: every operation builds the whole result in memory, reads it back and
  checks it holds exactly the record written before returning anything.
- Trace detection (M Art. 6(3)): ``propagate_file(detect=True)`` looks for generation traces
  (:mod:`.traces`) when the file has no record and the user declared nothing; traces give
  Label "3" and travel in ``LabeledFile.traces`` as the evidence.
- C2PA (``settings.c2pa``) is signed last, after the TC260 record, which stays byte-identical;
  the TC260 content binding is computed without the C2PA store, which is why C2PA together
  with ``signing.bind_content`` is limited to PNG/JPEG/WebP (``c2pa_manifest.STRIPPABLE``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .errors import CorruptFileError, LabelConflictError, LabelError, LabelFormatError
from .formats import FoundRecord, detect, media_type_of
from .integrity import FieldVerdict, content_hash, sign_record, verify_field
from .record import LabelRecord, check_provider_code, new_produce_id
from .settings import LabelSettings, propagation_wording
from .traces import Trace, detect_traces

__all__ = [
    "InspectReport",
    "LabeledFile",
    "inspect_file",
    "label_file",
    "label_text",
    "propagate_file",
]

# Written in place of the real record to compute the content binding (see integrity.py).
NEUTRAL = LabelRecord("1", "-", "-", "-", "-", "-", "-")
_MARKDOWN_EXT = (".md", ".markdown", ".mdown", ".mkd")


@dataclass(frozen=True, slots=True)
class LabeledFile:
    """Result of :func:`label_file` / :func:`propagate_file`.

    ``implicit`` is False for formats without a metadata carrier (plain text); ``explicit``
    says whether a visible/audible label was added by this call; ``notice`` is the wording
    to show next to the content (propagation prompt).
    """

    data: bytes
    media_type: str
    record: LabelRecord
    explicit: bool
    implicit: bool = True
    format: str = ""
    notice: str = ""
    unchanged: bool = False
    traces: tuple[Trace, ...] = ()
    c2pa: bool = False


@dataclass(frozen=True, slots=True)
class InspectReport:
    """What :func:`inspect_file` found: every carrier, the one record, problems, signatures."""

    media_type: str
    format: str
    record: LabelRecord | None
    found: list[FoundRecord]
    problems: list[str]
    signatures: dict[str, FieldVerdict] = field(default_factory=dict)
    explicit_notice: bool | None = None
    traces: list[Trace] = field(default_factory=list)
    c2pa: dict[str, Any] | None = None

    @property
    def compliant(self) -> bool:
        """Exactly one valid record and no problem."""
        return self.record is not None and not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI and HTTP report)."""
        return {
            "media_type": self.media_type,
            "format": self.format,
            "compliant": self.compliant,
            "record": self.record.to_dict() if self.record else None,
            "found": [f.to_dict() for f in self.found],
            "problems": list(self.problems),
            "signatures": {k: v.to_dict() for k, v in self.signatures.items()},
            "explicit_notice": self.explicit_notice,
            "traces": [t.to_dict() for t in self.traces],
            "c2pa": self.c2pa,
        }


class _Doc:
    """One sniffed input: its format module plus the hint the text module needs."""

    def __init__(self, data: bytes, filename: str | None, media_type: str | None,
                 max_bytes: int | None) -> None:
        if max_bytes is not None and len(data) > max_bytes:
            raise CorruptFileError(f"file is larger than the limit of {max_bytes} bytes")
        self.module: ModuleType = detect(data)
        self.name = self.module.__name__.rsplit(".", 1)[-1]
        self.kw: dict[str, Any] = {}
        if self.name == "text":
            ext = os.path.splitext(filename or "")[1].lower()
            markdown = ext in _MARKDOWN_EXT or (media_type or "").startswith("text/markdown")
            self.kw = {"markdown": True if markdown else None}

    def media_type(self, data: bytes) -> str:
        if self.kw:
            return str(self.module.media_type(data, **self.kw))
        return media_type_of(self.module, data)

    def implicit(self, data: bytes) -> bool:
        if self.name != "text":
            return True
        return bool(self.module.carries_implicit(data, **self.kw))

    def read(self, data: bytes) -> list[FoundRecord]:
        return list(self.module.read_implicit(data, **self.kw))

    def write(self, data: bytes, record: LabelRecord) -> bytes:
        return bytes(self.module.write_implicit(data, record, **self.kw))

    def explicit(self, data: bytes, settings: LabelSettings) -> bytes:
        return bytes(self.module.add_explicit(data, settings, **self.kw))

    def has_explicit(self, data: bytes) -> bool | None:
        """The module's optional ``has_explicit(data)`` hook: is a visible/audible notice there?"""
        hook = getattr(self.module, "has_explicit", None)
        if hook is None:
            return None
        return bool(hook(data))

    def binding_bytes(self, data: bytes) -> bytes:
        """What the content binding hashes: the file with a neutral record, without C2PA."""
        from .c2pa_manifest import without_manifest

        return without_manifest(self.write(data, NEUTRAL), self.media_type(data))

    def check_limits(self, data: bytes, settings: LabelSettings) -> None:
        """The module's optional ``check_limits(data, settings)`` hook (caller's limits)."""
        hook = getattr(self.module, "check_limits", None)
        if hook is not None:
            hook(data, settings)

    def mirrors(self) -> frozenset[frozenset[str]]:
        return getattr(self.module, "MIRRORS", frozenset())


def _distinct(found: list[FoundRecord]) -> list[LabelRecord]:
    records: list[LabelRecord] = []
    for f in found:
        if f.record is not None and f.record not in records:
            records.append(f.record)
    return records


def _duplicate_problem(doc: _Doc, found: list[FoundRecord]) -> str | None:
    if len(found) <= 1:
        return None
    carriers = frozenset(f.carrier for f in found)
    if (len(found) == len(carriers) and carriers in doc.mirrors()
            and len(_distinct(found)) == 1 and all(f.record for f in found)):
        return None
    return f"{len(found)} AIGC records found; GB 45438 §6.1 c) allows exactly one"


def _signed(doc: _Doc, data: bytes, record: LabelRecord, settings: LabelSettings,
            role: str) -> tuple[bytes, LabelRecord]:
    """Sign ``record`` for ``role`` and write it; returns ``(labeled bytes, record)``."""
    signing = settings.signing
    if signing is None:
        return doc.write(data, record), record
    digest = None
    if signing.bind_content:
        data = doc.write(data, NEUTRAL)
        digest = content_hash(doc.binding_bytes(data), signing.algorithm)
    code = sign_record(record, signing, role, digest)  # type: ignore[arg-type]
    record = record.replace(**{"reserved_code1" if role == "producer" else "reserved_code2": code})
    out = doc.write(data, record)
    keys = {signing.key_id: signing.key} if signing.algorithm == "hmac-sha256" else {}
    verdict = verify_field(record, role, _digest_for(doc, out), keys)  # type: ignore[arg-type]
    if verdict.state != "valid":
        raise LabelError(
            f"self-check of the {role} signature failed ({verdict.reason}); for this format "
            "set signing.bind_content=False"
        )
    return out, record


def _digest_for(doc: _Doc, data: bytes) -> Any:
    cache: dict[str, str] = {}

    def digest(algorithm: str) -> str:
        if algorithm not in cache:
            cache[algorithm] = content_hash(doc.binding_bytes(data), algorithm)
        return cache[algorithm]

    return digest


def _check_written(doc: _Doc, data: bytes, record: LabelRecord) -> None:
    found = doc.read(data)
    if _distinct(found) != [record] or _duplicate_problem(doc, found):
        # e.g. a stray AIGC property in a wrong namespace that the writer does not own
        carriers = ", ".join(f.carrier for f in found) or "none"
        raise LabelConflictError(
            "the labeled file would not hold exactly one AIGC record (found in: "
            f"{carriers}); refusing to write a second copy"
        )


def label_file(data: bytes, *, filename: str | None = None, media_type: str | None = None,
               settings: LabelSettings, produce_id: str | None = None) -> LabeledFile:
    """Add the explicit label and the implicit record (Label "1") to a file.

    Usage::

        out = label_file(png_bytes, settings=LabelSettings(producer_code="0011..."))
        out.data, out.media_type, out.record.produce_id

    Raises UnsupportedMediaError, CorruptFileError, LabelConflictError (another party's
    label is present), MissingFontError (images).
    """
    doc = _Doc(data, filename, media_type, settings.max_bytes)
    doc.check_limits(data, settings)
    found = doc.read(data)
    if any(f.record is None for f in found):
        raise LabelConflictError("the file carries an AIGC record that does not parse; "
                                 "refusing to overwrite it")
    existing = _distinct(found)
    if any(r.content_producer != settings.producer_code for r in existing):
        raise LabelConflictError("the file already carries another producer's label; "
                                 "use propagation instead of labeling")
    if existing:  # ours already: idempotent
        record = existing[0]
        out = data if _duplicate_problem(doc, found) is None else doc.write(data, record)
        _check_written(doc, out, record)
        return LabeledFile(out, doc.media_type(out), record, explicit=False, format=doc.name,
                           unchanged=out == data)
    _check_c2pa(doc, data, settings)
    out = doc.explicit(data, settings) if settings.explicit else data
    explicit = out != data
    record = LabelRecord("1", settings.producer_code, produce_id or new_produce_id())
    if doc.implicit(out):
        out, record = _signed(doc, out, record, settings, "producer")
        _check_written(doc, out, record)
        implicit = True
    else:
        implicit = False
    out, c2pa = _with_c2pa(doc, out, record, settings)
    return LabeledFile(out, doc.media_type(out), record, explicit, implicit, doc.name,
                       c2pa=c2pa)


def _check_c2pa(doc: _Doc, data: bytes, settings: LabelSettings) -> None:
    from .c2pa_manifest import STRIPPABLE, supported

    media_type = doc.media_type(data)
    if (settings.c2pa is not None and supported(media_type) and settings.signing is not None
            and settings.signing.bind_content and media_type not in STRIPPABLE):
        raise LabelFormatError(
            f"C2PA together with the TC260 content binding is supported for PNG, JPEG and WebP, "
            f"not {media_type}; set signing.bind_content=False or disable C2PA")


def _with_c2pa(doc: _Doc, data: bytes, record: LabelRecord, settings: LabelSettings,
               parent: bytes | None = None) -> tuple[bytes, bool]:
    """Sign the C2PA manifest last; the TC260 record must come out byte-identical."""
    from . import c2pa_manifest

    media_type = doc.media_type(data)
    if settings.c2pa is None or not c2pa_manifest.supported(media_type):
        return data, False
    before = [f.raw for f in doc.read(data)]
    out = c2pa_manifest.sign(data, media_type, settings.c2pa, parent=parent)
    if [f.raw for f in doc.read(out)] != before:
        raise LabelError("internal error: C2PA signing changed the TC260 record")
    _check_written(doc, out, record)
    return out, True


def label_text(text: str, *, settings: LabelSettings, position: str | None = None) -> str:
    """``text`` with the explicit notice at the start or end (unchanged if one is there)."""
    from .formats.text import add_notice, has_notice

    if has_notice(text):
        return text
    return add_notice(text, settings.text_notice, position or settings.text_position)


def propagate_file(data: bytes, *, filename: str | None = None, media_type: str | None = None,
                   propagator_code: str, propagate_id: str, declared_ai: bool = False,
                   detected_ai: bool = False, detect: bool = False,
                   settings: LabelSettings) -> LabeledFile:
    """The platform step of Labeling Measures Art. 6 (see module docstring).

    ``detect``: when there is no record and no declaration, look for generation traces
    (:func:`labelers.traces.detect_traces`); any trace gives Label "3" with the evidence in
    ``LabeledFile.traces``.
    """
    if settings.strict_provider_code:
        problems = check_provider_code(propagator_code, role="propagator")
        if problems:
            raise LabelFormatError(problems[0])
    LabelRecord("1", content_propagator=propagator_code, propagate_id=propagate_id)  # charset
    if not propagate_id:
        raise LabelFormatError("propagate_id must not be empty")
    doc = _Doc(data, filename, media_type, settings.max_bytes)
    doc.check_limits(data, settings)
    _check_c2pa(doc, data, settings)
    found = doc.read(data)
    if any(f.record is None for f in found):
        raise LabelConflictError("the file carries an AIGC record that does not parse")
    existing = _distinct(found)
    if len(existing) > 1:
        raise LabelConflictError("the file carries several different AIGC records")
    out = data
    explicit = False
    traces: tuple[Trace, ...] = ()
    if not existing and not declared_ai and detect:
        traces = tuple(detect_traces(data, doc.media_type(data)))
        detected_ai = detected_ai or bool(traces)
    if existing:
        old = existing[0]
        own = old.content_propagator in ("", propagator_code)
        note1 = (old.content_propagator, old.propagate_id) == (old.content_producer,
                                                                old.produce_id)
        if not (own or note1):
            raise LabelConflictError("the file already names another propagator; "
                                     "its fields are not ours to rewrite")
        label = old.label
        record = old.replace(content_propagator=propagator_code, propagate_id=propagate_id,
                             reserved_code2="")
    else:
        if declared_ai:
            label = "2"
        elif detected_ai:
            label = "3"
        else:
            raise LabelFormatError("no AIGC record, no user declaration and no detection: "
                                   "nothing to propagate (M Art. 6(4))")
        record = LabelRecord(label, content_propagator=propagator_code,
                             propagate_id=propagate_id)
        if settings.explicit:
            out = doc.explicit(data, settings.for_label(label))
            explicit = out != data
    notice = propagation_wording(label)[1]
    if not doc.implicit(out):
        return LabeledFile(out, doc.media_type(out), record, explicit, False, doc.name, notice,
                           traces=traces)
    out, record = _signed(doc, out, record, settings, "propagator")
    _check_written(doc, out, record)
    if existing and record.to_dict() | {"ContentPropagator": "", "PropagateID": "",
                                        "ReservedCode2": ""} != existing[0].to_dict() | {
            "ContentPropagator": "", "PropagateID": "", "ReservedCode2": ""}:
        raise LabelError("internal error: propagation changed producer fields")
    out, c2pa = _with_c2pa(doc, out, record, settings, parent=data)
    return LabeledFile(out, doc.media_type(out), record, explicit, True, doc.name, notice,
                       traces=traces, c2pa=c2pa)


class _AnyKey(dict[str, bytes | str]):
    """One HMAC key for every key id."""

    def __init__(self, key: bytes) -> None:
        super().__init__()
        self.key = key

    def get(self, _key_id: str, default: Any = None) -> bytes:  # type: ignore[override]
        return self.key


def inspect_file(data: bytes, *, filename: str | None = None, media_type: str | None = None,
                 verify_key: bytes | Mapping[str, bytes | str] | None = None,
                 max_bytes: int | None = None) -> InspectReport:
    """Read every known carrier, validate the record and verify its signatures.

    ``verify_key``: an HMAC secret (bytes) for any key id, or a mapping key id -> HMAC secret
    (bytes) / pinned SM2 public key (hex str).
    """
    doc = _Doc(data, filename, media_type, max_bytes)
    found = doc.read(data)
    problems: list[str] = []
    if not found:
        problems.append("no AIGC record found" if doc.implicit(data)
                        else "plain text has no implicit carrier; only the explicit notice")
    duplicate = _duplicate_problem(doc, found)
    if duplicate:
        problems.append(duplicate)
    for f in found:
        problems += [f"{f.carrier}: {p}" for p in f.problems]
    distinct = _distinct(found)
    record = distinct[0] if len(distinct) == 1 and all(f.record for f in found) else None
    signatures: dict[str, FieldVerdict] = {}
    if record is not None:
        if record.content_producer:
            problems += check_provider_code(record.content_producer, role="producer")
        elif record.label == "1":
            problems.append("ContentProducer is empty")
        if record.content_propagator and record.content_propagator != record.content_producer:
            problems += check_provider_code(record.content_propagator, role="propagator")
        keys: Mapping[str, bytes | str]
        keys = _AnyKey(verify_key) if isinstance(verify_key, bytes) else (verify_key or {})
        digest_for = _digest_for(doc, data)

        def safe_digest(algorithm: str) -> str:
            try:
                return str(digest_for(algorithm))
            except LabelError:
                return ""

        for role in ("producer", "propagator"):
            signatures[role] = verify_field(record, role, safe_digest, keys)  # type: ignore[arg-type]
            if signatures[role].state == "invalid":
                problems.append(f"{role} signature invalid: {signatures[role].reason}")
    explicit_notice = None
    if doc.name == "text":
        from .formats.text import has_notice

        explicit_notice = has_notice(data.decode("utf-8", "replace"))
    else:
        try:
            explicit_notice = doc.has_explicit(data)
        except LabelError:
            explicit_notice = None
    from .c2pa_manifest import read_manifest

    media_type = doc.media_type(data)
    c2pa = read_manifest(data, media_type)
    if c2pa is not None and c2pa["state"] == "invalid":
        problems.append("C2PA manifest does not validate: " + ", ".join(c2pa["status"]))
    traces = detect_traces(data, media_type, audio_cue=False)
    return InspectReport(media_type, doc.name, record, found, problems, signatures,
                         explicit_notice, traces, c2pa)
