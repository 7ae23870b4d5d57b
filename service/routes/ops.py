"""Operations: ``/healthz`` (process up), ``/readyz`` (lexicons and records ready), ``/metrics``."""

from __future__ import annotations

import os
import time

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.deps import RuntimeDep
from service.routes.moderate import json_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers.")
async def healthz() -> Response:
    """Process is up."""
    return json_response({"status": "ok"})


@router.get("/readyz", summary="Readiness: lexicons compiled and records store reachable.")
async def readyz(runtime: RuntimeDep) -> Response:
    """503 until the lexicon is compiled and the records store answers."""
    ok, checks = runtime.ready()
    snapshot = runtime.snapshot
    body = {
        "status": "ready" if ok else "not_ready",
        "checks": checks,
        "lexicon_version": snapshot.version,
        "terms": snapshot.lexicon.term_count,
        "tenants": len(snapshot.tenants.tenants),
        "uptime_s": round(time.time() - runtime.started_at, 3),
        "pid": os.getpid(),
    }
    return json_response(body, status=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics (all workers).")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    payload, content_type = request.app.state.metrics.render()
    return Response(payload, media_type=content_type)
