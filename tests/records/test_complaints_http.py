"""Complaint lifecycle, admin desk, exports and summary over HTTP on a loopback server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from service.records import IncidentEvent
from tests.support.server import serve

ADMIN = "admin-token-0123456789"


@pytest.fixture
def app(tmp_path: Path):
    settings = Settings(
        database=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        admin_token=ADMIN,
        data_dir=tmp_path,
        records={"complaint_rate_per_minute": 4, "complaint_feedback_days": 15},
    )
    return create_app(settings)


def _admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}


def test_complaint_lifecycle_with_allow_list(app, tmp_path):
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        filed = http.post(
            "/complaints",
            json={
                "kind": "false_block",
                "description": "我的问题被误拦截了",
                "request_id": "r-1",
                "contact": "mail@example.org",
            },
        )
        assert filed.status_code == 201, filed.text
        ticket = filed.json()
        assert ticket["id"].startswith("C-") and ticket["status"] == "open"
        assert ticket["feedback_days"] == 15 and "contact" not in ticket
        assert ticket["feedback_deadline"][:10] > ticket["created_at"][:10]

        public = http.get(f"/complaints/{ticket['id']}").json()
        assert public["status"] == "open" and public["outcome"] is None
        assert http.get("/complaints/C-doesnotexist0000").status_code == 404
        assert http.get("/complaints/../admin").status_code == 404

        assert http.get("/admin/complaints").status_code == 401
        listed = http.get("/admin/complaints", headers=_admin()).json()
        assert [c["id"] for c in listed["complaints"]] == [ticket["id"]]
        assert listed["complaints"][0]["contact"] == "mail@example.org"
        assert listed["overdue"] == 0

        r = http.post(
            f"/admin/complaints/{ticket['id']}/assign",
            headers=_admin(),
            json={"assignee": "reviewer-7"},
        )
        assert r.status_code == 200 and r.json()["status"] == "assigned"
        r = http.post(
            f"/admin/complaints/{ticket['id']}/resolve",
            headers=_admin(),
            json={"outcome": "误拦截，已放行", "upheld": True, "allow_phrase": "法轮胎"},
        )
        assert r.status_code == 200, r.text
        again = http.post(
            f"/admin/complaints/{ticket['id']}/resolve",
            headers=_admin(),
            json={"outcome": "x", "upheld": False},
        )
        assert again.status_code == 422 and again.json()["error"]["code"] == "complaint_resolved"

        public = http.get(f"/complaints/{ticket['id']}").json()
        assert public["status"] == "resolved" and public["upheld"] is True
        assert public["outcome"] == "误拦截，已放行"

        exported = http.get(
            "/admin/export", headers=_admin(), params={"format": "jsonl", "kind": "complaint"}
        )
        actions = [json.loads(line)["action"] for line in exported.text.splitlines()]
        assert actions == ["filed", "assigned", "resolved"]
        assert "mail@example.org" not in exported.text  # no contact details in the records
    allow = (tmp_path / "allowlists" / "default" / "allow.txt").read_text(encoding="utf-8")
    assert "法轮胎" in allow.splitlines()


def test_bad_input_and_rate_limit(app):
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert http.post("/complaints", content=b"{not json").json()["error"]["code"] == (
            "invalid_json"
        )
        r = http.post("/complaints", json={"kind": "nonsense", "description": "x"})
        assert r.status_code == 422
        r = http.post("/complaints", json={"description": "x" * 5000})
        assert r.status_code == 422
        r = http.post("/complaints", json={"kind": "appeal"})  # no description
        assert r.status_code == 422
        r = http.post("/complaints", json=["a"])
        assert r.status_code == 429  # the fifth filing within a minute (limit 4)
        assert r.json()["error"]["code"] == "rate_limited"


def test_allow_phrase_only_for_upheld_false_block(app):
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        tid = http.post("/complaints", json={"kind": "report", "description": "d"}).json()["id"]
        r = http.post(
            f"/admin/complaints/{tid}/resolve",
            headers=_admin(),
            json={"outcome": "ok", "upheld": True, "allow_phrase": "abc"},
        )
        assert r.status_code == 422
        r = http.post(
            f"/admin/complaints/{tid}/resolve",
            headers=_admin(),
            json={"outcome": "ok", "upheld": "yes"},
        )
        assert r.status_code == 422
        assert http.get("/complaints/" + tid).json()["status"] == "open"


def test_upheld_appeal_lifts_suspension(app):
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        recorder = app.state.runtime.recorder
        for i in range(3):
            recorder.submit(
                IncidentEvent(
                    f"r{i}",
                    "default",
                    "eve",
                    "input",
                    "/v1/x",
                    "block",
                    ["a1.x"],
                    ["t"],
                    [(0, 1)],
                    "v",
                )
            )
        summary = http.get("/admin/records/summary", headers=_admin()).json()  # flushes
        assert summary["days"][0]["actions"]["sanction"]["suspended"] == 1
        tid = http.post(
            "/complaints", json={"kind": "appeal", "description": "not me", "user_id": "eve"}
        ).json()["id"]
        r = http.post(
            f"/admin/complaints/{tid}/resolve",
            headers=_admin(),
            json={"outcome": "appeal upheld", "upheld": True},
        )
        assert r.status_code == 200
        csv_text = http.get(
            "/admin/export", headers=_admin(), params={"format": "csv", "kind": "sanction"}
        ).text
        rows = list(csv.DictReader(io.StringIO(csv_text)))
        assert [r["action"] for r in rows][-1] == "lifted"
        ready = http.get("/admin/records/status", headers=_admin()).json()
        assert ready["ready"] is True and ready["dropped"] == 0
