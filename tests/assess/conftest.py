"""Fixtures: the real gateway in front of the demo upstream, and the fake guard, on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.app import create_app
from service.config import DEMO_PRODUCER_CODE, Settings
from service.demo_upstream import create_app as demo_upstream
from tests.classifier.fake_guard import FakeGuard
from tests.support.lexicon import write_test_lexicon
from tests.support.server import serve


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    lexdir = write_test_lexicon(tmp_path_factory.mktemp("gateway-lexicon"))
    data = tmp_path_factory.mktemp("gateway-data")
    with serve(demo_upstream(chunks=4)) as upstream:
        settings = Settings(
            upstream=upstream,
            lexicons=[lexdir],
            data_dir=data,
            database=f"sqlite:///{data / 'records.sqlite3'}",
            access_log=False,
            labels={"producer_code": DEMO_PRODUCER_CODE},  # labeled routes need it
        )
        with serve(create_app(settings)) as base:
            yield base


@pytest.fixture(scope="session")
def guard_server() -> Iterator[tuple[FakeGuard, str]]:
    fake = FakeGuard()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def guard(guard_server: tuple[FakeGuard, str]) -> FakeGuard:
    guard_server[0].reset()
    return guard_server[0]


@pytest.fixture
def guard_config(tmp_path: Path, guard_server: tuple[FakeGuard, str]) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f"""
[classifier]
backend = "qwen3guard"
url = "{guard_server[1]}/qwen3guard/v1"
model = "Qwen/Qwen3Guard-Gen-4B"
""",
        encoding="utf-8",
    )
    return path
