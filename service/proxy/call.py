"""The state of one proxied request, and how its responses are sent (pure ASGI)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from service.errors import GatewayError, PolicyViolation

from .decisions import Decisions
from .labels import LabelPlan
from .protocols import Adapter, error_body
from .routing import Route

__all__ = ["Call", "ClientGone", "unless_gone"]

T = TypeVar("T")


class ClientGone(Exception):
    """The client went away (before its request body arrived, or while it was answered)."""


async def unless_gone(call: Call, work: Awaitable[T]) -> T:
    """``work`` (awaited in this task), cancelled with ``ClientGone`` if the client disconnects
    meanwhile: a client that left must not keep an upstream generation running. Only after
    the request body was read (``receive`` then yields nothing but the disconnect)."""
    current = asyncio.current_task()
    assert current is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await call.receive())["type"] != "http.disconnect":
            pass
        gone = True
        current.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise
        current.uncancel()
        raise ClientGone from None
    finally:
        watcher.cancel()


def _header_pairs(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]


class Call:
    """One request through the proxy: what it is, what was decided, what was sent."""

    __slots__ = (
        "scope",
        "receive",
        "send",
        "route",
        "path",
        "runtime",
        "headers",
        "request_id",
        "started",
        "tenant",
        "plan",
        "user_id",
        "model",
        "restricted",
        "request",
        "inputs",
        "outputs",
        "decision",
        "status",
        "produce_id",
        "labeled",
        "media_labeled",
        "upstream_started",
        "upstream_ready",
        "upstream_done",
        "first_byte",
        "stream_position",
        "guard",
        "recorded",
        "sent",
    )

    def __init__(self, scope: dict, receive: Any, send: Any, route: Route, runtime: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.route = route
        self.path = route.path  # the canonical path, as forwarded (a masked segment masked)
        self.runtime = runtime
        self.headers = _header_pairs(scope.get("headers", []))
        self.request_id = str(scope.get("state", {}).get("request_id") or "")
        self.started = time.perf_counter()
        self.tenant: Any = None
        self.plan: LabelPlan | None = None
        self.user_id: str | None = None
        self.model: str | None = None
        self.restricted = False
        self.request: Any = None  # the parsed request as forwarded (screened), JSON only
        self.inputs: Decisions | None = None
        self.outputs: Decisions | None = None
        self.decision = "allow"
        self.status = 500
        self.produce_id = ""
        self.labeled = False  # an explicit text notice was delivered
        self.media_labeled: list[tuple[str, str, bool]] = []  # (content id, type, explicit)
        self.upstream_started = 0.0
        self.upstream_ready = 0.0  # the upstream answered (its headers); 0: not yet
        self.upstream_done = 0.0
        self.first_byte = 0.0
        self.stream_position: int | None = None
        self.guard: Any = None  # per-call state of a guard (the classifier's verdicts)
        self.recorded = False
        self.sent = False  # response headers went out

    @property
    def adapter(self) -> Adapter | None:
        return self.route.adapter

    @property
    def family(self) -> str:
        return self.route.family

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def aigc_headers(self, decision: str | None = None) -> list[tuple[bytes, bytes]]:
        headers = [(b"x-aigc-decision", (decision or self.decision).encode())]
        screen = self.inputs or self.outputs
        if screen is not None:
            headers.append((b"x-aigc-lexicon-version", screen.lexicon_version.encode()))
        return headers

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.sent = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, data: bytes, more: bool = False) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    async def respond(
        self,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]] | None = None,
        media_type: bytes = b"application/json",
    ) -> None:
        hdrs = [(k, v) for k, v in headers or [] if k != b"content-type"]
        hdrs.append((b"content-type", media_type))
        hdrs.append((b"content-length", str(len(body)).encode()))
        await self.start(status, hdrs)
        await self.body(body)

    def error_response(self, exc: GatewayError) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """Status, body (the protocol's envelope) and headers for ``exc``."""
        param = exc.details.get("param") if isinstance(exc.details, dict) else None
        body = error_body(self.family, exc.status, exc.code, exc.message, param)
        decision = "block" if isinstance(exc, PolicyViolation) else None
        headers = self.aigc_headers(decision)
        if exc.status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        return exc.status, body, headers
