"""State that all workers and replicas share: rate-limit windows and sanction notices.

Two implementations behind one small interface:

- ``DatabaseState`` (default): the records database. Rate-limit windows are rows of
  ``rate_windows`` updated with one upsert; sanction notices go through PostgreSQL
  ``NOTIFY``/``LISTEN`` (SQLite has no notices: its workers share one machine and see a new
  sanction when their cache entry expires, ``sanction_cache_s``).
- ``RedisState`` (``[records] shared_state_url = "redis://..."``): windows are Redis counters
  with an expiry, notices a pub/sub channel. The sanction counters themselves always stay in
  the records database: they are compliance state, updated in transactions, and must survive
  a Redis restart.

Rate limits use a sliding-window counter: the hits of the current fixed window plus those of
the previous one weighted by how much of it still overlaps the sliding window. Every hit counts,
refused ones too (a client that keeps hammering stays limited). Keys are stored as a hash, never
as the client address itself.

When the shared store does not answer, ``allow`` falls back to a limiter of this process alone
(logged), so the limit still holds per process instead of not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import Any

from service.records.backends import PostgresBackend, redacted
from service.records.store import Store

log = logging.getLogger("aigc_gateway.records")

Notice = Callable[[str, str], None]  # (tenant_id, user_id) whose sanction changed
MAX_WINDOW_S = 3600


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def sliding_estimate(previous: int, current: int, now: float, window_s: float) -> float:
    """Hits in the sliding window ending ``now`` estimated from two fixed windows."""
    elapsed = (now % window_s) / window_s
    return previous * (1.0 - elapsed) + current


class SharedState(ABC):
    """Rate-limit windows and sanction notices shared by every process of a deployment."""

    name: str

    def __init__(self) -> None:
        self._local = LocalLimiter()
        self._listener: asyncio.Task[None] | None = None

    async def allow(self, bucket: str, key: str, limit: int, window_s: float) -> bool:
        """Count one hit of ``key`` in ``bucket``; False when it is over ``limit`` per
        ``window_s`` seconds across all processes."""
        if not 0 < window_s <= MAX_WINDOW_S:
            raise ValueError(f"rate window must be in (0, {MAX_WINDOW_S}] seconds")
        now = time.time()
        try:
            previous, current = await self._hit(bucket, key_digest(key), window_s, now)
        except Exception as exc:
            log.warning("shared rate limit unavailable (%s), limiting per process", exc)
            return self._local.allow(f"{bucket}\0{key}", limit, window_s)
        return sliding_estimate(previous, current, now, window_s) <= limit

    @abstractmethod
    async def _hit(self, bucket: str, key: str, window_s: float, now: float) -> tuple[int, int]:
        """Count the hit; ``(hits of the previous window, hits of the current one)``."""

    @abstractmethod
    async def notify_sanction(self, tenant_id: str, user_id: str) -> None:
        """Tell the other processes that this user's sanction level changed."""

    @abstractmethod
    def listen(self, on_notice: Notice) -> None:
        """Call ``on_notice(tenant, user)`` for the notices of other processes (background)."""

    @abstractmethod
    async def purge(self) -> None:
        """Forget windows that can no longer count."""

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None


