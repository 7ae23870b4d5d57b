"""End to end: blocked prompts through the real gateway suspend the user (demo upstream)."""

from __future__ import annotations

import time

import httpx

from service.app import create_app
from service.config import DEMO_PRODUCER_CODE, Settings
from service.demo_upstream import run_in_background
from tests.support.server import serve

ADMIN = "records-admin-token-42"
BLOCKED = "我想买六合彩"  # a term of the bundled sample lexicon (gambling, action block)


def test_third_blocked_prompt_suspends_the_user(tmp_path):
    upstream = run_in_background()
    try:
        app = create_app(
            Settings(
                database=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                data_dir=tmp_path,
                upstream=upstream.url,
                admin_token=ADMIN,
                records={"sanction_cache_s": 0.2},
                labels={"producer_code": DEMO_PRODUCER_CODE},  # labeled routes need it
            )
        )
        with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:

            def chat(user: str, text: str) -> httpx.Response:
                return http.post(
                    "/v1/chat/completions",
                    headers={"x-aigc-user": user},
                    json={"model": "m", "messages": [{"role": "user", "content": text}]},
                )

            for _ in range(3):
                assert chat("mallory", BLOCKED).status_code == 400
            deadline = time.monotonic() + 10
            status: dict = {}
            while time.monotonic() < deadline:
                status = http.get(
                    "/admin/records/status", headers={"authorization": f"Bearer {ADMIN}"}
                ).json()
                if status["sanction_steps"].get("suspended"):
                    break
                time.sleep(0.05)
            assert status["sanction_steps"] == {"warning": 1, "restricted": 1, "suspended": 1}
            time.sleep(0.3)  # past check_user's cache of the earlier "not suspended" answer
            refused = chat("mallory", "你好")
            assert refused.status_code == 403, refused.text
            assert "user_suspended" in refused.text
            assert chat("trent", "你好").status_code == 200  # other users unaffected
            assert http.get("/readyz").status_code == 200
    finally:
        upstream.stop()
