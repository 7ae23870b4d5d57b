"""Read-only queries of the records database for the console pages.

They run on the records store's own connection (``recorder.store.backend``), build on its
``RecordFilter`` (time window, tenant, category, restricted records left out) and read only
the documented columns of ``records``, ``complaints`` and ``user_sanctions`` plus the
canonical JSON body (sorted keys, no spaces: ``"direction":"input"`` appears verbatim). Every
list is bounded; nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from service.records.store import RecordFilter

PAGE = 50
DIRECTIONS = ("input", "output")
ACTIONS = ("block", "mask", "flag")


def _like_raw(fragment: str) -> str:
    """``%fragment%`` for ``LIKE ... ESCAPE '\\'`` (``fragment`` as written in a body)."""
    return "%" + fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _like(value: str) -> str:
    """A text as it appears inside the canonical JSON body, for ``LIKE ... ESCAPE``."""
    return _like_raw(json.dumps(value, ensure_ascii=False)[1:-1])


def _direction_like(direction: str) -> str:
    return _like_raw(f'"direction":"{direction}"')


def _backend(recorder: Any) -> Any:
    return recorder.store.backend


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    """The Incidents page filters (all optional)."""

    tenant: str | None = None
    category: str | None = None
    action: str | None = None
    direction: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None  # request id, user id, or any text inside the record
    before: int | None = None  # keyset paging: records with seq below this

    def where(self, dialect: str) -> tuple[str, list[Any]]:
        flt = RecordFilter(
            kinds=("incident",),
            since=self.since,
            until=self.until,
            tenant_id=self.tenant or None,
            category=self.category or None,
        )
        where, args = flt.where(dialect)
        sql = [where]
        if self.action:
            sql.append("action = ?")
            args.append(self.action)
        if self.direction:
            sql.append("body LIKE ? ESCAPE '\\'")
            args.append(_direction_like(self.direction))
        if self.text:
            sql.append("(request_id = ? OR user_id = ? OR body LIKE ? ESCAPE '\\')")
            args += [self.text, self.text, _like(self.text)]
        if self.before is not None:
            sql.append("seq < ?")
            args.append(self.before)
        return " AND ".join(sql), args


def _incident(row: Any) -> dict[str, Any]:
    data = json.loads(row[1])
    data["seq"] = int(row[0])
    return data


async def incidents(recorder: Any, query: IncidentQuery, limit: int = PAGE) -> list[dict[str, Any]]:
    """Newest first, at most ``limit``."""
    backend = _backend(recorder)
    where, args = query.where(backend.dialect)
    rows = await backend.fetch(
        f"SELECT seq, body FROM records WHERE {where} ORDER BY seq DESC LIMIT ?", *args, limit
    )
    return [_incident(r) for r in rows]


async def iter_incidents(recorder: Any, query: IncidentQuery) -> AsyncIterator[dict[str, Any]]:
    """Every matching incident, newest first, a page at a time (for the CSV export)."""
    before = query.before
    while True:
        page = await incidents(
            recorder,
            IncidentQuery(**{**_fields(query), "before": before}),
            limit=1000,
        )
        for rec in page:
            yield rec
        if len(page) < 1000:
            return
        before = page[-1]["seq"]


def _fields(query: IncidentQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in IncidentQuery.__dataclass_fields__}


async def incident(recorder: Any, seq: int) -> dict[str, Any] | None:
    """One incident by its sequence number (not a restricted one)."""
    rows = await _backend(recorder).fetch(
        "SELECT seq, body FROM records WHERE seq = ? AND kind = 'incident' AND restricted = 0",
        seq,
    )
    return _incident(rows[0]) if rows else None


# --- overview ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """The overview's time window: the last hour in 5-minute buckets, or the last day in hours."""

    name: str  # "hour" | "day"
    start: datetime
    buckets: list[datetime] = field(default_factory=list)

    @property
    def prefix_len(self) -> int:  # substr(time, 1, n): minutes for "hour", hours for "day"
        return 16 if self.name == "hour" else 13


def window(name: str, now: datetime | None = None) -> Window:
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if name == "day":
        end = now.replace(minute=0, second=0, microsecond=0)
        starts = [end - timedelta(hours=h) for h in range(23, -1, -1)]
    else:
        name = "hour"
        end = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
        starts = [end - timedelta(minutes=5 * i) for i in range(11, -1, -1)]
    return Window(name, starts[0], starts)