class LocalLimiter:
    """The per-process fallback: exact sliding window of hit times per key."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, limit: int, window_s: float) -> bool:
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - window_s:
            hits.popleft()
        hits.append(now)
        if len(self._hits) > 50_000:  # forget idle clients
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - window_s}
        return len(hits) <= limit


class DatabaseState(SharedState):
    """Shared state in the records database (PostgreSQL notices; SQLite: windows only)."""

    name = "database"

    def __init__(self, store: Store, channel: str = "aigc_gateway_sanctions") -> None:
        super().__init__()
        self.store = store
        self.channel = channel

    async def _hit(self, bucket: str, key: str, window_s: float, now: float) -> tuple[int, int]:
        win = int(now // window_s * window_s)
        prev_win = int(win - window_s)
        async with self.store.backend.transaction() as tx:
            rows = await tx.fetch(
                "INSERT INTO rate_windows (bucket, key, win, hits) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (bucket, key, win) DO UPDATE SET hits = rate_windows.hits + 1 "
                "RETURNING hits",
                bucket,
                key,
                win,
            )
            before = await tx.fetch(
                "SELECT hits FROM rate_windows WHERE bucket = ? AND key = ? AND win = ?",
                bucket,
                key,
                prev_win,
            )
        return (int(before[0][0]) if before else 0), int(rows[0][0])

    async def purge(self) -> None:
        await self.store.backend.execute(
            "DELETE FROM rate_windows WHERE win < ?", int(time.time()) - 2 * MAX_WINDOW_S
        )

    async def notify_sanction(self, tenant_id: str, user_id: str) -> None:
        if not isinstance(self.store.backend, PostgresBackend):
            return
        payload = json.dumps([tenant_id, user_id], ensure_ascii=False)
        await self.store.backend.execute("SELECT pg_notify(?, ?)", self.channel, payload)

    def listen(self, on_notice: Notice) -> None:
        backend = self.store.backend
        if isinstance(backend, PostgresBackend) and self._listener is None:
            self._listener = asyncio.create_task(
                self._listen(backend, on_notice), name="records-sanction-notices"
            )

    async def _listen(self, backend: PostgresBackend, on_notice: Notice) -> None:
        def received(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            _deliver(payload, on_notice)

        while True:  # reconnect after an outage; meanwhile the cache expiry bounds staleness
            conn = None
            try:
                conn = await backend.connect()
                await conn.add_listener(self.channel, received)
                while not conn.is_closed():
                    await asyncio.sleep(1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("sanction notices: %s", exc)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 5)
            await asyncio.sleep(2)


class RedisState(SharedState):
    """Shared state in Redis: windows are expiring counters, notices a pub/sub channel."""

    name = "redis"

    def __init__(self, url: str, prefix: str = "aigc-gateway") -> None:
        super().__init__()
        import redis.asyncio as redis

        self.url = url
        self.prefix = prefix
        self.channel = f"{prefix}:sanctions"
        self.client = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )

    async def _hit(self, bucket: str, key: str, window_s: float, now: float) -> tuple[int, int]:
        win = int(now // window_s * window_s)
        name = f"{self.prefix}:rate:{bucket}:{key}:"
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(name + str(win))
            pipe.expire(name + str(win), int(2 * window_s) + 1)
            pipe.get(name + str(int(win - window_s)))
            current, _expiry, previous = await pipe.execute()
        return int(previous or 0), int(current)

    async def purge(self) -> None:
        """Nothing to do: Redis expires the windows."""

    async def notify_sanction(self, tenant_id: str, user_id: str) -> None:
        await self.client.publish(self.channel, json.dumps([tenant_id, user_id]))

    def listen(self, on_notice: Notice) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(
                self._listen(on_notice), name="records-sanction-notices"
            )

    async def _listen(self, on_notice: Notice) -> None:
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            _deliver(str(message.get("data")), on_notice)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("sanction notices (%s): %s", redacted(self.url), exc)
            await asyncio.sleep(2)

    async def close(self) -> None:
        await super().close()
        with contextlib.suppress(Exception):
            await self.client.aclose()


def _deliver(payload: str, on_notice: Notice) -> None:
    try:
        tenant, user = json.loads(payload)
        on_notice(str(tenant), str(user))
    except Exception:  # a stranger's message on the channel
        log.debug("ignored sanction notice %r", payload[:200])


def shared_state(store: Store, url: str | None, prefix: str = "aigc-gateway") -> SharedState:
    """``RedisState`` for a ``redis://`` URL, else the records database."""
    if url:
        return RedisState(url, prefix)
    return DatabaseState(store, channel=prefix.replace("-", "_") + "_sanctions")
