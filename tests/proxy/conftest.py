"""Fixtures: a test lexicon, the scriptable fake upstream and the real gateway, on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.config import Settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.lexicon import write_test_lexicon
from tests.support.server import serve


@pytest.fixture(scope="session")
def lexdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_lexicon(tmp_path_factory.mktemp("lexicon"))


@pytest.fixture
def fake(fake_server: tuple[FakeUpstream, str]) -> FakeUpstream:
    fake_server[0].reset()
    return fake_server[0]


@pytest.fixture(scope="session")
def upstream_url(fake_server: tuple[FakeUpstream, str]) -> str:
    return fake_server[1]


PRODUCER = "001191110102MACQD9K64010000"  # a well-formed TC260 provider code (test only)


def _settings(tmp: Path, lexdir: Path, url: str, **extra: Any) -> Settings:
    """The gateway's settings; labeled routes need a producer code (else 503), so ``labels``
    given here are merged over it."""
    values: dict[str, Any] = {
        "upstream": url,
        "lexicons": [lexdir],
        "data_dir": tmp,
        "database": f"sqlite:///{tmp / 'records.sqlite3'}",
        "access_log": False,
    }
    labels = {"producer_code": PRODUCER, **extra.pop("labels", {})}
    values.update(extra, labels=labels)
    return Settings(**values)


@pytest.fixture(scope="session")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, lexdir: Path, upstream_url: str
) -> Iterator[str]:
    """The default gateway: auth off, labels on (start), fail closed."""
    tmp = tmp_path_factory.mktemp("gateway")
    app = create_app(_settings(tmp, lexdir, upstream_url))
    with serve(app) as base:
        yield base


@pytest.fixture
def make_gateway(
    tmp_path: Path, lexdir: Path, upstream_url: str
) -> Callable[..., AbstractContextManager[str]]:
    """A gateway with extra settings: ``with make_gateway(proxy={...}) as base: ...``."""

    @contextmanager
    def make(**extra: Any) -> Iterator[str]:
        app = create_app(_settings(tmp_path, lexdir, upstream_url, **extra))
        with serve(app) as base:
            yield base

    return make


@pytest.fixture(scope="session")
def make_decisions(tmp_path_factory: pytest.TempPathFactory, lexdir: Path) -> Callable[..., Any]:
    """``make_decisions(direction="output", fail_open=False)``: the default tenant's real
    policy (``service.moderation.Screen``) over the test lexicon, for unit tests."""
    from service.moderation import Screen
    from service.proxy.decisions import Decisions
    from service.runtime import build_snapshot

    tmp = tmp_path_factory.mktemp("units")
    snapshot = build_snapshot(_settings(tmp, lexdir, "http://127.0.0.1:9"))
    tenant = snapshot.tenants.authenticate(None)

    def make(direction: str = "output", fail_open: bool = False, lexicon: Any = None) -> Any:
        screen = Screen(
            lexicon=lexicon or snapshot.lexicon_for(tenant),
            table=snapshot.policy_table(tenant, direction, tenant.profile),
            tenant=tenant,
            direction=direction,
        )
        return Decisions(screen, fail_open=fail_open)

    return make
