"""No record can be made durable (database down and spool unwritable): refuse or serve, by policy.

The database is a PostgreSQL URL nobody listens on; the spool directory sits under a regular
file, so it cannot be created (root ignores file modes, so permissions would not do).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from service.app import create_app
from service.config import DEMO_PRODUCER_CODE, Settings
from service.demo_upstream import run_in_background
from tests.support.server import serve

GAMBLING_TEXT = {"text": "我想去网上赌场玩"}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "你好"}]}


def _settings(tmp_path: Path, policy: str, upstream: str) -> Settings:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the spool directory should be")
    return Settings(
        database="postgresql://postgres@127.0.0.1:1/nowhere",
        data_dir=tmp_path,
        upstream=upstream,
        records={
            "spool_dir": str(blocker / "spool"),
            "retry_interval_s": 0.1,
            "when_unrecordable": policy,
        },
        labels={"producer_code": DEMO_PRODUCER_CODE},  # labeled routes need it
    )


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def _until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_refuse_policy_answers_503_and_recovers_when_the_spool_works(tmp_path):
    upstream = run_in_background()
    try:
        app = create_app(_settings(tmp_path, "refuse", upstream.url))
        with serve(app) as url, httpx.Client(base_url=url, timeout=10) as http:
            first = http.post("/moderate", json=GAMBLING_TEXT)  # its records cannot be kept
            assert first.status_code == 503
            assert first.json()["error"]["code"] == "records_unavailable"
            again = http.post("/moderate", json=GAMBLING_TEXT)  # refused before any work
            assert again.status_code == 503
            assert again.json()["error"]["code"] == "records_unavailable"
            chat = http.post("/v1/chat/completions", json=CHAT)
            assert chat.status_code == 503, chat.text
            assert "records_unavailable" in chat.text

            ready = http.get("/readyz")
            assert ready.status_code == 503
            body = ready.json()
            assert body["status"] == "not_ready"
            assert body["records"]["state"] == "unrecordable"
            assert body["records"]["serving"] is False
            assert "spool failed" in body["records"]["reason"]
            metrics = http.get("/metrics").text
            assert _metric(metrics, "aigc_gateway_records_unrecordable") == 1
            assert _metric(metrics, "aigc_gateway_records_refused_total") >= 1
            assert _metric(metrics, "aigc_gateway_records_dropped_total") >= 2

            blocker = tmp_path / "blocker"  # the disk is usable again
            blocker.unlink()
            blocker.mkdir()
            _until(lambda: http.get("/readyz").status_code == 200)
            ready = http.get("/readyz").json()
            assert ready["status"] == "degraded" and ready["records"]["state"] == "degraded"
            ok = http.post("/moderate", json=GAMBLING_TEXT)
            assert ok.status_code == 200
            assert list((blocker / "spool").glob("spool-*.jsonl"))  # its records are there
    finally:
        upstream.stop()


def test_serve_policy_keeps_answering_and_counts_the_lost_records(tmp_path):
    upstream = run_in_background()
    try:
        app = create_app(_settings(tmp_path, "serve", upstream.url))
        with serve(app) as url, httpx.Client(base_url=url, timeout=10) as http:
            for _ in range(3):
                assert http.post("/moderate", json=GAMBLING_TEXT).status_code == 200
            assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
            ready = http.get("/readyz")
            assert ready.status_code == 200
            body = ready.json()
            assert body["status"] == "degraded"
            assert body["records"]["state"] == "unrecordable"
            assert body["records"]["serving"] is True
            metrics = http.get("/metrics").text
            # 3 x (incident + network log) + the chat's network log and label delivery
            assert _metric(metrics, "aigc_gateway_records_dropped_total") == 8
            assert _metric(metrics, "aigc_gateway_records_refused_total") == 0
    finally:
        upstream.stop()
