"""Gateway routes: the screened model APIs, labeled files, and the catch-all pass-through.

The handlers are pure ASGI (no FastAPI dependency or body parsing on the hot path); the
protocol of each path is the adapter in ``service.proxy.protocols.ADAPTERS``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI
from starlette.routing import Route

from service.proxy.forward import Proxy
from service.proxy.protocols import ADAPTERS, Adapter

__all__ = ["GatewayDispatch", "install", "router"]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _proxy(scope: dict) -> Proxy:
    return scope["app"].state.proxy


class _Screened:
    """ASGI endpoint of one screened API."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await _proxy(scope).screened(scope, receive, send, self.adapter)


class _PassThrough:
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await _proxy(scope).passthrough(scope, receive, send)


class _Files:
    """Labeled media the gateway serves back (URL image results)."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        file_id = scope.get("path_params", {}).get("file_id", "")
        found = _proxy(scope).files.get(file_id)
        if found is None:
            body = orjson.dumps({"error": {"code": "not_found", "message": "No such file."}})
            status, ctype = 404, b"application/json"
        else:
            (body, media_type), status = found, 200
            ctype = media_type.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


router = APIRouter()
_FAST: dict[str, tuple[_Screened, Route]] = {}
for _path, _adapter in ADAPTERS.items():
    _route = Route(
        _path,
        _Screened(_adapter),
        methods=["POST"],
        name=f"gateway_{_adapter.name}",
        include_in_schema=False,
    )
    router.routes.append(_route)
    _FAST[_path] = (_route.app, _route)


class GatewayDispatch:
    """Pure ASGI middleware sending the screened POST routes straight to their handler.

    It sits inside the request-log and body-limit middlewares and skips only the router and
    exception middleware (about a tenth of the gateway's time per call, measured with
    pyinstrument): the handlers render their own protocol errors, and `scope["route"]` is set
    so request metrics keep the route template.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = _FAST.get(scope["path"])
            if found is not None:
                scope["route"] = found[1]
                await found[0](scope, receive, send)
                return
        await self.app(scope, receive, send)


router.routes.append(
    Route(
        "/v1/aigc/files/{file_id}",
        _Files(),
        methods=["GET"],
        name="gateway_files",
        include_in_schema=False,
    )
)
router.routes.append(
    Route(
        "/v1/{path:path}",
        _PassThrough(),
        methods=_METHODS,
        name="gateway_passthrough_v1",
        include_in_schema=False,
    )
)
router.routes.append(
    Route(
        "/api/{path:path}",
        _PassThrough(),
        methods=_METHODS,
        name="gateway_passthrough_api",
        include_in_schema=False,
    )
)


def install(app: FastAPI) -> None:
    """Per-app proxy state: created with the app, its upstream pool closed at shutdown."""
    registry = getattr(getattr(app.state, "metrics", None), "registry", None)
    proxy = Proxy(app.state.settings, registry)
    app.state.proxy = proxy
    # Added before the service's own middlewares, so it ends up innermost (inside them).
    app.add_middleware(GatewayDispatch)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            try:
                yield state
            finally:
                await proxy.client.close()

    app.router.lifespan_context = lifespan

    from service.app import register_error_envelope

    for path, adapter in ADAPTERS.items():  # exact paths: other /v1 routes keep their own
        register_error_envelope(app, path, _envelope(adapter))


def _envelope(adapter: Adapter) -> Any:
    def render(exc: Any) -> dict:
        return orjson.loads(adapter.error_body(exc.status, exc.code, exc.message))

    return render
