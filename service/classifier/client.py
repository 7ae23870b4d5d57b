"""``GuardClient``: one guard endpoint, called the same way whatever its wire format.

Production behaviour, all here so every backend gets it:

- **Deadline.** ``check`` is bounded by ``timeout_s`` as a whole: waiting for a concurrency
  slot, every attempt and every backoff. A guard that hangs costs a client at most that long.
- **Concurrency limit.** At most ``concurrency`` calls in flight per endpoint (a semaphore and
  the connection pool); more wait for a slot within their deadline.
- **Retries only where safe.** Classifying is a pure function, so repeating a call changes
  nothing, but a retry must not pile load onto a guard that is already slow: only a failure
  to connect or a dropped connection, and HTTP 429, 502 and 503, are retried (``retries``
  times, with a short backoff, and only while the deadline allows). Timeouts, other statuses
  and malformed answers are not.
- **Circuit breaker** (``breaker.py``): after ``breaker_failures`` failed checks in a row, calls
  fail at once for ``breaker_reset_s``, then one trial call decides.
- **Cache** of answers keyed by a SHA-256 of (backend, url, model, direction, prompt, text):
  the text itself is not kept. Only answers are cached, never failures.
- **Long texts** are classified in pieces of at most ``max_chars`` (segment boundaries) in
  parallel; the worst piece decides.
- **No text in logs.** Log lines carry the backend, error code, attempt and text length only;
  error messages never quote a guard's answer (it may echo the text).

aiohttp rather than httpx: the proxy's upstream client is aiohttp (``service/proxy/upstream.py``)
because httpx's pool measured slower than the whole screening path on this machine; the guard
call sits on the same hot path, so it uses the same client library and settings style.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from typing import Any

import aiohttp
import orjson
from cachetools import TTLCache

from service.cleanpool import CleanConnector

from .backends import BadGuardResponse, backend_for
from .breaker import CircuitBreaker
from .segments import split_text
from .settings import ClassifierSettings
from .verdict import GuardInput, GuardResult, worst

__all__ = ["GuardClient", "GuardError", "client_key"]

log = logging.getLogger("aigc_gateway.classifier")

MAX_ANSWER_BYTES = 1 << 20
_RETRY_STATUS = frozenset({429, 502, 503})
_BACKOFF_S = 0.05


class GuardError(Exception):
    """The guard did not give a usable answer; ``code`` is the stable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Retryable(GuardError):
    pass


def client_key(settings: ClassifierSettings) -> tuple[Any, ...]:
    """What makes two configurations the same endpoint (they then share one client)."""
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    return (
        settings.backend,
        settings.url,
        settings.effective_model,
        hashlib.sha256(key.encode()).hexdigest(),
        settings.timeout_s,
        settings.concurrency,
        settings.retries,
        settings.breaker_failures,
        settings.breaker_reset_s,
        settings.cache_size,
        settings.cache_ttl_s,
        settings.max_chars,
    )


