"""Operations: ``/healthz`` (process up), ``/readyz`` (lexicons and records ready), ``/metrics``."""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.deps import RuntimeDep
from service.routes.moderate import json_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers.")
async def healthz() -> Response:
    """Process is up."""
    return json_response({"status": "ok"})


@router.get("/readyz", summary="Readiness: lexicons compiled and records durable.")
async def readyz(runtime: RuntimeDep) -> Response:
    """200 ``ready`` when the lexicon is compiled and the records database answers; 200
    ``degraded`` while records go to the local spool (or, with ``when_unrecordable = "serve"``,
    cannot be made durable at all); 503 ``not_ready`` otherwise. ``records`` says why.
    ``labels`` reports tenants whose output cannot be labeled (no producer code): their
    labeled routes answer 503 ``labels_not_configured``; the rest of the gateway serves."""
    _, checks = runtime.ready()
    records = _records_status(runtime.recorder)
    checks["records"] = records["state"] == "ok"
    serving = checks["lexicons"] and records["serving"]
    status = "ready" if serving and checks["records"] else "degraded" if serving else "not_ready"
    snapshot = runtime.snapshot
    body = {
        "status": status,
        "checks": checks,
        "records": records,
        "labels": _labels_status(runtime),
        "lexicon_version": snapshot.version,
        "terms": snapshot.lexicon.term_count,
        "tenants": len(snapshot.tenants.tenants),
        "uptime_s": round(time.time() - runtime.started_at, 3),
        "pid": os.getpid(),
    }
    return json_response(body, status=200 if serving else 503)


def _labels_status(runtime: Any) -> dict:
    from service.labeling import readiness

    registry = runtime.snapshot.tenants
    tenants = registry.tenants.values() if registry.auth_required else [registry.default]
    return readiness(runtime.settings.labels, [t.labels for t in tenants])


def _records_status(recorder: object) -> dict:
    status = getattr(recorder, "status", None)
    if status is not None:
        return status()
    ready = bool(getattr(recorder, "ready", lambda: False)())  # a recorder without status()
    reason = None if ready else "records store not ready"
    return {"state": "ok" if ready else "stopped", "serving": ready, "reason": reason}


@router.get("/metrics", summary="Prometheus metrics (all workers).")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    payload, content_type = request.app.state.metrics.render()
    return Response(payload, media_type=content_type)
