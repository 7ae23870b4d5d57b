"""A scriptable fake model API on loopback, for the proxy tests.

Each test scripts the next reply of a path: a status, headers and the body as a list of byte
pieces sent as separate writes (so a term can be split across chunks and inside a multi-byte
character), with an optional delay between pieces and an optional endless tail. The fake
records every request it received (with when it arrived and when its reply ended, on
``time.perf_counter``) and whether the caller went away before the reply ended (a
cancellation); ``before`` delays the reply's start, watching for the caller to leave.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["FakeUpstream", "Reply", "sse", "split_bytes"]


def sse(obj: Any, event: str | None = None) -> bytes:
    data = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + data + b"\n\n"


def split_bytes(data: bytes, size: int) -> list[bytes]:
    """`data` cut every `size` bytes, regardless of character or event boundaries."""
    return [data[i : i + size] for i in range(0, len(data), size)]


@dataclass
class Reply:
    pieces: list[bytes]
    status: int = 200
    content_type: str = "text/event-stream"
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    endless: bool = False  # after the pieces, keep the connection open until cancelled
    drop: bool = False  # after the pieces, cut the connection without ending the body
    before: float = 0.0  # seconds before the reply starts (a slow model)
    until: Callable[[], bool] | None = None  # start the reply once this is true (polled)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    started: float = 0.0  # time.perf_counter() when the request had arrived
    replied: float | None = None  # ... when the reply started
    ended: float | None = None  # ... when the reply ended or the caller left

    def json(self) -> Any:
        return orjson.loads(self.body)


class FakeUpstream:
    """ASGI app; script with `reply()`/`json()`, inspect `requests` and `cancelled`."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.last: dict[str, Reply] = {}
        self.requests: list[Seen] = []
        self.cancelled = threading.Event()
        self.completed = threading.Event()

    # -- scripting -------------------------------------------------------------------------

    def reply(self, path: str, reply: Reply) -> None:
        self.replies.setdefault(path, []).append(reply)

    def json(self, path: str, obj: Any, status: int = 200, **kw: Any) -> None:
        self.reply(
            path, Reply([orjson.dumps(obj)], status=status, content_type="application/json", **kw)
        )

    def stream(self, path: str, pieces: list[bytes], **kw: Any) -> None:
        self.reply(path, Reply(pieces, **kw))

    def reset(self) -> None:
        self.replies.clear()
        self.last.clear()
        self.requests.clear()
        self.cancelled.clear()
        self.completed.clear()

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        seen = Seen(scope["method"], scope["path"], headers, body, time.perf_counter())
        self.requests.append(seen)
        try:
            await self._answer(scope, receive, send, seen)
        finally:
            seen.ended = time.perf_counter()

    async def _answer(self, scope: dict, receive: Any, send: Any, seen: Seen) -> None:
        queue = self.replies.get(scope["path"])
        if queue:
            reply = self.last[scope["path"]] = queue.pop(0)
        elif scope["path"] in self.last:  # the last script repeats
            reply = self.last[scope["path"]]
        else:
            await _send_all(send, 404, "application/json", [], [b'{"error":"unscripted"}'])
            return
        gone = asyncio.ensure_future(_disconnected(receive))
        if reply.until is not None:
            deadline = time.monotonic() + 20
            while not reply.until() and not gone.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
        if reply.before:
            await asyncio.wait([gone], timeout=reply.before)
        if gone.done():
            self.cancelled.set()
            return
        seen.replied = time.perf_counter()
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": reply.status,
                    "headers": [(b"content-type", reply.content_type.encode())]
                    + [(k.encode(), v.encode()) for k, v in reply.headers],
                }
            )
            for piece in reply.pieces:
                if gone.done():
                    self.cancelled.set()
                    return
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                if reply.delay:
                    await asyncio.sleep(reply.delay)
            if reply.drop:
                raise RuntimeError("fake upstream drops the connection")  # uvicorn aborts it
            if reply.endless:
                while not gone.done():
                    await asyncio.sleep(0.01)
                self.cancelled.set()
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.completed.set()
        except OSError:  # uvicorn's ClientDisconnected
            self.cancelled.set()
        finally:
            gone.cancel()


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send_all(send: Any, status: int, ctype: str, headers: list, pieces: list[bytes]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype.encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": b"".join(pieces)})
