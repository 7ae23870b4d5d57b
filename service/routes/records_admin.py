"""Admin endpoints for records: complaints desk, exports, summary, privacy restriction."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from service import admin_actions
from service.admin_actions import api_operator
from service.deps import AdminDep, RuntimeDep
from service.errors import InvalidJSON, ValidationFailed
from service.records.chain import parse_utc
from service.records.exporting import FORMATS
from service.records.migrations import RECORD_KINDS
from service.records.store import RecordFilter
from service.routes.complaints import _recorder

router = APIRouter(prefix="/admin", tags=["records"], dependencies=[AdminDep])


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise InvalidJSON() from exc
    if not isinstance(body, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    return body


def _time(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_utc(value if "T" in value else value + "T00:00:00")
    except ValueError as exc:
        raise ValidationFailed(f"'{name}' must be an ISO 8601 date or time") from exc


def record_filter(
    *,
    kind: str | None,
    since: str | None,
    until: str | None,
    tenant: str | None,
    category: str | None,
    include_restricted: bool = False,
    user: str | None = None,
) -> RecordFilter:
    """The export filter from query parameters; ``kind`` is a comma-separated list."""
    kinds = tuple(k for k in (kind or "").split(",") if k) or RECORD_KINDS
    bad = [k for k in kinds if k not in RECORD_KINDS]
    if bad:
        raise ValidationFailed(f"unknown record kind {bad[0]!r}; one of {', '.join(RECORD_KINDS)}")
    return RecordFilter(
        kinds=kinds,
        since=_time(since, "since"),
        until=_time(until, "until"),
        tenant_id=tenant or None,
        user_id=user or None,
        category=category or None,
        include_restricted=include_restricted,
    )


@router.get("/complaints", summary="List complaint tickets.")
async def list_complaints(
    runtime: RuntimeDep,
    status: str | None = None,
    tenant: str | None = None,
    overdue: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> Response:
    """Oldest first; ``overdue=true`` keeps tickets past their feedback deadline."""
    recorder = _recorder(runtime)
    if not 1 <= limit <= 1000 or offset < 0:
        raise ValidationFailed("'limit' must be 1..1000 and 'offset' >= 0")
    rows = await recorder.list_complaints(
        status=status, tenant_id=tenant, overdue=overdue, limit=limit, offset=offset
    )
    return JSONResponse({"complaints": rows, "overdue": await recorder.overdue_complaints()})


@router.post("/complaints/{ticket_id}/assign", summary="Assign a complaint to a reviewer.")
async def assign_complaint(ticket_id: str, request: Request, runtime: RuntimeDep) -> Response:
    """Body: ``{"assignee": "name"}``."""
    body = await _body(request)
    ticket = await admin_actions.assign_complaint(
        runtime, api_operator(request), ticket_id, body.get("assignee")
    )
    return JSONResponse(ticket)


@router.post("/complaints/{ticket_id}/resolve", summary="Resolve a complaint with an outcome.")
async def resolve_complaint(ticket_id: str, request: Request, runtime: RuntimeDep) -> Response:
    """Body: ``{"outcome": str, "upheld": bool, "allow_phrase"?: str, "assignee"?: str}``."""
    body = await _body(request)
    ticket = await admin_actions.resolve_complaint(
        runtime,
        api_operator(request),
        ticket_id,
        outcome=body.get("outcome"),
        upheld=body.get("upheld"),
        allow_phrase=body.get("allow_phrase"),
        assignee=body.get("assignee"),
    )
    return JSONResponse(ticket)


@router.get("/export", summary="Export records as CSV or JSONL.")
async def export(
    request: Request,
    runtime: RuntimeDep,
    format: str = "jsonl",
    kind: str | None = None,
    since: str | None = None,
    until: str | None = None,
    tenant: str | None = None,
    category: str | None = None,
    user: str | None = None,
    include_restricted: bool = False,
) -> Response:
    """Filtered by time ``[since, until)``, tenant, user, category (id or parent), kind."""
    recorder = _recorder(runtime)
    if format not in FORMATS:
        raise ValidationFailed(f"'format' must be one of {', '.join(FORMATS)}")
    flt = record_filter(
        kind=kind,
        since=since,
        until=until,
        tenant=tenant,
        category=category,
        include_restricted=include_restricted,
        user=user,
    )
    await recorder.flush()
    await admin_actions.record_action(
        runtime,
        api_operator(request),
        "records.export",
        ",".join(flt.kinds),
        tenant_id=tenant or "",
        format=format,
        since=since,
        until=until,
        category=category,
        user=user,
        include_restricted=include_restricted,
    )
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    name = f"aigc-gateway-records.{format}"
    return StreamingResponse(
        recorder.export(flt, format),
        media_type=media,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get("/records/summary", summary="Counts by day, class, category and action.")
async def records_summary(
    runtime: RuntimeDep,
    since: str | None = None,
    until: str | None = None,
    tenant: str | None = None,
    category: str | None = None,
) -> Response:
    """Days are UTC calendar days."""
    recorder = _recorder(runtime)
    flt = record_filter(kind=None, since=since, until=until, tenant=tenant, category=category)
    await recorder.flush()
    return JSONResponse(await recorder.summary(flt))


@router.post("/records/restrict", summary="Deletion request: restrict a user's records.")
async def restrict(request: Request, runtime: RuntimeDep) -> Response:
    """Body ``{"tenant_id", "user_id"}``; records are kept until retention ends (PIPL 47 ¶2)."""
    body = await _body(request)
    count = await admin_actions.restrict_user(
        runtime, api_operator(request), body.get("tenant_id"), body.get("user_id")
    )
    return JSONResponse({"restricted": count})


@router.get("/records/status", summary="Records writer state.")
async def records_status(runtime: RuntimeDep) -> Response:
    """Queue depth, spool, degraded flag, counts written."""
    recorder = _recorder(runtime)
    return JSONResponse({"ready": recorder.ready(), **recorder.stats()})


@router.get("/users/{tenant_id}/{user_id}", summary="A user's sanction ladder state.")
async def user_status(tenant_id: str, user_id: str, runtime: RuntimeDep) -> Response:
    """Level (``none|warning|restricted|suspended``), counters and suspension end."""
    state = await _recorder(runtime).user_status(tenant_id, user_id)
    return JSONResponse({"tenant_id": tenant_id, "user_id": user_id, **asdict(state)})


@router.post("/users/{tenant_id}/{user_id}/lift", summary="Lift a user's sanction.")
async def lift_sanction(
    tenant_id: str, user_id: str, request: Request, runtime: RuntimeDep
) -> Response:
    """Body ``{"reason": "..."}``; recorded as a ``lifted`` sanction step."""
    body = await _body(request)
    state = await admin_actions.lift_sanction(
        runtime, api_operator(request), tenant_id, user_id, body.get("reason")
    )
    return JSONResponse({"tenant_id": tenant_id, "user_id": user_id, **asdict(state)})
