"""The upstream HTTP client of the proxy (aiohttp, one pooled session per app) and the one
place where transport failures become gateway errors.

aiohttp directly, not httpx: on this machine the httpx pool cost more than the whole screening
path (see benchmarks/gateway.py). Streams have no total deadline, only a per-read one.

A pooled connection is reused only if nothing arrived on it while it was idle: bytes the
upstream sends after an answer ended (past its ``Content-Length``, a second response nobody
asked for) would otherwise be read as the start of the next request's answer, another
caller's text (keep-alive desync). Such a connection is closed and another one taken
(``service.cleanpool``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp

from service.cleanpool import CleanConnector
from service.errors import UpstreamError, UpstreamTimeout

__all__ = ["TIMEOUTS", "UpstreamClient", "map_transport_errors"]

#: the model API did not answer in time (aiohttp's read timeout is also a ``ClientError``, so
#: these are asked before it)
TIMEOUTS = (TimeoutError, aiohttp.ServerTimeoutError)


@contextmanager
def map_transport_errors() -> Iterator[None]:
    """Translate aiohttp/asyncio failures into ``UpstreamError`` / ``UpstreamTimeout``."""
    try:
        yield
    except TIMEOUTS as exc:
        raise UpstreamTimeout("The model API did not answer in time.") from exc
    except aiohttp.ClientConnectorError as exc:
        raise UpstreamError(f"Cannot connect to the model API: {exc.os_error}.") from exc
    except aiohttp.ClientPayloadError as exc:
        raise UpstreamError("The model API ended the response early.") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"The model API failed: {type(exc).__name__}.") from exc


class UpstreamClient:
    """A lazily opened pooled aiohttp session (it must be created inside the event loop)."""

    def __init__(self, proxy_settings: Any) -> None:
        self.settings = proxy_settings
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            s = self.settings
            connector = CleanConnector(
                limit=s.max_connections, ttl_dns_cache=300, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=s.connect_timeout_s, sock_read=s.timeout_s
                ),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
                raise_for_status=False,
            )
        return self._session

    async def request(
        self, method: str, url: str, *, headers: list[tuple[str, str]], body: bytes | None
    ) -> aiohttp.ClientResponse:
        with map_transport_errors():
            return await self.session.request(
                method, url, headers=headers, data=body, allow_redirects=False
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
