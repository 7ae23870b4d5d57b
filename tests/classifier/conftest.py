"""Fixtures: the scriptable fake guard on loopback and settings pointing at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from service.classifier import ClassifierSettings
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
