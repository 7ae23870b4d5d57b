"""Nothing is lost: clean stop drains, database down then back, spool replay after a crash."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from service.records import NetworkLogEvent
from service.records.backends import PostgresBackend, SqliteBackend
from tests.records.conftest import make_recorder
from tests.records.tcpproxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]


def _event(i: int) -> NetworkLogEvent:
    return NetworkLogEvent(f"req-{i}", "t1", f"user-{i % 7}", "/v1/x", "m", "::1", 200, 1.0)


async def _count(backend) -> int:
    await backend.open()
    try:
        rows = await backend.fetch("SELECT count(*), count(DISTINCT rid) FROM records")
        assert rows[0][0] == rows[0][1], "duplicate records"
        return int(rows[0][0])
    finally:
        await backend.close()


async def _until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_clean_stop_drains_the_queue(backend_factory, tmp_path):
    rec = make_recorder(backend_factory(), tmp_path, flush_interval_s=30, batch_size=10_000)
    await rec.start()
    for i in range(3000):
        rec.submit(_event(i))
    await rec.stop()  # nothing was written before: the stop drains 3000 queued records
    assert await _count(backend_factory()) == 3000
    again = make_recorder(backend_factory(), tmp_path)
    await again.start()
    assert (await again.verify()) == (3000, [])
    await again.stop()


async def test_queue_overflow_goes_to_spool_not_lost(backend_factory, tmp_path):
    rec = make_recorder(backend_factory(), tmp_path, queue_size=50, flush_interval_s=30)
    await rec.start()
    for i in range(400):
        rec.submit(_event(i))
    assert rec.stats()["spooled"] == 350
    await rec.flush()
    assert await _count(backend_factory()) == 400
    assert not list((tmp_path / "spool").glob("*.jsonl"))
    await rec.stop()


def _via(dsn: str, port: int) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


async def test_postgres_down_then_back_spools_and_replays(pg_schema, tmp_path):
    dsn, schema = pg_schema
    proxy = TcpProxy(urlsplit(dsn).port or 5432)
    await proxy.start()
    backend = PostgresBackend(_via(dsn, proxy.port), schema=schema, timeout_s=2)
    rec = make_recorder(backend, tmp_path)
    await rec.start()
    assert rec.ready()
    for i in range(20):
        rec.submit(_event(i))
    await rec.flush()

    await proxy.stop()  # the database goes away, connections cut
    for i in range(20, 220):
        rec.submit(_event(i))
    await _until(lambda: rec.stats()["degraded"])
    assert not rec.ready()
    await _until(lambda: rec.stats()["spooled"] == 200)
    await _until(lambda: rec.stats()["spool_bytes"] > 0)

    await proxy.start()  # back on the same port
    await _until(rec.ready)
    await _until(lambda: rec.stats()["replayed"] == 200)
    assert rec.stats()["dropped"] == 0
    checked, problems = await rec.verify()
    assert (checked, problems) == (220, [])
    await rec.stop()
    await proxy.stop()


async def test_start_with_database_down_then_restart(pg_schema, tmp_path):
    dsn, schema = pg_schema
    down = PostgresBackend(_via(dsn, 1), schema=schema, timeout_s=1)
    rec = make_recorder(down, tmp_path)
    await rec.start()  # starts anyway: records go to the spool
    assert not rec.ready()
    for i in range(75):
        rec.submit(_event(i))
    await rec.stop()
    assert list((tmp_path / "spool").glob("spool-*.jsonl"))

    up = make_recorder(PostgresBackend(dsn, schema=schema), tmp_path)
    await up.start()
    await up.flush()
    assert up.ready() and up.stats()["replayed"] == 75
    assert not list((tmp_path / "spool").glob("spool-*.jsonl"))
    await up.stop()
    assert await _count(PostgresBackend(dsn, schema=schema)) == 75


CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from service.records import NetworkLogEvent, RecordSettings
    from service.records.backends import SqliteBackend
    from service.records.recorder import Recorder

    async def main():
        tmp = Path(sys.argv[1])
        # the database "disk" is unusable: its directory is a regular file
        rec = Recorder(SqliteBackend(tmp / "blocker" / "db.sqlite3"),
                       RecordSettings(retry_interval_s=0.1), spool_dir=tmp / "spool",
                       allowlist_dir=tmp / "allow")
        await rec.start()
        for i in range(int(sys.argv[2])):
            rec.submit(NetworkLogEvent(f"req-{i}", "t1", "u", "/v1/x", None, None, 200, 1.0))
        await rec.flush()
        print("spooled", rec.stats()["spooled"], flush=True)
        time.sleep(60)  # killed here, never stopped cleanly

    asyncio.run(main())
    """
)


async def test_killed_process_spool_is_replayed(tmp_path):
    (tmp_path / "blocker").write_text("not a directory")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), "500"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line.split() == ["spooled", "500"]
        # the live child holds its spool file: another process must not take it
        db = tmp_path / "records.sqlite3"
        peer = make_recorder(SqliteBackend(db), tmp_path)
        await peer.start()
        await peer.flush()
        assert peer.stats()["replayed"] == 0
        await peer.stop()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    rec = make_recorder(SqliteBackend(db), tmp_path)
    await rec.start()
    await rec.flush()
    assert rec.stats()["replayed"] == 500
    await rec.stop()
    assert await _count(SqliteBackend(db)) == 500


async def test_torn_spool_line_skipped_and_replay_idempotent(tmp_path):
    db = tmp_path / "records.sqlite3"
    rec = make_recorder(SqliteBackend(db), tmp_path)
    await rec.start()
    rec.writer.spool.append([("network_log", _body(i)) for i in range(3)])
    rec.writer.spool.rotate()
    spool = next((tmp_path / "spool").glob("spool-*.jsonl"))
    content = spool.read_bytes()
    # a crash during replay left a copy of the file, and a crash mid-write a torn line
    (tmp_path / "spool" / "spool-1-copy.jsonl").write_bytes(content + b'{"kind": "netw')
    rec.writer._spool_pending = True
    await rec.flush()
    assert await rec.verify() == (3, [])
    await rec.stop()


def _body(i: int) -> str:
    from service.records.chain import body_of_event

    return body_of_event(_event(i))[1]


async def test_two_workers_append_concurrently_one_valid_chain(backend_factory, tmp_path):
    a = make_recorder(backend_factory(), tmp_path / "a", batch_size=100)
    b = make_recorder(backend_factory(), tmp_path / "b", batch_size=100)
    await asyncio.gather(a.start(), b.start())
    for i in range(1500):
        a.submit(_event(i))
        b.submit(_event(10_000 + i))
    await asyncio.gather(a.flush(), b.flush())
    assert await a.verify() == (3000, [])
    await asyncio.gather(a.stop(), b.stop())


async def test_degraded_metric_exposed(pg_schema, tmp_path):
    from prometheus_client import CollectorRegistry, generate_latest

    dsn, schema = pg_schema
    rec = make_recorder(PostgresBackend(_via(dsn, 1), schema=schema, timeout_s=1), tmp_path)
    registry = CollectorRegistry()
    rec.bind_metrics(registry)
    await rec.start()
    rec.submit(_event(1))
    await rec.flush()
    text = generate_latest(registry).decode()
    assert "aigc_gateway_records_degraded 1.0" in text
    assert "aigc_gateway_records_spooled_total 1.0" in text
    await rec.stop()
