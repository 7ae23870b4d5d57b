"""Complaints, reports and appeals (IM Art. 15, DS Art. 12, AR Art. 22).

A ticket has a published feedback deadline (``complaint_feedback_days`` after filing), moves
``open -> assigned -> resolved`` with a written outcome, and every step is also appended to the
hash-chained records (kind ``complaint``, without the complainant's text or contact). An upheld
``false_block`` complaint may carry an allow-list phrase: it is appended to the tenant's
``allow.txt`` under ``allowlist_dir/<tenant>/``, which the next lexicon version loads when that
directory is one of the tenant's lexicon sets. An upheld ``appeal`` lifts the user's sanction.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from service.errors import NotFound, ValidationFailed
from service.records.chain import utc_text

COMPLAINT_KINDS = ("complaint", "report", "appeal", "false_block", "missing_label")
STATUSES = ("open", "assigned", "resolved")
MAX_DESCRIPTION = 4000
MAX_PHRASE = 100
_TICKET = re.compile(r"^C-[0-9A-Za-z]{16}$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def new_ticket_id() -> str:
    """Unguessable ticket id (``GET /complaints/{id}`` is public)."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"
    return "C-" + "".join(secrets.choice(alphabet) for _ in range(16))


def valid_ticket_id(ticket_id: str) -> bool:
    return bool(_TICKET.match(ticket_id))


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationFailed(f"'{name}' is required")
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"'{name}' must be a string")
    value = value.strip()
    if len(value) > limit:
        raise ValidationFailed(f"'{name}' is longer than {limit} characters")
    return value


def new_ticket(data: dict[str, Any], *, tenant_id: str, now: datetime, days: int) -> dict[str, Any]:
    """Validate a filing and build the stored ticket; raises ``ValidationFailed``."""
    kind = data.get("kind", "complaint")
    if kind not in COMPLAINT_KINDS:
        raise ValidationFailed(f"'kind' must be one of {', '.join(COMPLAINT_KINDS)}")
    stamp = utc_text(now)
    return {
        "id": new_ticket_id(),
        "created_at": stamp,
        "deadline": utc_text(now + timedelta(days=days)),
        "tenant_id": tenant_id,
        "kind": kind,
        "category": _text(data.get("category"), "category", 100),
        "request_id": _text(data.get("request_id"), "request_id", 200),
        "content_id": _text(data.get("content_id"), "content_id", 200),
        "user_id": _text(data.get("user_id"), "user_id", 128),
        "description": _text(
            data.get("description"), "description", MAX_DESCRIPTION, required=True
        ),
        "contact": _text(data.get("contact"), "contact", 200),
        "status": "open",
        "assignee": None,
        "outcome": None,
        "upheld": None,
        "allow_phrase": None,
        "resolved_at": None,
        "updated_at": stamp,
    }


def public_view(ticket: dict[str, Any]) -> dict[str, Any]:
    """What the complainant sees: status, deadline and the outcome; no internal fields."""
    return {
        "id": ticket["id"],
        "kind": ticket["kind"],
        "status": ticket["status"],
        "created_at": ticket["created_at"],
        "feedback_deadline": ticket["deadline"],
        "outcome": ticket["outcome"],
        "upheld": ticket["upheld"],
        "resolved_at": ticket["resolved_at"],
    }


def check_phrase(phrase: Any) -> str:
    value = _text(phrase, "allow_phrase", MAX_PHRASE, required=True)
    assert value is not None
    if any(c in value for c in "\r\n\t#") or not value.isprintable():
        raise ValidationFailed("'allow_phrase' must be one printable line without '#' or tabs")
    return value


def allowlist_file(root: Path, tenant_id: str) -> Path:
    """``root/<tenant>/allow.txt``; the tenant id is checked so it cannot leave ``root``."""
    if not _SAFE_ID.match(tenant_id):
        raise ValidationFailed(f"tenant id {tenant_id!r} cannot name an allow-list directory")
    return root / tenant_id / "allow.txt"


def add_allow_phrase(
    root: Path, tenant_id: str, phrase: str, ticket_id: str, now: datetime
) -> Path:
    """Append ``phrase`` to the tenant's allow-list file (once); returns the file."""
    path = allowlist_file(root, tenant_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    if phrase not in existing:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"# complaint {ticket_id} upheld {utc_text(now)}\n{phrase}\n")
    return path


def not_found(ticket_id: str) -> NotFound:
    return NotFound(f"No complaint ticket {ticket_id!r}.")
