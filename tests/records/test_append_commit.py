"""``Store.append(on_commit=...)``: called once the records are committed, never before, never
for a batch the database refused; on SQLite even when the caller stopped waiting (the writer
releases its waiters from it, and spools a batch whose commit timed out)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from service.records.backends import SqliteBackend
from service.records.chain import record
from service.records.store import Store


def _items(tag: str, n: int = 2) -> list:
    return [
        record("network_log", {"time": "2026-03-01T10:00:00.000000Z", "request_id": f"{tag}-{i}"})
        for i in range(n)
    ]


async def _count(store: Store) -> int:
    return int((await store.backend.fetch("SELECT count(*) FROM records"))[0][0])


async def test_on_commit_is_called_once_the_records_are_stored(backend_factory):
    store = Store(backend_factory())
    await store.open()
    try:
        calls: list[int] = []

        def on_commit() -> None:
            calls.append(1)

        assert await store.append(_items("a"), on_commit=on_commit) == 2
        assert calls == [1]
        assert await _count(store) == 2
        twice = _items("b", 1)
        with pytest.raises(Exception):  # noqa: B017 - the driver's own integrity error
            await store.append(twice + twice, on_commit=on_commit)
        assert calls == [1]  # refused: not committed, not called
        assert await _count(store) == 2
    finally:
        await store.close()


async def test_sqlite_commit_finishes_and_calls_back_after_the_caller_gave_up(tmp_path):
    db = tmp_path / "records.sqlite3"
    store = Store(SqliteBackend(db))
    await store.open()
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        await store.append(_items("before"))
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        committed = threading.Event()
        task = asyncio.create_task(store.append(_items("late"), on_commit=committed.set))
        await asyncio.sleep(0.2)
        task.cancel()  # the writer's commit timeout does this
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not committed.is_set()
        blocker.execute("ROLLBACK")
        assert await asyncio.to_thread(committed.wait, 30)
        await store.append(_items("after"))  # linked after the late batch
        assert await _count(store) == 6
        assert await store.verify() == (6, [])
    finally:
        blocker.close()
        await store.close()


async def test_sqlite_append_after_a_cancelled_one_waits_for_the_connection(tmp_path):
    """The cancelled caller's transaction still owns the connection (its job is queued in the
    SQLite thread): the next append queues behind it; both batches are committed, in order,
    chained."""
    db = tmp_path / "records.sqlite3"
    store = Store(SqliteBackend(db))
    await store.open()
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        await store.append(_items("before"))
        blocker.execute("BEGIN IMMEDIATE")
        first = asyncio.create_task(store.append(_items("first")))
        await asyncio.sleep(0.1)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        second = asyncio.create_task(store.append(_items("second")))
        await asyncio.sleep(0.1)
        assert not second.done()  # waiting for the lock, in the thread
        blocker.execute("ROLLBACK")
        assert await second == 2
        rows = await store.backend.fetch("SELECT request_id FROM records ORDER BY seq")
        assert [r[0] for r in rows] == [
            f"{t}-{i}" for t in ("before", "first", "second") for i in (0, 1)
        ]
        assert await store.verify() == (6, [])
    finally:
        blocker.close()
        await store.close()
