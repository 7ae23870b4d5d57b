"""``aigc-gateway serve`` as a real subprocess: demo flow, config errors, SIGHUP, workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from service.cli import main as cli_main
from tests.service.conftest import GAMBLING
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "admin-token-0123456789"


@contextmanager
def gateway(args: list[str], tmp_path: Path, timeout: float = 40) -> Iterator[str]:
    """Start ``python -m service serve ARGS`` and yield its URL once /readyz answers."""
    port = free_port()
    env = {**os.environ, "AIGC_GATEWAY_DATA_DIR": str(tmp_path / "var"), "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), *args],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "serve.log").read_text())
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_demo_first_command(tmp_path: Path) -> None:
    """The README's first command: variants of a Chinese term found with original offsets."""
    with gateway(["--demo"], tmp_path) as url:
        text = "他说：網上賭場、网 上 赌 场、ＯＮＬＩＮＥ　ＣＡＳＩＮＯ都不行"
        r = httpx.post(url + "/moderate", json={"text": text})
        assert r.status_code == 200
        body = r.json()
        assert body["action"] == "block"
        spans = [(m["start"], m["end"], m["text"]) for m in body["matches"]]
        assert [text[s:e] for s, e, _ in spans] == [t for _, _, t in spans]
        assert [t for _, _, t in spans] == ["網上賭場", "网 上 赌 场", "ＯＮＬＩＮＥ　ＣＡＳＩＮＯ"]
        assert {m["category"] for m in body["matches"]} == {GAMBLING}
        assert body["category_details"][0]["name_zh"] == "赌博"
        # the whole flow: a clean prompt reaches the demo upstream, a blocked one does not
        chat = url + "/v1/chat/completions"
        ok = httpx.post(
            chat, json={"model": "demo", "messages": [{"role": "user", "content": "你好"}]}
        )
        assert ok.status_code == 200
        assert "你好" in ok.json()["choices"][0]["message"]["content"]
        bad = httpx.post(
            chat, json={"model": "demo", "messages": [{"role": "user", "content": "網上賭場"}]}
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "content_policy_violation"
    log = (tmp_path / "serve.log").read_text()
    assert "demo upstream" in log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "missing.toml"], "config file not found: missing.toml"),
        (["--lexicons", "no/such/dir"], "lexicon directory not found"),
        (["--upstream", "ftp://x"], "must be an http:// or https:// URL"),
        (["--admin-token", "short"], "at least 16 characters"),
        (["--workers", "0"], "workers: Input should be greater than or equal to 1"),
    ],
)
def test_config_errors_exit_2_with_a_clear_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: settings are validated before anything starts (the subprocess test below
    # covers the real entry point).
    assert cli_main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_bad_lexicon_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    lex = tmp_path / "lex"
    lex.mkdir()
    (lex / f"{GAMBLING}.txt").write_text("网上赌场\nx\tseverity=huge\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--lexicons", str(lex)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{GAMBLING}.txt:2" in done.stderr


def test_sighup_reloads(tmp_path: Path) -> None:
    lex = tmp_path / "lex"
    lex.mkdir()
    (lex / f"{GAMBLING}.txt").write_text("网上赌场\n", encoding="utf-8")
    port = free_port()
    env = {**os.environ, "AIGC_GATEWAY_DATA_DIR": str(tmp_path / "var"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--port",
            str(port),
            "--lexicons",
            str(lex),
            "--upstream",
            "http://127.0.0.1:9",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        v1 = httpx.get(url + "/readyz").json()["lexicon_version"]
        (lex / f"{GAMBLING}.txt").write_text("网上赌场\n老虎机\n", encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while httpx.get(url + "/readyz").json()["lexicon_version"] == v1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        body = httpx.post(url + "/moderate", json={"text": "老虎机"}).json()
        assert body["flagged"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "gateway exited"
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.mark.slow
def test_two_workers_share_metrics_and_follow_admin_reload(tmp_path: Path) -> None:
    lex = tmp_path / "lex"
    lex.mkdir()
    (lex / f"{GAMBLING}.txt").write_text("网上赌场\n", encoding="utf-8")
    args = [
        "--workers",
        "2",
        "--lexicons",
        str(lex),
        "--admin-token",
        TOKEN,
        "--upstream",
        "http://127.0.0.1:9",
    ]
    with gateway(args, tmp_path, timeout=60) as url:
        n = 40
        with httpx.Client(base_url=url) as c:
            pids = set()
            for _ in range(n):  # new connections spread over both workers
                r = httpx.post(
                    url + "/moderate", json={"text": "网上赌场"}, headers={"connection": "close"}
                )
                assert r.status_code == 200
            for _ in range(200):
                pids.add(httpx.get(url + "/readyz", headers={"connection": "close"}).json()["pid"])
                if len(pids) == 2:
                    break
            assert len(pids) == 2, "both workers answer"
            text = c.get("/metrics").text
            line = next(
                ln
                for ln in text.splitlines()
                if ln.startswith("aigc_gateway_requests_total{") and 'route="/moderate"' in ln
            )
            assert float(line.rsplit(" ", 1)[1]) == n  # summed over both workers
            (lex / f"{GAMBLING}.txt").write_text("网上赌场\n老虎机\n", encoding="utf-8")
            r = c.post("/admin/reload", headers={"authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200
            new = r.json()["lexicon_version"]
            # every worker follows within a few stamp polls
            deadline = time.monotonic() + 15
            while True:
                answers = [
                    httpx.get(url + "/readyz", headers={"connection": "close"}).json()
                    for _ in range(20)
                ]
                if {a["lexicon_version"] for a in answers} == {new} and len(
                    {a["pid"] for a in answers}
                ) == 2:
                    break
                assert time.monotonic() < deadline, answers
                time.sleep(0.2)
            body = c.post("/moderate", json={"text": "老虎机"}).json()
            assert body["flagged"] is True
