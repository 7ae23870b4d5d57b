"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.postgres import run_sql
from tests.support.server import serve

POSTGRES_DSN = os.environ.get(
    "AIGC_GATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """DSN of the local PostgreSQL server; skip when none answers, fail under CI's .ci/run."""
    if not _postgres_answers():
        if os.environ.get("AIGC_GATEWAY_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                "PostgreSQL on 127.0.0.1:5432 is required (AIGC_GATEWAY_REQUIRE_POSTGRES=1)"
            )
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    return POSTGRES_DSN


@pytest.fixture
def pg_database(postgres_dsn: str) -> Iterator[str]:
    """URL of a fresh database on the local server, dropped after the test."""
    name = f"aigc_test_{uuid.uuid4().hex[:12]}"
    run_sql(postgres_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(postgres_dsn)._replace(path=f"/{name}"))
    finally:
        run_sql(postgres_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def fake_server() -> Iterator[tuple[FakeUpstream, str]]:
    """The scriptable fake model API on loopback (one per session; tests ``reset()`` it)."""
    fake = FakeUpstream()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's gateway or proxy settings."""
    for name in list(os.environ):
        if name.startswith("AIGC_GATEWAY_") and name != "AIGC_GATEWAY_REQUIRE_POSTGRES":
            monkeypatch.delenv(name, raising=False)
        if name.lower() in {"http_proxy", "https_proxy", "all_proxy"}:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
