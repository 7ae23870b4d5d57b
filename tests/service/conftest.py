"""Fixtures for the service tests: settings on temporary directories, a live app on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.config import Settings, load_settings
from tests.support.server import serve

GAMBLING = "a1.other_prohibited.gambling"
DRUGS = "a1.other_prohibited.crime_instigation"


def write_lexicon(directory: Path, files: dict[str, str]) -> Path:
    """Write ``{file name: content}`` into ``directory`` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(content, encoding="utf-8")
    return directory


@pytest.fixture
def lexdir(tmp_path: Path) -> Path:
    """A small user lexicon: one plain-list file (the common public format) and one with attrs."""
    return write_lexicon(
        tmp_path / "lex",
        {
            f"{GAMBLING}.txt": "网上赌场\n# comment\n百家乐\n",
            f"{DRUGS}.txt": "冰毒\n大麻\taction=flag\tseverity=low\n",
        },
    )


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    def make(**values: Any) -> Settings:
        values.setdefault("data_dir", tmp_path / "var")
        return load_settings(**values)

    return make


@contextmanager
def live(settings: Settings) -> Iterator[httpx.Client]:
    """The real app on a loopback uvicorn; yields a client bound to it."""
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=20) as client:
        yield client


@pytest.fixture
def client(settings_factory: Callable[..., Settings], lexdir: Path) -> Iterator[httpx.Client]:
    with live(settings_factory(lexicons=[lexdir])) as c:
        yield c
