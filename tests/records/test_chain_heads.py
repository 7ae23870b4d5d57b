"""The SQLite append keeps each chain's head in memory, as a guess checked in every append.

Whatever else moves a head between two appends of one store (another worker's store on the
same file, a spool replay, a transaction that failed), the chains stay whole: ``aigc-gateway
records verify`` passes and every record is stored once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.cli import main
from service.records import NetworkLogEvent
from service.records.backends import SqliteBackend
from service.records.chain import record
from service.records.spool import Spool
from service.records.store import Store
from tests.records.conftest import make_recorder

KINDS = ("network_log", "incident", "label_delivery")


def _items(tag: str, counts: dict[str, int]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        record(kind, {"time": "2026-03-01T10:00:00.000000Z", "request_id": f"{tag}-{kind}-{i}"})
        for kind, n in counts.items()
        for i in range(n)
    ]


def _verify(db: Path) -> int:
    """``aigc-gateway records verify`` (runs its own event loop: call it off the test's)."""
    return main(["records", "--database", f"sqlite:///{db}", "verify"])


def _stored(db: Path) -> tuple[int, dict[str, str]]:
    with sqlite3.connect(db) as conn:
        count = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        heads = dict(conn.execute("SELECT kind, head_hash FROM chain_heads").fetchall())
    return count, heads


async def test_two_stores_interleaving_keep_every_chain_whole(backend_factory, tmp_path):
    """Each store's guess goes stale when the other appends: the next append relinks after
    the stored head, one kind or several, some stale and some not."""
    first, second = Store(backend_factory()), Store(backend_factory())
    await first.open()
    await second.open()
    try:
        plan = [
            (first, {"network_log": 2, "label_delivery": 1}),
            (second, {"network_log": 1}),  # first's network_log guess is stale, not the other
            (first, {"network_log": 1, "label_delivery": 2}),
            (first, {"incident": 1}),
            (second, {"label_delivery": 3, "incident": 1}),
            (second, {"network_log": 2}),
            (first, {"network_log": 1, "label_delivery": 1, "incident": 1}),
        ]
        total = 0
        for step, (store, counts) in enumerate(plan):
            assert await store.append(_items(f"s{step}", counts)) == sum(counts.values())
            total += sum(counts.values())
        checked, problems = await first.verify()
        assert (checked, problems) == (total, [])
    finally:
        await first.close()
        await second.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.dictionaries(st.sampled_from(KINDS), st.integers(1, 4), min_size=1),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_any_interleaving_of_three_sqlite_stores_verifies(plan):
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "records.sqlite3"

        async def run() -> None:
            stores = [Store(SqliteBackend(db)) for _ in range(3)]
            for store in stores:
                await store.open()
            try:
                for step, (who, counts) in enumerate(plan):
                    await stores[who].append(_items(f"s{step}", counts))
            finally:
                for store in stores:
                    await store.close()

        asyncio.run(run())
        count, _heads = _stored(db)
        assert count == sum(sum(c.values()) for _who, c in plan)
        assert _verify(db) == 0


async def test_failed_transaction_leaves_no_stale_head(tmp_path):
    """A batch the database refuses (a duplicate record id) is rolled back: the heads it would
    have moved are not taken as the new guess, so the next append links after the stored ones."""
    db = tmp_path / "records.sqlite3"
    store = Store(SqliteBackend(db))
    await store.open()
    try:
        await store.append(_items("a", {"network_log": 2}))
        twice = _items("b", {"network_log": 1})
        with pytest.raises(sqlite3.IntegrityError):
            await store.append(twice + twice)
        assert await store.append(_items("c", {"network_log": 2, "incident": 1})) == 3
    finally:
        await store.close()
    assert _stored(db)[0] == 5
    assert await asyncio.to_thread(_verify, db) == 0


async def test_spool_replay_and_another_writer_between_appends(tmp_path):
    """A recorder replays a dead worker's spool (some records already stored), appends, another
    store appends to the same file, and the recorder appends again: all verify, none twice."""
    db = tmp_path / "records.sqlite3"
    other = Store(SqliteBackend(db))
    await other.open()
    stored_before = _items("old", {"network_log": 2, "incident": 1})
    await other.append(stored_before)
    dead = Spool(tmp_path / "spool", 1 << 20)  # the spool of a worker that died mid-outage
    dead.append([*stored_before, *_items("spooled", {"network_log": 3, "label_delivery": 1})])
    dead.close()

    rec = make_recorder(SqliteBackend(db), tmp_path)
    await rec.start()
    try:
        await rec.flush()  # the replay
        assert rec.metrics.stats()["replayed"] == 4
        await rec.record(NetworkLogEvent("r1", "t", "u", "/x", "m", None, 200, 1.0))
        await other.append(_items("between", {"network_log": 2, "label_delivery": 2}))
        await rec.record(NetworkLogEvent("r2", "t", "u", "/x", "m", None, 200, 1.0))
        await rec.flush()
    finally:
        await rec.stop()
        await other.close()
    assert _stored(db)[0] == 3 + 4 + 1 + 4 + 1
    assert await asyncio.to_thread(_verify, db) == 0
