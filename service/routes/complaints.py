"""Public complaint, report and appeal channel (IM Art. 15, DS Art. 12): file and follow."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from service.deps import RuntimeDep, api_key_from
from service.errors import InvalidJSON, RateLimited, ServiceUnavailable, ValidationFailed
from service.records.complaints import COMPLAINT_KINDS, public_view

router = APIRouter(tags=["complaints"])

MAX_BODY = 16 * 1024


def _recorder(runtime: Any) -> Any:
    recorder = runtime.recorder
    if not hasattr(recorder, "file_complaint"):
        raise ServiceUnavailable("Complaint records are not available in this deployment.")
    return recorder


def _tenant_id(request: Request, runtime: Any, body: dict[str, Any]) -> str:
    """The tenant the complaint is about: the caller's API key if it sends a valid one, else
    a known ``tenant_id`` in the body, else the default tenant."""
    registry = runtime.snapshot.tenants
    key = api_key_from(request)
    if key:
        tenant = registry.authenticate(key)
        if tenant is not None:
            return str(tenant.id)
    named = body.get("tenant_id")
    if isinstance(named, str) and registry.get(named) is not None:
        return named
    return str(registry.default.id)


def _json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


@router.post("/complaints", status_code=201, summary="File a complaint, report or appeal.")
async def file_complaint(request: Request, runtime: RuntimeDep) -> Response:
    """Returns the ticket id and the published feedback deadline."""
    recorder = _recorder(runtime)
    settings = recorder.settings
    client = request.client.host if request.client else "unknown"
    # one limit for every worker and replica (records database or Redis)
    if not await recorder.rate_allow("complaints", client, settings.complaint_rate_per_minute):
        raise RateLimited("Too many complaints from this address; try again in a minute.")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ValidationFailed(f"A complaint is at most {MAX_BODY} bytes.")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidJSON() from exc
    if not isinstance(body, dict):
        raise ValidationFailed("The complaint must be a JSON object.")
    ticket = await recorder.file_complaint(body, tenant_id=_tenant_id(request, runtime, body))
    view = public_view(ticket)
    view["feedback_days"] = settings.complaint_feedback_days
    view["process"] = (
        f"Each ticket is reviewed by a person and answered within "
        f"{settings.complaint_feedback_days} days; follow it at GET /complaints/{ticket['id']}."
    )
    return _json(view, 201)


@router.get("/complaints/policy", summary="The published complaint process and time limit.")
async def complaint_policy(runtime: RuntimeDep) -> Response:
    """What can be filed and the feedback time limit."""
    settings = _recorder(runtime).settings
    return _json(
        {
            "kinds": list(COMPLAINT_KINDS),
            "feedback_days": settings.complaint_feedback_days,
            "statuses": ["open", "assigned", "resolved"],
        }
    )


@router.get("/complaints/{ticket_id}", summary="Status and outcome of a complaint ticket.")
async def get_complaint(ticket_id: str, runtime: RuntimeDep) -> Response:
    """404 ``not_found`` for an unknown ticket."""
    ticket = await _recorder(runtime).get_complaint(ticket_id)
    return _json(public_view(ticket))
