"""A pooled aiohttp connector that never hands out a connection with bytes nobody asked for.

HTTP/1.1 keep-alive has no request ids: bytes an upstream sends after an answer ended (past
its ``Content-Length``, a second response) sit on the idle pooled connection and would be read
as the start of the next request's answer (keep-alive desync): another caller's text for the
model API, a stale verdict for the classifier. Such a connection is closed and another taken.
"""

from __future__ import annotations

from typing import Any

import aiohttp

__all__ = ["CleanConnector"]

_TRIES = 16


class CleanConnector(aiohttp.TCPConnector):
    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        for _ in range(_TRIES):
            conn = await super().connect(req, traces, timeout)
            proto = conn.protocol
            if proto is None or not proto.should_close:
                return conn
            conn.close()  # data arrived while idle (or an error): never read it as an answer
        raise aiohttp.ClientConnectionError("the peer sends bytes nobody asked for")