def _bucket_of(win: Window, prefix: str) -> int | None:
    """Index of the bucket holding a time prefix ("2026-01-02T03:04" or "2026-01-02T03")."""
    try:
        at = datetime.fromisoformat(prefix).replace(tzinfo=UTC)
    except ValueError:
        return None
    if at < win.start:
        return None
    step = timedelta(minutes=5) if win.name == "hour" else timedelta(hours=1)
    index = int((at - win.start) / step)
    return index if index < len(win.buckets) else None


async def counts_over_time(
    recorder: Any, win: Window, kind: str, action: str | None = None
) -> list[int]:
    """Records of ``kind`` (with ``action``) per bucket of ``win``."""
    backend = _backend(recorder)
    where, args = RecordFilter(kinds=(kind,), since=win.start).where(backend.dialect)
    if action is not None:
        where += " AND action = ?"
        args.append(action)
    n = win.prefix_len
    rows = await backend.fetch(
        f"SELECT substr(time, 1, {n}), count(*) FROM records WHERE {where} "
        f"GROUP BY substr(time, 1, {n})",
        *args,
    )
    out = [0] * len(win.buckets)
    for prefix, count in rows:
        index = _bucket_of(win, str(prefix))
        if index is not None:
            out[index] += int(count)
    return out


async def blocks_by_category(recorder: Any, since: datetime) -> list[tuple[str, str, int]]:
    """``(category, direction, blocks)`` since ``since``, most first."""
    backend = _backend(recorder)
    where, args = RecordFilter(kinds=("incident",), since=since).where(backend.dialect)
    rows = await backend.fetch(
        "SELECT coalesce(categories, ''), "
        "CASE WHEN body LIKE ? ESCAPE '\\' THEN 'output' ELSE 'input' END, count(*) "
        f"FROM records WHERE {where} AND action = 'block' GROUP BY 1, 2",
        _direction_like("output"),
        *args,
    )
    totals: dict[tuple[str, str], int] = {}
    for cats, direction, count in rows:
        for cat in (c for c in str(cats).split(",") if c):
            key = (cat, str(direction))
            totals[key] = totals.get(key, 0) + int(count)
    return sorted(((c, d, n) for (c, d), n in totals.items()), key=lambda r: (-r[2], r[0], r[1]))


async def complaint_counts(recorder: Any) -> dict[str, int]:
    rows = await _backend(recorder).fetch("SELECT status, count(*) FROM complaints GROUP BY status")
    return {str(status): int(count) for status, count in rows}


# --- users ---------------------------------------------------------------------------------


async def sanctioned_users(
    recorder: Any, *, tenant: str | None = None, user: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Users with a sanction state, most recently changed first."""
    sql, args = [], []
    if tenant:
        sql.append("tenant_id = ?")
        args.append(tenant)
    if user:
        sql.append("user_id = ?")
        args.append(user)
    where = ("WHERE " + " AND ".join(sql)) if sql else ""
    rows = await _backend(recorder).fetch(
        "SELECT tenant_id, user_id, level, consecutive, day_count, total, suspended_until, "
        f"updated_at FROM user_sanctions {where} ORDER BY updated_at DESC LIMIT ?",
        *args,
        limit,
    )
    keys = ("tenant_id", "user_id", "level", "consecutive", "day_count", "total")
    return [dict(zip((*keys, "suspended_until", "updated_at"), r, strict=True)) for r in rows]


async def user_trail(recorder: Any, tenant: str, user: str, limit: int = 200) -> list[dict[str, Any]]:
    """The user's sanction steps and the operator actions on the user, newest first."""
    backend = _backend(recorder)
    where, args = RecordFilter(kinds=("sanction",), tenant_id=tenant, user_id=user).where(
        backend.dialect
    )
    rows = await backend.fetch(
        f"SELECT seq, body FROM records WHERE {where} ORDER BY seq DESC LIMIT ?", *args, limit
    )
    target = json.dumps(f"{tenant}/{user}", ensure_ascii=False)
    actions = await backend.fetch(
        "SELECT seq, body FROM records WHERE kind = 'admin_action' AND tenant_id = ? "
        "AND body LIKE ? ESCAPE '\\' ORDER BY seq DESC LIMIT ?",
        tenant,
        _like_raw('"target":' + target),
        limit,
    )
    trail = [_incident(r) for r in rows] + [_incident(r) for r in actions]
    trail.sort(key=lambda r: r.get("time", ""), reverse=True)
    return trail[:limit]


async def recent_actions(recorder: Any, limit: int = 10) -> list[dict[str, Any]]:
    """The latest operator actions (admin API and console)."""
    rows = await _backend(recorder).fetch(
        "SELECT seq, body FROM records WHERE kind = 'admin_action' ORDER BY seq DESC LIMIT ?",
        limit,
    )
    return [_incident(r) for r in rows]
