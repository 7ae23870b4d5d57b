"""Hash chain of records: canonical bodies, hashes, and the columns derived from a body.

Each record class (``kind``) is one chain: ``hash = sha256(prev_hash + "\\n" + body)`` with
``body`` the canonical JSON stored in the row. The query columns (time, tenant, user, action,
categories) are derived from the body, so ``verify`` can also catch edits to them. The
``restricted`` flag is deliberately outside the hash: it is the one mutable field (PIPL
Art. 47 ¶2 restriction).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from service.records.events import event_kind, event_to_dict

GENESIS = "0" * 64


def utc_text(value: datetime) -> str:
    """Fixed-width ISO 8601 UTC text, the stored form of every time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """Inverse of ``utc_text``; also accepts any ISO 8601 form with or without offset."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# sorted keys, no spaces, UTF-8; datetimes and dataclasses go to ``default`` as with json
_ORJSON = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def canonical(data: dict[str, Any]) -> str:
    """The canonical JSON of a record body: sorted keys, no spaces, UTF-8 (not escaped).

    orjson on the request path (about ten times faster than ``json``); what it refuses (an
    integer past 64 bits, a lone surrogate, a key it cannot sort) goes through ``json``.
    ``default=str``: an odd value from a caller (a set, a Path) must not lose the record.
    """
    try:
        return orjson.dumps(data, default=str, option=_ORJSON).decode()
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return json.dumps(
            data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str
        )


def link_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def new_rid() -> str:
    """A unique record id: 32 hex digits, microseconds since the epoch then 72 random bits.

    Time-ordered (like UUIDv7), so the ``rid`` index of a big table takes inserts at its right
    edge instead of on random pages: a small commit touches a few pages, not one per record.
    """
    return f"{time.time_ns() // 1000:014x}{os.urandom(9).hex()}"


def body_of_event(event: Any) -> tuple[str, str, dict[str, Any]]:
    """``(kind, canonical body, fields)`` of a record event; adds a unique record id ``rid``."""
    kind = event_kind(event)
    data = event_to_dict(event)
    data["time"] = utc_text(event.time)
    return record(kind, data)


def record(kind: str, data: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """``(kind, canonical body, fields)`` of a record of ``kind`` (time as ``utc_text``)."""
    out = dict(data)
    out.setdefault("rid", new_rid())
    out["kind"] = kind
    if not out.get("tenant_id"):
        out["tenant_id"] = "default"
    return kind, canonical(out), out


def body_of(kind: str, data: dict[str, Any]) -> str:
    """Canonical body of a record of ``kind`` from its fields (time as ``utc_text``)."""
    return record(kind, data)[1]


def columns(body: str | dict[str, Any]) -> dict[str, Any]:
    """Query columns of a stored record, derived from its body (or its parsed fields) only."""
    data = json.loads(body) if isinstance(body, str) else body
    cats = data.get("categories")
    action = data.get("action") if data.get("kind") != "network_log" else data.get("decision")
    if data.get("kind") == "label_delivery":
        action = "labeled" if data.get("explicit") else "unlabeled"
    return {
        "rid": data["rid"],
        "kind": data["kind"],
        "time": data["time"],
        "tenant_id": str(data.get("tenant_id") or "default"),
        "user_id": data.get("user_id"),
        "request_id": data.get("request_id"),
        "action": action,
        "categories": ("," + ",".join(map(str, cats)) + ",")
        if isinstance(cats, list) and cats
        else None,
    }
