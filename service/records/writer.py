"""The group-commit writer: queue -> database, or -> the local spool while the database is down.

Durability modes (``[records] durability``):

- ``sync`` (default): ``await record(...)`` returns once the records are durable: committed in
  the database, or appended to this process's spool file and fsynced. Many concurrent requests
  share one commit (group commit): the writer takes everything queued while the previous
  commit was in flight and commits it as one transaction.
- ``async``: ``record`` and ``submit`` only queue; the writer commits every ``batch_size``
  records or ``flush_interval_s``. A crash loses what was still queued.

While the database is down (or a commit takes longer than ``commit_timeout_s``) batches go to
the spool, fsynced. When the database answers again a replay task moves the spool files into
it, in order and idempotently; until the spool is empty new batches keep going to the spool,
so no record overtakes an older one. When neither the database nor the spool can take a batch
(the spool's disk is full or unwritable) the recorder is *unrecordable*: with
``when_unrecordable = "refuse"`` the waiting ``record`` calls raise ``RecordsUnavailable`` and
``admit()`` refuses new requests until a spool probe or the database succeeds again; with
``"serve"`` the records are counted as dropped and requests go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from service.errors import RecordsUnavailable
from service.records.backends import redacted
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
AFTER_DELAY_S = 0.02  # sanction updates gather the commits of this long into one transaction


@dataclass(slots=True)
class _Group:
    """The events of one ``record``/``submit`` call: written together, in one batch."""

    events: list[Any]
    done: asyncio.Future[bool] | None = None  # sync mode: resolved once durable (or lost)
    items: list[Item] | None = None  # serialised: by the caller (sync mode) or by ``_take``


class Writer:
    """Owns the queue, the spool, the writer task and the replay task."""

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
        self._queue: deque[_Group] = deque()
        self._queued = 0  # records in the queue
        self._waiters = 0  # groups in the queue someone awaits
        self._wake = asyncio.Event()
        self._cycle_lock = asyncio.Lock()
        self._spool_lock = asyncio.Lock()  # an append+fsync or a rotation, never both
        self._task: asyncio.Task[None] | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self._after_items: list[Item] = []
        self._after_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.degraded = True  # until the store has opened
        self.reason: str | None = "records database not opened yet"
        self.unrecordable: str | None = None  # why neither the database nor the spool works
        self._last_try = 0.0
        self._spool_pending = True  # files of an earlier run may be waiting
        self._state_at = 0.0

    @property
    def sync(self) -> bool:
        return self.settings.durability == "sync"

    # --- hot path ------------------------------------------------------------------------

    def submit(self, item: Any) -> None:
        """Queue an event (or a ready ``(kind, body)``); never blocks, never raises."""
        try:
            if not isinstance(item, tuple):
                event_kind(item)  # TypeError for anything but a record event
            if self._queued < self.settings.queue_size:
                self._put(_Group([item]))
                if self._queued >= self.settings.batch_size:
                    self._wake.set()
                return
            self._overflow(item)
        except Exception:  # the contract: a record problem never fails a request
            log.exception("records: could not queue a record")
            self.metrics.add("dropped")

    async def record(self, events: Sequence[Any]) -> None:
        """Queue ``events`` as one group; in ``sync`` mode return once they are durable.

        Raises ``RecordsUnavailable`` only in ``sync`` mode with ``when_unrecordable =
        "refuse"``, when neither the database nor the spool could take them.
        """
        valid = []
        for event in events:
            try:
                if not isinstance(event, tuple):
                    event_kind(event)
                valid.append(event)
            except TypeError:
                log.error("records: not a record event: %s", type(event).__name__)
                self.metrics.add("dropped")
        if not valid:
            return
        if not self.sync:
            for event in valid:
                self.submit(event)
            return
        # serialised here, on the caller's time: the writer's cycle (which every waiter of the
        # next commit waits for) only links and commits
        group = _Group(valid, asyncio.get_running_loop().create_future(), self._serialise(valid))
        self._put(group)
        self._waiters += 1
        if self.running():
            self._wake.set()
            # a cancelled caller cancels only its future: the group is written all the same
            durable = await group.done
        else:  # not started, or stopped: write it here and now
            await self._cycle()
            durable = group.done.result()
        if not durable and self.settings.when_unrecordable == "refuse":
            raise RecordsUnavailable(self._refusal())

    def admit(self) -> None:
        """Raise ``RecordsUnavailable`` while no record can be made durable and the policy
        is to refuse; otherwise do nothing (cheap: called at the start of requests)."""
        if self.unrecordable is not None and self.settings.when_unrecordable == "refuse":
            self.metrics.add("refused")
            raise RecordsUnavailable(self._refusal())

    def _refusal(self) -> str:
        return (
            "Compliance records cannot be stored right now (database unreachable and local "
            "spool unwritable), so requests are refused."
        )

    def _put(self, group: _Group) -> None:
        self._queue.append(group)
        self._queued += len(group.events)

    def _overflow(self, item: Any) -> None:
        # queue full (async mode, database slower than traffic): straight to the spool,
        # fsynced by the next writer cycle
        try:
            self.spool.append([_item(item)], sync=False)
        except (SpoolFull, OSError) as exc:
            log.error("records lost (queue and spool full): %s", exc)
            self.metrics.add("dropped")
            return
        self._spool_pending = True
        self.metrics.add("spooled")

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        # files of an earlier run (or of a dead worker) are replayed first, in the background
        self._spool_pending = bool(self.spool.files())
        await self._try_open()
        self._task = asyncio.create_task(self._run(), name="records-writer")

    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._stopping

    def healthy(self) -> bool:
        return not self.degraded and self.running()

    async def stop(self) -> None:
        """Drain the queue (database, else spool) and stop the tasks."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:
                log.exception("records writer failed")
        if self._replay_task is not None:  # the rest is replayed by the next start
            self._replay_task.cancel()
            await asyncio.gather(self._replay_task, return_exceptions=True)
        await self._cycle()
        await self._after_done()
        await self._cycle()  # the sanction steps it recorded
        async with self._spool_lock:
            self.spool.close()

    async def flush(self) -> None:
        """Write everything queued now and replay the spool (tests, CLI, admin reads).

        While degraded it retries the database at once, so that when it returns every record
        queued before is in the database, unless the database still does not answer (then
        they are in the spool).
        """
        await self._cycle(retry_now=True)
        replay = self._replay_task
        if replay is not None:
            await asyncio.gather(replay, return_exceptions=True)
            await self._cycle()  # what queued up while the replay ran
        await self._after_done()
        await self._cycle()  # the sanction steps it recorded

    # --- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if not (self._waiters or self._queued >= self.settings.batch_size):
                timer = loop.call_later(self.settings.flush_interval_s, self._wake.set)
                await self._wake.wait()
                timer.cancel()
            self._wake.clear()
            if self._stopping:
                break
            try:
                await self._cycle()
            except Exception:  # keep the writer alive whatever happens
                log.exception("records writer cycle failed")

    async def _cycle(self, *, retry_now: bool = False) -> None:
        # one cycle at a time: flush() waits for a batch the task has in flight
        async with self._cycle_lock:
            await self._check(retry_now=retry_now)
            while self._queue:
                groups = self._take()
                batch = [item for g in groups for item in g.items or ()]
                where = await self._write(batch, groups) if batch else "db"
                for g in groups:
                    if g.done is not None:
                        self._waiters -= 1
                        if not g.done.done():
                            g.done.set_result(where is not None)
                if where == "db":  # sanctions: in their own task, not on the waiters' time
                    self._after(batch)
            if self.spool.dirty:  # records that overflowed the queue
                async with self._spool_lock:
                    await self._sync_spool()
            self._publish_state()

    def _publish_state(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._state_at < 0.5:
            return
        self._state_at = now
        self.metrics.set_state(
            degraded=self.degraded,
            unrecordable=self.unrecordable is not None,
            queue_depth=self._queued,
            spool_bytes=self.spool.size(),
        )

    async def _check(self, *, retry_now: bool = False) -> None:
        """Retry the database when due, probe the spool, start a replay when one is due."""
        due = retry_now or time.monotonic() - self._last_try >= self.settings.retry_interval_s
        if self.degraded and due:
            await self._try_open()
            if self.degraded and self.unrecordable is not None:
                try:
                    await asyncio.to_thread(self.spool.probe)
                except (SpoolFull, OSError) as exc:
                    self.unrecordable = _reason(exc)
                else:
                    self._recordable()
        if not self.degraded and self._spool_pending and self._replay_task is None:
            self._replay_task = asyncio.create_task(self._replay(), name="records-replay")

    async def _write(self, batch: list[Item], groups: Sequence[_Group] = ()) -> str | None:
        """Make ``batch`` durable: "db", else "spool"; None when both failed.

        The waiters of ``groups`` are released by the commit itself (a callback the committing
        thread hands to the loop), one loop iteration before this coroutine resumes.
        """
        if not self.degraded and not self._spool_pending:
            loop = asyncio.get_running_loop()
            try:
                await self._commit(batch, lambda: loop.call_soon_threadsafe(_release, groups))
            except Exception as exc:
                self._degrade(exc)
            else:
                self._written(batch)
                self._recordable()
                return "db"
        return "spool" if await self._to_spool(batch) else None

    async def _commit(self, batch: list[Item], on_commit: Callable[[], Any] | None = None) -> None:
        try:
            async with asyncio.timeout(self.settings.commit_timeout_s):
                await self.store.append(batch, on_commit=on_commit)
        except TimeoutError:
            # the commit may still happen: the spool copy is then skipped on replay (same rid)
            raise TimeoutError(
                f"commit took longer than {self.settings.commit_timeout_s} s"
            ) from None

    async def _to_spool(self, items: list[Item]) -> bool:
        try:
            async with self._spool_lock:
                self._spool_pending = True
                self.spool.append(items, sync=False)
                await asyncio.to_thread(self.spool.sync)
        except (SpoolFull, OSError) as exc:
            self._unrecordable(exc, len(items))
            return False
        self.metrics.add("spooled", len(items))
        self._recordable()
        return True

    async def _sync_spool(self) -> None:
        # fsync off the event loop: a slow disk must not stall requests (caller holds the lock)
        try:
            await asyncio.to_thread(self.spool.sync)
        except OSError as exc:
            log.error("records spool fsync failed: %s", exc)

    async def _try_open(self) -> None:
        self._last_try = time.monotonic()
        try:
            await asyncio.wait_for(self.store.open(), timeout=10)
            await asyncio.wait_for(self.store.ping(), timeout=10)
        except Exception as exc:
            self._degrade(exc)
            return
        if self.degraded:
            log.info("records database reachable: %s", redacted(self.store.backend.url))
        self.degraded = False
        self.reason = None
        self._recordable()
        self.metrics.set_state(degraded=False)

    def _degrade(self, exc: BaseException) -> None:
        if not self.degraded:
            log.error("records database unreachable, spooling: %s", _reason(exc))
        self.degraded = True
        self.reason = f"records database unreachable: {_reason(exc)}"
        self._last_try = time.monotonic()
        self.metrics.set_state(degraded=True)

    def _unrecordable(self, exc: BaseException, lost: int) -> None:
        if self.unrecordable is None:
            log.error("records cannot be made durable (database and spool failed): %s", exc)
        self.unrecordable = _reason(exc)
        self.metrics.add("dropped", lost)
        self.metrics.set_state(unrecordable=True)

    def _recordable(self) -> None:
        if self.unrecordable is not None:
            log.info("records can be made durable again")
            self.unrecordable = None
            self.metrics.set_state(unrecordable=False)

    async def _replay(self) -> None:
        """Move every claimable spool file into the database, oldest first, then switch the
        writer back to the database (only once this process's own file is empty too)."""
        try:
            while True:
                async with self._spool_lock:
                    self.spool.rotate()
                claimed = False
                for path, fd in self.spool.claim():
                    claimed = True
                    try:
                        for chunk in self.spool.read(fd, self.settings.batch_size):
                            written = await self.store.append(chunk, dedupe=True)
                            self.metrics.add("replayed", written)
                            self._written(chunk)
                            self._after(chunk)
                    except Exception as exc:
                        self.spool.release(fd)
                        self._degrade(exc)
                        return
                    self.spool.done(path, fd)
                    log.info("records spool %s replayed", path.name)
                if claimed:
                    continue
                async with self._spool_lock:  # no spool append can slip in between
                    if self.spool.own_size() == 0:
                        self._spool_pending = False
                        return
        finally:
            self._replay_task = None
            self._wake.set()

    def _take(self) -> list[_Group]:
        groups: list[_Group] = []
        count = 0
        limit = self.settings.batch_size
        while self._queue and (not groups or count + len(self._queue[0].events) <= limit):
            group = self._queue.popleft()
            self._queued -= len(group.events)
            count += len(group.events)
            if group.items is None:
                group.items = self._serialise(group.events)
            groups.append(group)
        return groups

    def _serialise(self, events: Sequence[Any]) -> list[Item]:
        items = []
        for obj in events:
            try:
                items.append(_item(obj))
            except Exception:  # a malformed event loses itself only, never the batch
                log.exception("records: cannot serialise a record")
                self.metrics.add("dropped")
        return items

    def _written(self, batch: Sequence[Item]) -> None:
        counts: dict[str, int] = {}
        for kind, *_rest in batch:
            counts[kind] = counts.get(kind, 0) + 1
        for kind, n in counts.items():
            self.metrics.add_written(kind, n)

    def _after(self, batch: Sequence[Item]) -> None:
        """Hand written records to ``after_write`` (the sanction ladder), in order, batched
        across commits: small sync-mode commits must not each pay a sanctions transaction."""
        if self.after_write is None:
            return
        self._after_items.extend(batch)
        if self._after_task is None or self._after_task.done():
            self._after_task = asyncio.create_task(self._run_after(), name="records-after")

    async def _run_after(self) -> None:
        assert self.after_write is not None
        while self._after_items:
            await asyncio.sleep(AFTER_DELAY_S)  # let the commits of this moment join in
            items = self._after_items[: self.settings.batch_size]
            del self._after_items[: len(items)]
            try:
                await self.after_write(items)
            except Exception:
                log.exception("records: post-write processing (sanctions) failed")

    async def _after_done(self) -> None:
        while self._after_task is not None and not self._after_task.done():
            await asyncio.gather(self._after_task, return_exceptions=True)


def _release(groups: Sequence[_Group]) -> None:
    """Answer the waiters of committed ``groups`` (on the loop; the writer counts them)."""
    for g in groups:
        if g.done is not None and not g.done.done():
            g.done.set_result(True)


def _item(obj: Any) -> Item:
    if isinstance(obj, tuple):
        return obj
    return body_of_event(obj)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return redacted(f"{type(exc).__name__}: {text}")[:300]
