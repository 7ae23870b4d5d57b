"""Request and connection limits: what the gateway enforces itself (docs/service.md "Limits").

``BodyLimitMiddleware`` (ASGI) refuses a request body over ``limits.max_body_bytes`` with 413.
A declared ``content-length`` above the limit is refused before the body is read (so a client
sending ``Expect: 100-continue`` gets the 413 instead of ``100 Continue``); a body without one
(chunked) is read up to the limit and replayed, or refused as soon as it passes the limit.

``GatewayHttpProtocol`` (uvicorn's httptools protocol, subclassed) enforces what an ASGI app
cannot see, because the app runs only once a request head has been parsed:

- **head size**: a request line plus headers over ``max_header_bytes`` gets 431 (uvicorn with
  httptools has no limit of its own: a 10 MB header was accepted, and parsed in seconds);
- **head timeout**: a connection that has not delivered a complete request head
  ``header_timeout_s`` after it opened (or after the first byte of its next request) is
  closed without an answer. uvicorn's ``timeout_keep_alive`` covers only the idle time between
  requests and is reset by every byte, so one byte every few seconds held a connection forever;
- **connection cap**: at ``max_connections`` open connections a new one displaces the
  connection that has waited longest (at least a second) for its request head, so slow-header
  clients cannot starve clients that send requests; when none can be displaced (every
  connection is busy with a request), the new one gets 503 ``service_unavailable`` with
  ``Retry-After`` and ``Connection: close``;
- **lingering close**: an answer that ends the connection while the client is still sending
  its body (the 413 above, any answer sent before the body was read) is followed by a
  half-close: the gateway shuts down its sending side and reads and discards what the client
  still sends, for at most ``linger_s`` and ``linger_max_bytes``, then closes. Closing at once
  with unread data makes the kernel send a reset, which destroys the answer before the client
  reads it (RFC 9112 section 9.6).

The per-request cost is a few attribute updates and two dictionary operations; timers run once
per process (one sweep every quarter of ``header_timeout_s``, at most every second), not per
connection.
"""

from __future__ import annotations

import asyncio
import functools
import http
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.errors import BadRequest, GatewayError, PayloadTooLarge, ServiceUnavailable

