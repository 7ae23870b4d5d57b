"""Gateway routes: every path under the gateway namespaces goes to the proxy.

``GatewayDispatch`` (pure ASGI, innermost middleware) canonicalises the path and resolves its
route (``service.proxy.routing``): protocol routes, the no-text allow-list and every other
path under ``/v1``, ``/api``, ``/openai``, ... go to the proxy, which renders its own protocol
errors; the service's own routes there (``/v1/moderations``, labeled files) go to the app,
under their canonical path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI
from starlette.routing import Route

from service.errors import GatewayError
from service.proxy import classifier
from service.proxy.pipeline import Proxy
from service.proxy.protocols import error_body
from service.proxy.routing import resolve

__all__ = ["GatewayDispatch", "install", "router"]


def _proxy(scope: dict) -> Proxy:
    return scope["app"].state.proxy


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
router.routes.append(
    Route(
        "/v1/aigc/files/{file_id}",
        _Files(),
        methods=["GET"],
        name="gateway_files",
        include_in_schema=False,
    )
)

_TEMPLATES: dict[str, SimpleNamespace] = {}


class GatewayDispatch:
    """Send every gateway path to the proxy, skipping the router and exception middleware
    (about a tenth of the gateway's time per call); ``scope["route"]`` carries a template so
    request metrics keep one label per protocol."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        try:
            route = resolve(scope["method"], raw)
        except GatewayError as exc:
            body = error_body("openai", exc.status, exc.code, exc.message)
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": exc.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if route is None:
            await self.app(scope, receive, send)
            return
        if route.kind == "service":
            if route.path != scope["path"]:
                scope = {**scope, "path": route.path, "raw_path": route.path.encode()}
            await self.app(scope, receive, send)
            return
        template = _TEMPLATES.get(route.template)
        if template is None:
            template = _TEMPLATES[route.template] = SimpleNamespace(path=route.template)
        scope["route"] = template
        await _proxy(scope)(scope, receive, send, route)


def install(app: FastAPI) -> None:
    """Per-app proxy state: created with the app, its upstream pool closed at shutdown."""
    registry = getattr(getattr(app.state, "metrics", None), "registry", None)
    proxy = Proxy(app.state.settings, registry)
    classifier.install(proxy)  # the guard-model stage's guards (off unless configured)
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
