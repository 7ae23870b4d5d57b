"""SIGKILL a real gateway under load: no answered request may lack its record (issue 13).

The gateway is ``python -m service serve`` in its own process group (demo upstream in the same
process); clients send chat completions (whole and streamed) and ``/moderate`` calls with their
own request ids and keep every id whose complete answer arrived. The group is killed while
requests are in flight, twice per test (the second run starts on what the first left behind);
then the spool is replayed as the next start would and every answered id must have its stored
network log, and the hash chains must verify.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from benchmarks.killtest import load_and_kill, settings_for, start_gateway, stored_request_ids
from service.records import build_recorder

ROUTES = ("chat", "chat-stream", "moderate")


async def _verify(settings) -> None:
    recorder = build_recorder(settings)
    await recorder.store.open()
    try:
        assert await recorder.verify() == (await _count(recorder), [])
    finally:
        await recorder.store.close()


async def _count(recorder) -> int:
    rows = await recorder.store.backend.fetch("SELECT count(*) FROM records")
    return int(rows[0][0])


def _crash_rounds(database: str, tmp_path, *, workers: int, rounds: int = 2) -> None:
    rng = random.Random()
    answered: dict[str, float] = {}
    for round_no in range(rounds):
        gateway = start_gateway(database, tmp_path / "var", workers=workers)
        try:
            result = asyncio.run(
                load_and_kill(
                    gateway,
                    prefix=f"kill{round_no}",
                    routes=ROUTES,
                    kill_after_answers=rng.randint(150, 400),
                    kill_delay_s=rng.random() * 0.3,
                )
            )
        finally:
            gateway.kill()
        assert gateway.proc.returncode == -9
        assert len(result.answered) >= 150
        answered.update(result.answered)
    settings = settings_for(database, tmp_path / "var")
    stored = asyncio.run(stored_request_ids(settings))
    missing = sorted(set(answered) - stored)
    assert not missing, f"{len(missing)} of {len(answered)} answered requests have no record"
    asyncio.run(_verify(settings))


def test_sqlite_kill_under_load_loses_no_answered_record(tmp_path):
    database = f"sqlite:///{tmp_path / 'var' / 'records.sqlite3'}"
    _crash_rounds(database, tmp_path, workers=1)


def test_sqlite_two_workers_killed_lose_nothing(tmp_path):
    database = f"sqlite:///{tmp_path / 'var' / 'records.sqlite3'}"
    _crash_rounds(database, tmp_path, workers=2, rounds=1)


@pytest.mark.parametrize("workers", [1, 2])
def test_postgres_kill_under_load_loses_no_answered_record(pg_database, tmp_path, workers):
    _crash_rounds(pg_database, tmp_path, workers=workers)


def test_async_mode_loses_what_was_queued(tmp_path):
    """The same harness fails when records are only queued (async mode, flush every 60 s):
    the answered requests of the killed run have no record, none was written."""
    database = f"sqlite:///{tmp_path / 'var' / 'records.sqlite3'}"
    env = {
        "AIGC_GATEWAY_RECORDS__DURABILITY": "async",
        "AIGC_GATEWAY_RECORDS__FLUSH_INTERVAL_S": "60",
    }
    gateway = start_gateway(database, tmp_path / "var", env=env)
    try:
        result = asyncio.run(load_and_kill(gateway, prefix="async", kill_after_answers=100))
    finally:
        gateway.kill()
    stored = asyncio.run(stored_request_ids(settings_for(database, tmp_path / "var")))
    assert len(result.answered) >= 100
    assert stored.isdisjoint(result.answered)
