"""Request body size limit as pure ASGI middleware (streams pass through untouched).

A declared ``content-length`` above the limit is refused before the body is read (the
server enforces the declared length); a body without one (chunked) is read up to the limit
and replayed, or refused with 413 as soon as it passes the limit.
"""

from __future__ import annotations

from typing import Any

import orjson

from service.errors import PayloadTooLarge


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
