"""The background batching writer: queue -> store, or -> spool while the database is down.

``submit`` only appends to a bounded in-process deque (no I/O unless the deque is full, then
the record goes straight to the spool). The writer task takes up to ``batch_size`` records
per transaction. On a database error it moves the batch and the queue to the spool, marks
itself degraded, and retries every ``retry_interval_s``: when the database answers again it
first replays the spool (in order, idempotently), then resumes. ``stop`` drains everything:
into the database if it answers, else into the spool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from service.records.chain import body_of_event
from service.records.events import event_kind
from service.records.metrics import RecordsMetrics
from service.records.settings import RecordSettings
from service.records.spool import Spool, SpoolFull
from service.records.store import Store

log = logging.getLogger("aigc_gateway.records")

# (kind, canonical body) or (kind, canonical body, parsed fields): the fields save a re-parse
Item = tuple[Any, ...]
AfterWrite = Callable[[Sequence[Item]], Awaitable[None]]


class Writer:
    """Owns the queue, the spool and the task that moves records into the store."""

    def __init__(
        self,
        store: Store,
        spool: Spool,
        settings: RecordSettings,
        metrics: RecordsMetrics,
        after_write: AfterWrite | None = None,
    ) -> None:
        self.store = store
        self.spool = spool
        self.settings = settings
        self.metrics = metrics
        self.after_write = after_write
        self._queue: deque[Any] = deque()
        self._wake = asyncio.Event()
        self._cycle_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.degraded = True  # until the store has opened
        self._last_try = 0.0
        self._spool_pending = True  # files of an earlier run may be waiting

    # --- hot path ------------------------------------------------------------------------

    def submit(self, item: Any) -> None:
        """Queue an event (or a ready ``(kind, body)``); never blocks, never raises."""
        try:
            if not isinstance(item, tuple):
                event_kind(item)  # TypeError for anything but a record event
            if len(self._queue) < self.settings.queue_size:
                self._queue.append(item)
                if len(self._queue) >= self.settings.batch_size:
                    self._wake.set()
                return
            self._to_spool([_item(item)], sync=False)  # fsynced by the next writer cycle
        except Exception:  # the contract: a record problem never fails a request
            log.exception("records: could not queue a record")
            self.metrics.add("dropped")

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self._try_open()
        self._task = asyncio.create_task(self._run(), name="records-writer")

    def healthy(self) -> bool:
        return not self.degraded and self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Drain the queue (database, else spool) and stop the task."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:
                log.exception("records writer failed")
        await self._cycle(final=True)
        self.spool.close()

    async def flush(self) -> None:
        """Write everything queued now (tests, CLI, admin reads): one writer cycle, awaited.

        While degraded it retries the database at once (not after ``retry_interval_s``) and
        replays the spool first, so that when it returns every record submitted before is in
        the database, unless the database still does not answer (then they are in the spool).
        """
        await self._cycle(final=False, retry_now=True)

    # --- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.flush_interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._stopping:
                break
            try:
                await self._cycle(final=False)
            except Exception:  # keep the writer alive whatever happens
                log.exception("records writer cycle failed")

    async def _cycle(self, *, final: bool, retry_now: bool = False) -> None:
        # one cycle at a time: flush() waits for a batch the task has in flight
        async with self._cycle_lock:
            await self._cycle_once(final=final, retry_now=retry_now)

    async def _cycle_once(self, *, final: bool, retry_now: bool = False) -> None:
        await self._sync_spool()
        if self.degraded:
            due = time.monotonic() - self._last_try >= self.settings.retry_interval_s
            if final or retry_now or due:
                await self._try_open()
        if not self.degraded and self._spool_pending:
            await self._replay()
        while self._queue:
            if self.degraded:
                self._spool_queue()
                break
            batch = self._take(self.settings.batch_size)
            try:
                await self.store.append(batch)
            except Exception as exc:
                self._degrade(exc)
                self._to_spool(batch, sync=False)
                self._spool_queue()
                break
            self._written(batch)
            await self._after(batch)
        await self._sync_spool()
        self.metrics.set_state(
            degraded=self.degraded, queue_depth=len(self._queue), spool_bytes=self.spool.size()
        )

    async def _sync_spool(self) -> None:
        # fsync off the event loop: a slow disk must not stall requests
        try:
            await asyncio.to_thread(self.spool.sync)
        except OSError as exc:
            log.error("records spool fsync failed: %s", exc)

    async def _try_open(self) -> None:
        self._last_try = time.monotonic()
        try:
            await asyncio.wait_for(self.store.open(), timeout=10)
            await self.store.ping()
        except Exception as exc:
            self._degrade(exc)
            return
        if self.degraded:
            log.info("records database reachable: %s", _redacted(self.store.backend.url))
        self.degraded = False
        self.metrics.set_state(degraded=False)

    def _degrade(self, exc: BaseException) -> None:
        if not self.degraded:
            log.error("records database unreachable, spooling: %s", exc)
        self.degraded = True
        self.metrics.set_state(degraded=True)

    async def _replay(self) -> None:
        self.spool.rotate()
        for path, fd in self.spool.claim():
            try:
                for chunk in self.spool.read(fd, self.settings.batch_size):
                    written = await self.store.append(chunk, dedupe=True)
                    self.metrics.add("replayed", written)
                    self._written(chunk)
                    await self._after(chunk)
            except Exception as exc:
                self.spool.release(fd)
                self._degrade(exc)
                return
            self.spool.done(path, fd)
            log.info("records spool %s replayed", path.name)
        self._spool_pending = False

    def _take(self, limit: int) -> list[Item]:
        batch: list[Item] = []
        while self._queue and len(batch) < limit:
            obj = self._queue.popleft()
            try:
                batch.append(_item(obj))
            except Exception:  # a malformed event loses itself only, never the batch
                log.exception("records: cannot serialise a record")
                self.metrics.add("dropped")
        return batch

    def _spool_queue(self) -> None:
        self._to_spool(self._take(len(self._queue)), sync=False)  # fsynced at the cycle's end

    def _to_spool(self, items: list[Item], *, sync: bool = True) -> None:
        if not items:
            return
        try:
            self.spool.append(items, sync=sync)
        except (SpoolFull, OSError) as exc:
            log.error("records lost (%d): %s", len(items), exc)
            self.metrics.add("dropped", len(items))
            return
        self._spool_pending = True
        self.metrics.add("spooled", len(items))

    def _written(self, batch: Sequence[Item]) -> None:
        counts: dict[str, int] = {}
        for kind, *_rest in batch:
            counts[kind] = counts.get(kind, 0) + 1
        for kind, n in counts.items():
            self.metrics.add_written(kind, n)

    async def _after(self, batch: Sequence[Item]) -> None:
        if self.after_write is None:
            return
        try:
            await self.after_write(batch)
        except Exception:
            log.exception("records: post-write processing (sanctions) failed")


def _item(obj: Any) -> Item:
    if isinstance(obj, tuple):
        return obj
    return body_of_event(obj)


def _redacted(url: str) -> str:
    head, sep, tail = url.partition("@")
    return ("***@" + tail) if sep else head
