"""The stage's life in the app: made in the lifespan, updated on reload, closed at shutdown."""

from __future__ import annotations

from pathlib import Path

import httpx

from service.app import create_app
from service.config import load_settings
from tests.support.server import serve

from .conftest import PATHS
from .fake_guard import FakeGuard

TOKEN = "admin-token-0123456789"


def write_config(path: Path, guard_url: str, moderate: bool) -> None:
    path.write_text(
        f'admin_token = "{TOKEN}"\ndata_dir = "{path.parent / "var"}"\n'
        "[classifier]\n"
        'backend = "qwen3guard"\n'
        f'url = "{guard_url}{PATHS["qwen3guard"]}"\n'
        'model = "Qwen/Qwen3Guard-Gen-4B"\n'
        f"moderate = {'true' if moderate else 'false'}\n",
        encoding="utf-8",
    )


def test_reload_updates_the_stage_and_shutdown_closes_it(
    tmp_path: Path, guard: FakeGuard, guard_url: str
) -> None:
    path = tmp_path / "gateway.toml"
    write_config(path, guard_url, moderate=True)
    app = create_app(load_settings(config=path))
    with serve(app) as url, httpx.Client(base_url=url, timeout=20) as c:
        assert c.post("/moderate", json={"text": "炸弹"}).json()["stages"] == [
            "lexicon",
            "classifier",
        ]
        stage = app.state.runtime.classifier
        assert stage._clients  # one guard client, opened by the first check
        write_config(path, guard_url, moderate=False)
        r = c.post("/admin/reload", headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        body = c.post("/moderate", json={"text": "炸弹"}).json()
        assert body["stages"] == ["lexicon"] and body["classifier"] is None
        assert app.state.runtime.classifier is stage  # the same stage, new settings
    assert stage._clients == {}  # closed with the app
    assert len(guard.calls) == 1
