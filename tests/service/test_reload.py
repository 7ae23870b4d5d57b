"""Reload of config, policies and lexicons: admin endpoint, file watching, atomic swap."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.config import load_settings
from service.moderation import screen_for
from service.tenants import hash_api_key
from tests.service.conftest import GAMBLING, live
from tests.support.server import serve

TOKEN = "admin-token-0123456789"
ADMIN = {"authorization": f"Bearer {TOKEN}"}


def config_file(tmp_path: Path, lexdir: Path, extra: str = "") -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'lexicons = ["{lexdir}"]\nadmin_token = "{TOKEN}"\ndata_dir = "{tmp_path / "var"}"\n'
        + extra,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def reloadable(tmp_path: Path, lexdir: Path):
    path = config_file(tmp_path, lexdir)
    app = create_app(load_settings(config=path))
    with serve(app) as url, httpx.Client(base_url=url, timeout=20) as c:
        yield c, app, path


def terms(c: httpx.Client, text: str, headers: dict | None = None) -> list[str]:
    r = c.post("/moderate", json={"text": text}, headers=headers or {})
    assert r.status_code == 200, r.text
    return [m["term"] for m in r.json()["matches"]]


def test_admin_endpoints_need_the_token(reloadable) -> None:
    c, _, _ = reloadable
    for headers in ({}, {"authorization": "Bearer wrong"}, {"x-admin-token": "x"}):
        r = c.post("/admin/reload", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_admin_token"
    assert c.post("/admin/reload", headers={"x-admin-token": TOKEN}).status_code == 200


def test_reload_picks_up_lexicon_changes(reloadable, lexdir: Path) -> None:
    c, _, _ = reloadable
    v1 = c.get("/readyz").json()["lexicon_version"]
    assert terms(c, "老虎机") == []
    (lexdir / f"{GAMBLING}.txt").write_text("网上赌场\n百家乐\n老虎机\n", encoding="utf-8")
    r = c.post("/admin/reload", headers=ADMIN)
    assert r.status_code == 200
    body = r.json()
    assert body["previous_version"] == v1 and body["lexicon_version"] != v1
    assert body["changed"] is True
    assert terms(c, "老 虎 機") == ["老虎机"]
    assert c.get("/readyz").json()["lexicon_version"] == body["lexicon_version"]
    assert (
        c.get("/admin/status", headers=ADMIN).json()["lexicon_version"] == body["lexicon_version"]
    )


def test_failed_reload_keeps_the_previous_lexicon(reloadable, lexdir: Path) -> None:
    c, _, _ = reloadable
    v1 = c.get("/readyz").json()["lexicon_version"]
    bad = lexdir / f"{GAMBLING}.txt"
    bad.write_text("网上赌场\n老虎机\taction=explode\n", encoding="utf-8")
    r = c.post("/admin/reload", headers=ADMIN)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "reload_failed"
    assert f"{bad}:2" in err["message"]  # file and line of the problem
    assert c.get("/readyz").json()["lexicon_version"] == v1
    assert terms(c, "网上赌场") == ["网上赌场"]


def test_failed_config_reload_keeps_previous_config(reloadable) -> None:
    c, _, path = reloadable
    path.write_text("port = [unterminated\n", encoding="utf-8")
    r = c.post("/admin/reload", headers=ADMIN)
    assert r.status_code == 422
    assert "not valid TOML" in r.json()["error"]["message"]
    assert terms(c, "网上赌场") == ["网上赌场"]


def test_reload_adds_tenants_and_policies(reloadable, tmp_path: Path, lexdir: Path) -> None:
    c, _, _ = reloadable
    key = "sk-new-tenant-0123456789"
    assert c.post("/moderate", json={"text": "x"}).status_code == 200  # auth off: no tenants
    config_file(
        tmp_path,
        lexdir,
        f'[[tenants]]\nid = "new"\napi_keys = ["{hash_api_key(key)}"]\n'
        f'[tenants.policy.input]\n"{GAMBLING}" = "flag"\n',
    )
    assert c.post("/admin/reload", headers=ADMIN).json()["tenants"] == 1
    assert c.post("/moderate", json={"text": "x"}).status_code == 401
    r = c.post("/moderate", json={"text": "网上赌场"}, headers={"x-api-key": key})
    assert r.json()["action"] == "flag"
    policy = c.get("/admin/policies/new", headers=ADMIN).json()
    assert policy["policy"]["input"] == {GAMBLING: "flag"}
    assert c.get("/admin/policies/nope", headers=ADMIN).status_code == 404


def test_in_flight_screen_keeps_its_version(reloadable, lexdir: Path) -> None:
    c, app, _ = reloadable
    runtime = app.state.runtime
    tenant = runtime.tenants.default
    held = screen_for(runtime, tenant, "input")  # what a streaming request holds
    (lexdir / f"{GAMBLING}.txt").write_text("老虎机\n", encoding="utf-8")
    assert c.post("/admin/reload", headers=ADMIN).status_code == 200
    assert [m.match.term for m in held.moderate("网上赌场 老虎机").matches] == ["网上赌场"]
    assert terms(c, "网上赌场 老虎机") == ["老虎机"]


def test_requests_do_not_fail_during_reloads(reloadable, lexdir: Path) -> None:
    c, _, _ = reloadable
    statuses: list[int] = []
    answered = threading.Condition()
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=c.base_url, timeout=20) as own:
            while not stop.is_set():
                status = own.post("/moderate", json={"text": "网上赌场"}).status_code
                with answered:
                    statuses.append(status)
                    answered.notify_all()

    def more_answers(count: int) -> None:
        # the clients' requests interleave with the reloads (a liveness guard, not a speed bound:
        # before, the reloads could all finish before any request did, and nothing was tested)
        with answered:
            target = len(statuses) + count
            assert answered.wait_for(lambda: len(statuses) >= target, timeout=60)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for w in workers:
        w.start()
    try:
        more_answers(4)
        for i in range(5):
            (lexdir / f"{GAMBLING}.txt").write_text(f"网上赌场\nterm{i}\n", encoding="utf-8")
            assert c.post("/admin/reload", headers=ADMIN).status_code == 200
            more_answers(2)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert len(statuses) >= 14 and set(statuses) == {200}


def test_file_watching_reloads(settings_factory, lexdir: Path) -> None:
    with live(settings_factory(lexicons=[lexdir], watch=True, watch_interval_s=0.2)) as c:
        time.sleep(0.5)  # let the watcher start
        (lexdir / f"{GAMBLING}.txt").write_text("网上赌场\n老虎机\n", encoding="utf-8")
        deadline = time.monotonic() + 15
        while terms(c, "老虎机") != ["老虎机"]:
            assert time.monotonic() < deadline, "watcher did not reload"
            time.sleep(0.1)


def test_the_start_up_heap_is_frozen_and_a_reload_thaws_it(reloadable) -> None:
    """Full collections skip the start-up heap; a reload unfreezes it so the previous
    snapshot can be collected (frozen, a cyclic one would never be)."""
    c, app, _ = reloadable
    assert gc.get_freeze_count() > 0
    assert c.post("/admin/reload", headers=ADMIN).status_code == 200
    assert gc.get_freeze_count() == 0
