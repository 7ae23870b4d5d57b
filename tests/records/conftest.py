"""Fixtures: a real SQLite file and a real PostgreSQL schema per test, a fake clock."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.records.backends import Backend, PostgresBackend, SqliteBackend
from service.records.recorder import Recorder
from service.records.settings import RecordSettings
from tests.support.postgres import run_sql


class FakeClock:
    """Injectable clock: ``clock()`` returns the current fake time; ``advance(days=...)``."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 10, 4, 0, tzinfo=UTC))


@pytest.fixture
def pg_schema(postgres_dsn: str) -> Iterator[tuple[str, str]]:
    """``(dsn, schema)``: a fresh schema, dropped after the test."""
    schema = f"records_test_{uuid.uuid4().hex[:12]}"
    run_sql(postgres_dsn, f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_dsn, schema
    finally:
        run_sql(postgres_dsn, f'DROP SCHEMA "{schema}" CASCADE')


BackendFactory = Callable[[], Backend]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> BackendFactory:
    """Makes backends that all point at the same database (SQLite file or PG schema)."""
    if request.param == "sqlite":
        path = tmp_path / "records.sqlite3"
        return lambda: SqliteBackend(path)
    dsn, schema = request.getfixturevalue("pg_schema")
    return lambda: PostgresBackend(dsn, schema=schema)


def make_recorder(backend: Backend, tmp_path: Path, clock: Any = None, **settings: Any) -> Recorder:
    values: dict[str, Any] = {"flush_interval_s": 0.05, "retry_interval_s": 0.1}
    values.update(settings)
    kwargs = {"clock": clock} if clock is not None else {}
    return Recorder(
        backend,
        RecordSettings(**values),
        spool_dir=tmp_path / "spool",
        allowlist_dir=tmp_path / "allow",
        **kwargs,
    )
