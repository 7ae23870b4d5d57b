"""The record event types the gateway hands to ``Recorder.record``/``submit`` (frozen dataclasses).

``time`` defaults to now in UTC. Events are plain values: the recorder serialises them with
``event_to_dict`` and never keeps references into request state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "AdminActionEvent",
    "Event",
    "IncidentEvent",
    "LabelDeliveryEvent",
    "NetworkLogEvent",
    "event_kind",
    "event_to_dict",
]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NetworkLogEvent:
    """One request through the gateway (no bodies)."""

    request_id: str
    tenant_id: str
    user_id: str | None
    route: str
    model: str | None
    client_addr: str | None
    status: int
    latency_ms: float
    decision: str = "allow"
    time: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One handling decision on content the lexicon matched or the guard-model classifier
    flagged. ``classifier``: the classifier's verdict (``Verdict.to_dict()`` plus ``checks``,
    the number of guard checks behind it), None when the stage did not run."""

    request_id: str
    tenant_id: str
    user_id: str | None
    direction: str  # "input" | "output"
    route: str
    action: str  # "block" | "mask" | "flag"
    categories: list[str]
    terms: list[str]
    offsets: list[tuple[int, int]]
    lexicon_version: str
    stream_position: int | None = None
    excerpt: str = ""
    content_id: str | None = None
    classifier: dict[str, Any] | None = None
    time: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class LabelDeliveryEvent:
    """One delivery of generated content, with which labels it carried."""

    request_id: str
    tenant_id: str
    user_id: str | None
    content_id: str
    media_type: str
    explicit: bool
    implicit: bool
    recipient: str | None = None
    agreement_version: str | None = None
    time: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class AdminActionEvent:
    """One action of an operator (admin API or console): who did what to which object."""

    actor: str  # who: "admin-token", a console session's operator name, ...
    action: str  # what: "complaint.resolve", "sanction.lift", "lexicon.reload", ...
    target: str  # which object: a complaint id, "tenant/user", a lexicon version, ...
    tenant_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""
    time: datetime = field(default_factory=_now)


Event = NetworkLogEvent | IncidentEvent | LabelDeliveryEvent | AdminActionEvent

_KINDS: dict[type, str] = {
    NetworkLogEvent: "network_log",
    IncidentEvent: "incident",
    LabelDeliveryEvent: "label_delivery",
    AdminActionEvent: "admin_action",
}


def event_kind(event: Any) -> str:
    """Record class of ``event``: ``network_log``, ``incident``, ``label_delivery``, ``admin_action``."""
    try:
        return _KINDS[type(event)]
    except KeyError:
        raise TypeError(f"not a record event: {type(event).__name__}") from None


_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _KINDS
}


_PLAIN = frozenset({str, int, float, bool})


def event_to_dict(event: Any) -> dict[str, Any]:
    """JSON-ready payload of ``event`` (time as ISO 8601 UTC, tuples as lists)."""
    out: dict[str, Any] = {}
    for name in _FIELDS[type(event)]:
        value = getattr(event, name)
        if value is None or type(value) in _PLAIN:  # most fields: nothing to convert
            out[name] = value
            continue
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            value = value.astimezone(UTC).isoformat()
        elif isinstance(value, set | frozenset):
            value = sorted(value, key=str)
        if isinstance(value, list | tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        out[name] = value
    return out
