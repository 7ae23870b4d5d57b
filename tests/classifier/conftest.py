"""Fixtures: the scriptable fake guard on loopback and settings pointing at it; the real
gateway with the classifier stage in front of the scriptable fake upstream."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.classifier import ClassifierSettings
from service.config import DEMO_PRODUCER_CODE, Settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.lexicon import write_test_lexicon
from tests.support.server import serve

from .fake_guard import FakeGuard

PATHS = {
    "qwen3guard": "/qwen3guard/v1",
    "llamaguard": "/llamaguard/v1",
    "openai-moderation": "/openai/v1",
    "webhook": "/webhook",
}
MODELS = {
    "qwen3guard": "Qwen/Qwen3Guard-Gen-4B",
    "llamaguard": "meta-llama/Llama-Guard-4-12B",
    "openai-moderation": "omni-moderation-latest",
    "webhook": "in-house-v2",
}


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
def guard_url(guard_server: tuple[FakeGuard, str]) -> str:
    return guard_server[1]


@pytest.fixture
def make_settings(guard_url: str) -> Callable[..., ClassifierSettings]:
    def make(backend: str = "qwen3guard", **extra: Any) -> ClassifierSettings:
        values: dict[str, Any] = {
            "backend": backend,
            "url": guard_url + PATHS[backend],
            "model": MODELS[backend],
            "timeout_s": 5.0,
        }
        values.update(extra)
        return ClassifierSettings(**values)

    return make


# -- the real gateway with the classifier stage, in front of the fake upstream ---------------


@pytest.fixture(scope="session")
def lexdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_lexicon(tmp_path_factory.mktemp("classifier-lexicon"))


@pytest.fixture
def upstream(fake_server: tuple[FakeUpstream, str]) -> FakeUpstream:
    fake_server[0].reset()
    return fake_server[0]


@dataclass
class Gateway:
    """A running gateway: its base URL, app (runtime, metrics) and records database."""

    url: str
    app: Any
    db: Path

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Record bodies read back from the SQLite store with the stdlib reader."""
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute("SELECT kind, body FROM records ORDER BY seq").fetchall()
        return [json.loads(body) for k, body in rows if kind is None or k == kind]

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=10).text

    def metric(self, name: str, **labels: str) -> float:
        """A sample's value from ``/metrics`` (0 when absent), parsed with prometheus_client."""
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.metrics()):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    total += sample.value
        return total


@pytest.fixture
def make_gateway(
    tmp_path: Path, lexdir: Path, fake_server: tuple[FakeUpstream, str], guard_url: str
) -> Callable[..., AbstractContextManager[Gateway]]:
    """``with make_gateway(backend="qwen3guard", mode="before", ...) as gw``: the gateway with
    ``[classifier]`` pointing at the fake guard (keys override it; ``backend=None``: no stage),
    ``settings`` for other sections."""

    @contextmanager
    def make(settings: dict[str, Any] | None = None, **classifier: Any) -> Iterator[Gateway]:
        backend = classifier.pop("backend", "qwen3guard")
        section: dict[str, Any] = {}
        if backend is not None:
            section = {
                "backend": backend,
                "url": guard_url + PATHS[backend],
                "model": MODELS[backend],
                "timeout_s": 5.0,
                **classifier,
            }
        db = tmp_path / "records.sqlite3"
        values: dict[str, Any] = {
            "upstream": fake_server[1],
            "lexicons": [lexdir],
            "data_dir": tmp_path,
            "database": f"sqlite:///{db}",
            "access_log": False,
            # labeled routes need a producer code (503 labels_not_configured without one)
            "labels": {"text_position": "off", "producer_code": DEMO_PRODUCER_CODE},
            "classifier": section,
            **(settings or {}),
        }
        app = create_app(Settings(**values))
        with serve(app) as url:
            yield Gateway(url, app, db)

    return make
