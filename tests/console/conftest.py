"""A real gateway on loopback (SQLite file or a throwaway PostgreSQL database) for the console.

The tenant ``acme`` reads its allow-list directory (``[lexicon_sets] acme-allow``), so an
upheld false-block complaint resolved with an allow phrase takes effect after a reload.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.config import DEMO_PRODUCER_CODE, Settings, load_settings
from service.tenants import hash_api_key
from tests.support.server import serve

ADMIN_TOKEN = "console-test-admin-token-0123456789"
ACME_KEY = "sk-acme-console-test-key"
FALSE_BLOCK_TEXT = "禁毒宣传：远离冰毒，珍爱生命"
ALLOW_PHRASE = "远离冰毒"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@dataclass
class Gateway:
    url: str
    settings: Settings
    db: str

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


def console_settings(data_dir: Path, database: str | None, **extra: Any) -> Settings:
    allow_dir = data_dir / "allowlists" / "acme"
    allow_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_token": ADMIN_TOKEN,
        "access_log": False,
        "log_level": "warning",
        "lexicon_sets": {"acme-allow": [allow_dir]},
        "tenants": [
            {
                "id": "acme",
                "api_keys": [hash_api_key(ACME_KEY)],
                "lexicon_sets": ["default", "acme-allow"],
            }
        ],
        "labels": {"producer_code": DEMO_PRODUCER_CODE},
        "records": {"flush_interval_s": 0.05},
    }
    if database is not None:
        values["database"] = database
    values.update(extra)
    return load_settings(**values)


def database_url(request: pytest.FixtureRequest, kind: str) -> str | None:
    return request.getfixturevalue("pg_database") if kind == "postgresql" else None


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway]:
    """The whole gateway on loopback, once per database."""
    settings = console_settings(tmp_path / "var", database_url(request, request.param))
    with serve(create_app(settings)) as url:
        yield Gateway(url, settings, request.param)


@pytest.fixture
def sqlite_gateway(tmp_path: Path) -> Iterator[Gateway]:
    settings = console_settings(tmp_path / "var", None)
    with serve(create_app(settings)) as url:
        yield Gateway(url, settings, "sqlite")


def login(
    client: httpx.Client, *, operator: str = "alice", token: str = ADMIN_TOKEN
) -> httpx.Response:
    """Sign in the way a browser does: take the login page's nonce, post the form."""
    page = client.get("/console")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert nonce, page.text
    return client.post(
        "/console/login",
        data={"nonce": nonce.group(1), "operator": operator, "token": token, "next": "/console"},
    )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def seed(gw: Gateway) -> dict[str, Any]:
    """Traffic to look at: a false block by user u-1 (recorded incident) and its complaint."""
    with gw.client() as c:
        blocked = c.post(
            "/moderate",
            json={"text": FALSE_BLOCK_TEXT},
            headers={"authorization": f"Bearer {ACME_KEY}", "x-aigc-user": "u-1"},
        )
        assert blocked.status_code == 200 and blocked.json()["action"] == "block", blocked.text
        request_id = blocked.headers["x-request-id"]
        ticket = c.post(
            "/complaints",
            json={
                "kind": "false_block",
                "description": f"{HOSTILE} 我们的禁毒宣传被拦截了",
                "request_id": request_id,
                "user_id": "u-1",
            },
            headers={"authorization": f"Bearer {ACME_KEY}"},
        )
        assert ticket.status_code == 201, ticket.text
    return {"request_id": request_id, "ticket": ticket.json()["id"]}


def admin_records(gw: Gateway, kind: str) -> list[dict[str, Any]]:
    """Records of ``kind`` read back through the admin export (JSON lines)."""
    import json

    with gw.client() as c:
        r = c.get(
            "/admin/export",
            params={"kind": kind, "format": "jsonl"},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert r.status_code == 200, r.text
        return [json.loads(line) for line in r.text.splitlines() if line]
