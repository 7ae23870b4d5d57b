"""``create_app(settings)``: the FastAPI app, its lifespan, error mapping and routers.

Nothing runs at import. The lifespan builds the ``Runtime`` (lexicons through the compiled
cache, tenants, recorder; the gateway adds its upstream pool) on ``app.state.runtime`` and starts the
reload triggers: SIGHUP, optional file watching and, with several workers, a reload stamp file
that tells every worker to follow an ``/admin/reload``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from service import heap, reloading
from service.config import Settings, load_settings
from service.errors import GatewayError, InvalidJSON, ValidationFailed, from_library_error
from service.limits import BodyLimitMiddleware
from service.logs import RequestLogMiddleware
from service.metrics import Metrics, mark_process_dead
from service.records import build_recorder
from service.runtime import (
    Runtime,
    Snapshot,
    build_snapshot,
    warm_up,
)

log = logging.getLogger("aigc_gateway.app")

# Included in this order; the gateway last because it may end in a catch-all pass-through.
ROUTER_MODULES = (
    "service.routes.ops",
    "service.routes.moderate",
    "service.routes.openai_moderation",
    "service.routes.admin",
    "service.routes.label",
    "service.routes.complaints",
    "service.routes.records_admin",
    "service.routes.console",
    "service.routes.gateway",
)

ErrorRenderer = Callable[[GatewayError], dict[str, Any]]


def register_error_envelope(app: FastAPI, path_prefix: str, render: ErrorRenderer) -> None:
    """Render ``GatewayError``s under ``path_prefix`` with a protocol's own error body.

    The longest matching prefix wins; other paths get ``{"error": {"code", "message"}}``.
    """
    envelopes: dict[str, ErrorRenderer] = app.state.error_envelopes
    envelopes[path_prefix] = render


def error_response(request: Request, exc: GatewayError) -> Response:
    """The JSON response for ``exc`` in the envelope of the request's path."""
    render: ErrorRenderer | None = None
    best = -1
    for prefix, fn in request.app.state.error_envelopes.items():
        if request.url.path.startswith(prefix) and len(prefix) > best:
            render, best = fn, len(prefix)
    body = render(exc) if render is not None else exc.to_dict()
    headers = {"www-authenticate": "Bearer"} if exc.status == 401 else None
    return Response(
        orjson.dumps(body), status_code=exc.status, media_type="application/json", headers=headers
    )


def _validation_error(exc: RequestValidationError) -> GatewayError:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return InvalidJSON("The request body is not valid JSON.")
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type")}
        for e in errors
    ]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(p for p in first["loc"] if p != "body") or "body"
    return ValidationFailed(f"{where}: {first['msg']}", details=details)


def _install_error_handlers(app: FastAPI) -> None:
    async def on_gateway_error(request: Request, exc: GatewayError) -> Response:
        return error_response(request, exc)

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, _validation_error(exc))

    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        err = GatewayError(str(exc.detail), code=codes.get(exc.status_code, "http_error"))
        err.status = exc.status_code
        return error_response(request, err)

    async def on_value_error(request: Request, exc: ValueError) -> Response:
        translated = from_library_error(exc)
        if translated is None:
            log.exception("unhandled error")
            translated = GatewayError("Internal error.")
        return error_response(request, translated)

    async def on_disconnect(request: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=499)  # nobody is listening; keeps it out of error logs

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(request, GatewayError("Internal error."))

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ValueError, on_value_error)
    app.add_exception_handler(ClientDisconnect, on_disconnect)
    app.add_exception_handler(Exception, on_unexpected)


def _include_routers(app: FastAPI) -> None:
    for name in ROUTER_MODULES:
        module = importlib.import_module(name)
        app.include_router(module.router)
        install = getattr(module, "install", None)
        if install is not None:  # optional hook, e.g. to register an error envelope
            install(app)


def create_app(settings: Settings | None = None, *, snapshot: Snapshot | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: ``load_settings()``).

    ``snapshot``: an already built first snapshot (``serve`` compiles before starting uvicorn).
    """
    settings = settings or load_settings()
    metrics = Metrics()
    from service.classifier import ClassifierMetrics, ClassifierStage

    classifier_metrics = ClassifierMetrics(metrics.registry)
    prebuilt = [snapshot]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        snapshot = prebuilt.pop() if prebuilt and prebuilt[0] is not None else None
        if snapshot is None:
            snapshot = await asyncio.to_thread(build_snapshot, settings)
        await asyncio.to_thread(warm_up)
        recorder = build_recorder(settings)
        await recorder.start()
        recorder.bind_metrics(metrics.registry)
        runtime = Runtime(settings, snapshot, recorder=recorder)
        runtime.metrics = metrics
        classifier = ClassifierStage(settings.classifier, classifier_metrics)
        runtime.classifier = classifier  # guard-model stage (docs/classifier.md)
        runtime.reload_listeners.append(lambda snap: classifier.update(snap.settings.classifier))
        metrics.set_lexicon(snapshot.version, snapshot.lexicon.term_count)
        runtime.reload_listeners.append(
            lambda snap: metrics.set_lexicon(snap.version, snap.lexicon.term_count)
        )
        app.state.runtime = runtime
        triggers = reloading.start_triggers(runtime, metrics)
        loop = asyncio.get_running_loop()
        runtime.reload_listeners.append(lambda snap: heap.thaw_and_refreeze(loop))
        heap.freeze()  # the start-up heap: full collections no longer walk it
        log.info(
            "started",
            extra={
                "lexicon_version": snapshot.version,
                "terms": snapshot.lexicon.term_count,
                "tenants": len(snapshot.tenants.tenants),
                "pid": os.getpid(),
            },
        )
        try:
            yield
        finally:
            await triggers.stop()
            await classifier.close()
            await recorder.stop()
            mark_process_dead()
            heap.thaw()

    app = FastAPI(
        title="aigc-gateway",
        summary="Lexicon screening, GB 45438 labels and a streaming proxy for generative AI.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.error_envelopes = {}
    _install_error_handlers(app)
    _include_routers(app)
    # Added inner first: the log middleware is outermost so a 413 still gets an id and a line.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(RequestLogMiddleware, metrics=metrics, access=settings.access_log)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory for ``--workers N``: each worker reads settings from the environment."""
    from service.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("aigc-gateway")
    except Exception:
        return "0.0.0"