log = logging.getLogger("aigc_gateway.limits")


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared: int | None = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                break
        if declared is not None:
            if declared > limit:
                await _refuse(send, limit)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        # No length announced (chunked): read up to the limit first, then replay. Request
        # bodies are needed whole anyway; frameworks turn errors raised while reading into 400.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            body = message.get("body", b"")
            seen += len(body)
            if seen > limit:
                await _refuse(send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay_receive() -> dict:
            if replay:
                return replay.pop()
            return await receive()

        await self.app(scope, replay_receive, send)


async def _refuse(send: Any, limit: int) -> None:
    exc = PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    body = orjson.dumps(exc.to_dict())
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- connections


class HeaderFieldsTooLarge(GatewayError):
    """The request line and headers are larger than the configured limit."""

    status = 431
    code = "header_fields_too_large"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The connection limits of one server process (from ``LimitsSettings``; see there)."""

    max_connections: int = 10_000
    max_header_bytes: int = 64 * 1024
    header_timeout_s: float = 10.0
    linger_s: float = 5.0
    linger_max_bytes: int = 64 * 1024 * 1024

    @property
    def max_refusing(self) -> int:
        """Refused connections allowed to linger at once; beyond, they are closed at once."""
        return self.max_connections // 8 + 16


REPORT_EVERY_S = 10.0  # at most one log line per this many seconds about limits enforced
REFUSAL_LINGER_S = 1.0  # a refused connection is read and discarded for at most this long


class ConnectionGuard:
    """What the connections of one server process share.

    ``uvicorn.Config(http=guard.protocol_factory())``: uvicorn calls the factory per accepted
    connection. With ``--workers N`` the factory is pickled into each worker, the guard with
    its limits only; each worker builds its own state.

    ``heads``: connections waiting for a complete request head, oldest first, with the loop
    time they started waiting (on connect, or at the first byte of a later request).
    """

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.heads: OrderedDict[GatewayHttpProtocol, float] = OrderedDict()
        self.refusing = 0
        self.counts: Counter[str] = Counter()
        # a connection waiting this long for its head may be displaced at the cap
        self.displace_after_s = min(1.0, limits.header_timeout_s / 2)
        self._sweep_every_s = min(1.0, max(0.05, limits.header_timeout_s / 4))
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = False
        self._last_report = 0.0

    def __getstate__(self) -> dict[str, Any]:
        return {"limits": self.limits}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["limits"])  # type: ignore[misc]

    def protocol_factory(self) -> Callable[..., GatewayHttpProtocol]:
        """What to give uvicorn as ``Config(http=...)``: builds one protocol per connection."""
        return functools.partial(GatewayHttpProtocol, guard=self)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.started = True
        self._last_report = loop.time()
        loop.call_later(self._sweep_every_s, self._sweep)

    def displace_one(self, now: float) -> bool:
        """At the cap: close the connection that has waited longest for its head, if any may go."""
        if not self.heads:
            return False
        oldest, since = next(iter(self.heads.items()))
        if now - since < self.displace_after_s or oldest.busy:
            return False
        del self.heads[oldest]
        oldest.drop()
        self.counts["displaced"] += 1
        return True

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        deadline = now - self.limits.header_timeout_s
        heads = self.heads
        while heads:
            conn, since = next(iter(heads.items()))
            if since > deadline:
                break
            del heads[conn]
            if conn.busy:  # a pipelined head behind a request still being answered
                heads[conn] = now
                continue
            conn.drop()
            self.counts["header_timeout"] += 1
        if self.counts and now - self._last_report >= REPORT_EVERY_S:
            self._report(now)
        loop.call_later(self._sweep_every_s, self._sweep)

    def _report(self, now: float) -> None:
        counts = dict(self.counts)
        self.counts.clear()
        self._last_report = now
        # refusals and displacements mean the cap is reached; the rest is routine on the web
        level = logging.WARNING if {"refused", "displaced"} & counts.keys() else logging.INFO
        log.log(
            level,
            "connection limits enforced in the last %d s: %s",
            REPORT_EVERY_S,
            ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in sorted(counts.items())),
            extra={"counts": counts, "max_connections": self.limits.max_connections},
        )


_default_guard: ConnectionGuard | None = None


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol with the connection limits of the module doc.

    Built by a ``ConnectionGuard``; used bare (``uvicorn --http
    service.limits:GatewayHttpProtocol``) it applies the default limits.
    """

    # Slots: past 30 attributes an instance dict stops sharing keys, and every connection
    # and attribute access gets slower (measured: ~10k instructions per connection).
    __slots__ = (
        "_chunk",
        "_guard",
        "_head_bytes",
        "_head_too_large",
        "_limits",
        "_linger_left",
        "_linger_timer",
        "_lingering",
        "_raw",
        "_refused",
        "_view",
    )

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        guard: ConnectionGuard | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if guard is None:
            global _default_guard
            if _default_guard is None:
                _default_guard = ConnectionGuard(ConnectionLimits())
            guard = _default_guard
        self._guard = guard
        self._limits = guard.limits
        self._raw: asyncio.Transport | None = None
        # Bytes received while reading the current request head, counted per chunk that
        # started in the head (a lower bound).
        self._head_bytes = 0
        self._chunk = 0  # length of the chunk being parsed
        self._head_too_large = False
        self._lingering = False
        self._linger_left = 0
        self._linger_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._view: _Transport | None = None

    # -- connection ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        guard = self._guard
        if not guard.started:
            guard.start(self.loop)
        self._raw = transport
        now = self.loop.time()
        if len(self.connections) >= self._limits.max_connections and not guard.displace_one(now):
            self._refuse_connection(transport)
            return
        self._view = _Transport(transport, self)
        super().connection_made(self._view)
        guard.heads[self] = now

    def _refuse_connection(self, transport: asyncio.Transport) -> None:
        guard = self._guard
        guard.counts["refused"] += 1
        self.transport = transport  # uvicorn's connection_lost closes it
        if guard.refusing >= self._limits.max_refusing:
            transport.abort()
            return
        self._refused = True
        guard.refusing += 1
        message = "The gateway is at its connection limit; retry shortly."
        transport.write(self._answer(ServiceUnavailable(message), retry_after=True))
        self._linger(min(self._limits.linger_s, REFUSAL_LINGER_S))

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.heads.pop(self, None)
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        if self._refused:
            self._refused = False
            self._guard.refusing -= 1
        super().connection_lost(exc)
        if self._view is not None:
            self._view.protocol = None  # no reference cycle: freed without the GC

    @property
    def busy(self) -> bool:
        """A request on this connection is being answered."""
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete

    def drop(self) -> None:
        """Close without an answer (head timeout, displaced at the cap)."""
        if self._raw is not None:
            self._raw.close()

    # -- parsing ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self._raw.close()  # type: ignore[union-attr]
            return
        cycle = self.cycle
        if cycle is None or not cycle.more_body:  # reading a request head
            head = self._head_bytes
            if head == 0:  # its first bytes: its head timeout starts (unless it runs already)
                self._guard.heads.setdefault(self, self.loop.time())
            self._head_bytes = head + len(data)
        self._chunk = len(data)
        # uvicorn's data_received, with our answers to what the parser refuses
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._head_too_large:
                self._refuse_request(HeaderFieldsTooLarge(self._too_large_message()))
            else:
                self.logger.debug("Invalid HTTP request received.")
                self._refuse_request(BadRequest("Invalid HTTP request received."))
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        cycle = self.cycle
        if (
            self._head_bytes > self._limits.max_header_bytes
            and (cycle is None or not cycle.more_body)
            and not self._lingering
        ):  # a head still incomplete and already too large
            self._refuse_request(HeaderFieldsTooLarge(self._too_large_message()))

    def on_headers_complete(self) -> None:
        limit = self._limits.max_header_bytes
        # _head_bytes plus this chunk bounds the head from above: measure only past the limit
        if self._head_bytes + self._chunk > limit and self._head_size() > limit:
            self._head_too_large = True
            raise HeaderFieldsTooLarge()  # httptools turns it into HttpParserCallbackError
        self._head_bytes = 0
        self._guard.heads.pop(self, None)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if cycle.more_body and not self.pipeline and not self._lingering and not cycle.disconnected:
            # answered before the request body was read: stop reading it (lingering close)
            self._linger(self._limits.linger_s)
        super().on_response_complete()  # sees is_closing() and leaves the connection alone

    def _head_size(self) -> int:
        """Bytes of the request line and header lines just parsed (give or take whitespace)."""
        return len(self.url) + 16 + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _too_large_message(self) -> str:
        return (
            f"The request line and headers are larger than {self._limits.max_header_bytes} bytes."
        )

    # -- answers and closing ------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:  # uvicorn's, for the paths that call it
        self._refuse_request(BadRequest(msg))

    def _refuse_request(self, exc: GatewayError) -> None:
        """Answer a request the parser refused, then close (lingering)."""
        self._guard.counts[exc.code] += 1
        if self.busy:  # pipelined behind a request being answered: close after that answer
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            return
        self._raw.write(self._answer(exc))  # type: ignore[union-attr]
        self._linger(self._limits.linger_s)

    def _answer(self, exc: GatewayError, *, retry_after: bool = False) -> bytes:
        body = orjson.dumps(exc.to_dict())
        parts = [b"HTTP/1.1 %d %s\r\n" % (exc.status, http.HTTPStatus(exc.status).phrase.encode())]
        for name, value in self.server_state.default_headers:
            parts += [name, b": ", value, b"\r\n"]
        parts.append(b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body))
        if retry_after:
            parts.append(b"retry-after: 1\r\n")
        parts += [b"connection: close\r\n\r\n", body]
        return b"".join(parts)

    def _linger(self, seconds: float) -> None:
        """Half-close: send what is buffered and a FIN, read and discard, close later."""
        raw = self._raw
        assert raw is not None
        self._lingering = True
        self._linger_left = self._limits.linger_max_bytes
        self._guard.heads.pop(self, None)
        if self._view is not None:
            self._view.is_closing = _true  # uvicorn's code must leave the connection alone now
        if seconds <= 0 or raw.is_closing() or not raw.can_write_eof():
            raw.close()
            return
        raw.write_eof()
        raw.resume_reading()
        self._linger_timer = self.loop.call_later(seconds, raw.close)


def _true() -> bool:
    return True


class _Transport:
    """The transport as uvicorn's protocol code sees it: ``close()`` lingers while the client
    may still be sending its body, and a lingering connection reports ``is_closing()``.
    Hot methods are the raw transport's bound methods."""

    __slots__ = (
        "_raw",
        "get_extra_info",
        "is_closing",
        "pause_reading",
        "protocol",
        "resume_reading",
        "write",
    )

    def __init__(self, raw: asyncio.Transport, protocol: GatewayHttpProtocol) -> None:
        self._raw = raw
        self.protocol: GatewayHttpProtocol | None = protocol  # None once the connection is lost
        self.write = raw.write
        self.pause_reading = raw.pause_reading
        self.resume_reading = raw.resume_reading
        self.get_extra_info = raw.get_extra_info
        self.is_closing: Callable[[], bool] = raw.is_closing  # _true once lingering

    def close(self) -> None:
        protocol = self.protocol
        cycle = protocol and protocol.cycle
        if (
            cycle
            and (cycle.more_body or protocol._head_bytes)  # a body, or a next request, arriving
            and not cycle.disconnected
            and not protocol._lingering
        ):
            protocol._linger(protocol._limits.linger_s)  # the client may still be sending
        else:
            self._raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)
