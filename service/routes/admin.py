"""Admin endpoints (``Authorization: Bearer <admin token>``): reload and what is loaded."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from service import admin_actions
from service.deps import AdminDep, RuntimeDep
from service.errors import NotFound
from service.routes.moderate import json_response

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])


@router.post("/reload", summary="Reload config, policies and lexicons; swap atomically.")
async def reload(request: Request, runtime: RuntimeDep) -> Response:
    """On failure the previous lexicon and policies stay in service (422 ``reload_failed``)."""
    result = await admin_actions.reload(runtime, admin_actions.api_operator(request))
    return json_response(
        {
            "status": "reloaded",
            "lexicon_version": result.version,
            "previous_version": result.previous_version,
            "changed": result.changed,
            "tenants": result.tenants,
            "seconds": result.seconds,
        }
    )


@router.get("/status", summary="Lexicon versions, term counts and tenants in service.")
async def status(runtime: RuntimeDep) -> Response:
    """What this worker serves now."""
    snap = runtime.snapshot
    return json_response(
        {
            "lexicon_version": snap.version,
            "lexicons": [
                {"sets": list(key), "version": lex.version, "terms": lex.term_count}
                for key, lex in snap.lexicons.items()
            ],
            "tenants": [
                {"id": t.id, "name": t.name, "profile": t.profile, "sets": list(t.lexicon_sets)}
                for t in snap.tenants.tenants.values()
            ],
            "auth_required": snap.tenants.auth_required,
            "loaded_at": snap.loaded_at,
        }
    )


@router.get("/policies/{tenant_id}", summary="A tenant's policy as configured.")
async def policy(tenant_id: str, runtime: RuntimeDep) -> Response:
    """The tenant's profile, lexicon sets and per-direction rules (no keys)."""
    tenant = runtime.snapshot.tenants.get(tenant_id)
    if tenant is None:
        raise NotFound(f"No tenant {tenant_id!r}.")
    return json_response(
        {
            "id": tenant.id,
            "profile": tenant.profile,
            "lexicon_sets": list(tenant.lexicon_sets),
            "policy": tenant.policy.model_dump(),
            "base": runtime.settings.policy.model_dump(),
            "mandatory": runtime.settings.mandatory.model_dump(),
        }
    )
