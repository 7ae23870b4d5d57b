"""A minimal HTTP/1.1 keep-alive client for plain-http load generation (asyncio + httptools).

It sends pre-encoded requests (request line, headers and body built once per prompt) and
records each body read with its arrival time, so the load generator spends its CPU on the
target, not on itself. Plain ``http://`` only; the load generator uses aiohttp for https.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import httptools

__all__ = ["ConnectError", "ProtocolError", "RawClient", "RawResponse", "ServerDisconnected"]


class ConnectError(OSError):
    """The TCP connection could not be opened."""


class ServerDisconnected(ConnectionError):
    """The server closed the connection before the response was complete."""


class ProtocolError(ValueError):
    """The server sent something that is not HTTP/1.1."""


RawResponse = tuple[int, dict[str, str], list[tuple[float, bytes]]]
"""status, headers (lower-case names), body pieces as (perf_counter at arrival, bytes)."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.keep_alive = True
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[tuple[float, bytes]] = []

    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"bad HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ServerDisconnected("server closed the connection"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.chunks.append((time.perf_counter(), body))

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def send(self, request: bytes) -> asyncio.Future[None]:
        self.status, self.headers, self.chunks = 0, {}, []
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(request)
        return self.waiter

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RawClient:
    """POST pre-encoded requests to one ``http://`` URL over a pool of keep-alive connections."""

    def __init__(self, url: str, headers: dict[str, str], *, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"RawClient needs an http:// URL, got {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Accept: */*",
            "User-Agent: aigc-gateway-bench",
        ]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
        self._head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self.timeout = timeout
        self._idle: list[_Connection] = []

    def encode(self, body: bytes) -> bytes:
        """The full request bytes for ``body`` (encode once, send many times)."""
        return self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Connection, self.host, self.port), self.timeout
            )
        except OSError as exc:
            raise ConnectError(
                exc.errno, f"cannot connect to {self.host}:{self.port}: {exc}"
            ) from None
        return conn

    async def post(self, request: bytes) -> RawResponse:
        """Send one encoded request and wait for the whole response."""
        conn = None
        while self._idle and conn is None:
            idle = self._idle.pop()
            conn = None if idle.closed else idle
        if conn is None:
            conn = await self._connect()
        loop = asyncio.get_running_loop()
        waiter = conn.send(request)
        timer = loop.call_later(self.timeout, _expire, waiter)
        try:
            await waiter
        except BaseException:
            conn.close()
            raise
        finally:
            timer.cancel()
        if conn.keep_alive and not conn.closed:
            self._idle.append(conn)
        else:
            conn.close()
        return conn.status, conn.headers, conn.chunks

    def close(self) -> None:
        """Close idle connections."""
        while self._idle:
            self._idle.pop().close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("request timed out"))