class GuardClient:
    """Calls one guard endpoint; create it once per endpoint and share it between requests."""

    def __init__(self, settings: ClassifierSettings) -> None:
        if settings.backend is None or settings.url is None:
            raise ValueError("a GuardClient needs a backend and a url")
        self.settings = settings
        self.backend = backend_for(settings.backend)
        self.model = settings.effective_model
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)
        self.cache: TTLCache[str, GuardResult] | None = (
            TTLCache(settings.cache_size, settings.cache_ttl_s) if settings.cache_size else None
        )
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if settings.api_key is not None:
            self._headers["authorization"] = "Bearer " + settings.api_key.get_secret_value()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            s = self.settings
            self._session = aiohttp.ClientSession(
                connector=CleanConnector(limit=s.concurrency, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=None, connect=s.timeout_s),
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def cache_key(self, item: GuardInput) -> str:
        h = hashlib.sha256()
        for part in (
            self.backend.name,
            self.settings.url or "",
            self.model,
            item.direction,
            (item.prompt or "") if item.direction == "output" else "",
            item.text,
        ):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        return h.hexdigest()

    async def check(self, item: GuardInput) -> tuple[GuardResult, bool]:
        """The guard's answer on ``item`` and whether it came from the cache.

        Raises ``GuardError`` (``timeout``, ``circuit_open``, ``unreachable``,
        ``bad_response``, ``http_<status>``) when there is no usable answer.
        """
        key = self.cache_key(item) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit, True
        if not self.breaker.allow():
            raise GuardError("circuit_open", "the guard's circuit breaker is open")
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                result = await self._call_pieces(item)
        except TimeoutError:
            self._failed(item, "timeout")
            raise GuardError("timeout", "the guard did not answer in time") from None
        except GuardError as exc:
            self._failed(item, exc.code)
            raise
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except Exception as exc:  # a bug must not leave the breaker's trial slot taken
            self._failed(item, "internal")
            log.error("classifier check raised", extra={"exception": type(exc).__name__})
            raise GuardError("internal", "the guard check failed unexpectedly") from None
        self.breaker.success()
        if self.cache is not None:
            self.cache[key] = result
        return result, False

    async def _call_pieces(self, item: GuardInput) -> GuardResult:
        pieces = split_text(item.text, self.settings.max_chars)
        if len(pieces) == 1:
            return await self._call(item)
        try:
            async with asyncio.TaskGroup() as group:  # one failure cancels the other pieces
                tasks = [
                    group.create_task(
                        self._call(GuardInput(p, item.direction, item.prompt, item.request_id))
                    )
                    for p in pieces
                ]
        except ExceptionGroup as eg:
            raise eg.exceptions[0] from None
        return worst([t.result() for t in tasks])

    def _failed(self, item: GuardInput, code: str) -> None:
        was_open = self.breaker.state == "open"
        self.breaker.failure()
        log.warning(
            "classifier call failed",
            extra={
                "backend": self.backend.name,
                "error": code,
                "direction": item.direction,
                "chars": len(item.text),
            },
        )
        if self.breaker.state == "open" and not was_open:
            log.error(
                "classifier circuit opened",
                extra={"backend": self.backend.name, "reset_s": self.settings.breaker_reset_s},
            )

    async def _call(self, item: GuardInput) -> GuardResult:
        path, body = self.backend.request(item, self.model)
        url = (self.settings.url or "") + path
        data = orjson.dumps(body)
        attempt = 0
        async with self._slots:
            while True:
                try:
                    return await self._exchange(url, data, item)
                except _Retryable as exc:
                    if attempt >= self.settings.retries:
                        raise GuardError(exc.code, str(exc)) from None
                    attempt += 1
                    log.info(
                        "classifier call retried",
                        extra={"backend": self.backend.name, "error": exc.code, "attempt": attempt},
                    )
                    await asyncio.sleep(_BACKOFF_S * attempt * (0.5 + random.random()))

    async def _exchange(self, url: str, data: bytes, item: GuardInput) -> GuardResult:
        try:
            async with self.session.post(
                url, data=data, headers=self._headers, allow_redirects=False
            ) as resp:
                if resp.status in _RETRY_STATUS:
                    raise _Retryable(f"http_{resp.status}", f"the guard answered {resp.status}")
                if not 200 <= resp.status < 300:
                    raise GuardError(f"http_{resp.status}", f"the guard answered {resp.status}")
                raw = await _read_capped(resp, MAX_ANSWER_BYTES)
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
            raise _Retryable(
                "unreachable", f"cannot reach the guard: {type(exc).__name__}"
            ) from None
        except aiohttp.ClientError as exc:
            raise GuardError(
                "unreachable", f"the guard call failed: {type(exc).__name__}"
            ) from None
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise GuardError("bad_response", "the guard's answer is not JSON") from None
        try:
            return self.backend.parse(payload, item)
        except BadGuardResponse as exc:
            raise GuardError("bad_response", f"malformed guard answer: {exc}") from None


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    length = resp.content_length
    if length is not None and length > cap:
        raise GuardError("bad_response", "the guard's answer is too large")
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        total += len(chunk)
        if total > cap:
            raise GuardError("bad_response", "the guard's answer is too large")
        chunks.append(chunk)
    return b"".join(chunks)
