"""A "restricted" user (sanctions ladder, IM Art. 14 ¶2) is screened with the minor profile
and refused image/audio generation, through the real gateway on loopback."""

from __future__ import annotations

import time

import httpx

from tests.support.fake_upstream import FakeUpstream
from tests.support.lexicon import BLOCK, FLAG

from . import scripts

ADMIN = "records-admin-token-42"
CHAT = "/v1/chat/completions"
IMAGES = "/v1/images/generations"


def _chat(http: httpx.Client, user: str, text: str) -> httpx.Response:
    return http.post(
        CHAT,
        headers={"x-aigc-user": user},
        json={"model": "m", "messages": [{"role": "user", "content": text}]},
    )


def _moderate(http: httpx.Client, user: str, text: str) -> dict:
    r = http.post("/moderate", headers={"x-aigc-user": user}, json={"text": text})
    assert r.status_code == 200, r.text
    return r.json()


def _wait_for_step(http: httpx.Client, step: str, count: int = 1) -> None:
    """Poll the records status (probing with requests would break the consecutive run)."""
    deadline = time.monotonic() + 10
    steps: dict = {}
    while time.monotonic() < deadline:
        status = http.get("/admin/records/status", headers={"authorization": f"Bearer {ADMIN}"})
        steps = status.json()["sanction_steps"]
        if steps.get(step, 0) >= count:
            time.sleep(0.1)  # past the check cache of the earlier answer
            return
        time.sleep(0.05)
    raise AssertionError(f"no {step!r} step: {steps}")


def test_restricted_user_gets_minor_profile_and_no_media(make_gateway, fake: FakeUpstream) -> None:  # noqa: ANN001
    fake.json(CHAT, scripts.chat_json("好的"))
    with (
        make_gateway(records={"sanction_cache_s": 0.05}, admin_token=ADMIN) as base,
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        # before any violation the standard profile only flags the term
        before = _moderate(http, "mallory", f"说{FLAG}")
        assert before["action"] == "flag" and before["profile"] == "standard"
        assert _chat(http, "mallory", BLOCK).status_code == 400  # warning
        _wait_for_step(http, "warning")
        assert _chat(http, "mallory", BLOCK).status_code == 400  # restricted
        _wait_for_step(http, "restricted")
        restricted = _moderate(http, "mallory", f"说{FLAG}")
        assert restricted["action"] == "mask" and restricted["profile"] == "minor"
        assert restricted["masked_text"] == "说****"

        # the gateway masks the restricted user's prompt the minor profile's way
        fake.requests.clear()
        r = _chat(http, "mallory", f"说{FLAG}")
        assert r.status_code == 200, r.text
        assert r.headers["x-aigc-decision"] == "mask"
        sent = fake.requests[-1].json()["messages"][0]["content"]
        assert sent == "说****"

        # image generation is refused before the upstream is contacted
        fake.requests.clear()
        img = http.post(
            IMAGES, headers={"x-aigc-user": "mallory"}, json={"model": "img", "prompt": "a cat"}
        )
        assert img.status_code == 403, img.text
        assert img.json()["error"]["code"] == "user_restricted"
        assert fake.requests == []

        # other users are unaffected
        fake.requests.clear()
        ok = _chat(http, "trent", f"说{FLAG}")
        assert ok.status_code == 200 and ok.headers["x-aigc-decision"] == "flag"
        assert fake.requests[-1].json()["messages"][0]["content"] == f"说{FLAG}"
        assert _moderate(http, "trent", f"说{FLAG}")["action"] == "flag"


def test_restricted_media_refusal_can_be_turned_off(make_gateway, fake: FakeUpstream) -> None:  # noqa: ANN001
    fake.json(IMAGES, {"created": 1, "data": [{"url": "http://169.254.169.254/x"}]})
    settings = {"sanction_cache_s": 0.05, "restricted_refuse_media": False}
    with (
        make_gateway(records=settings, admin_token=ADMIN) as base,
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        for _ in range(2):
            assert _chat(http, "mallory", BLOCK).status_code == 400
        _wait_for_step(http, "restricted")
        assert _moderate(http, "mallory", f"说{FLAG}")["profile"] == "minor"
        img = http.post(
            IMAGES, headers={"x-aigc-user": "mallory"}, json={"model": "img", "prompt": "a cat"}
        )
        assert "user_restricted" not in img.text
        assert fake.requests and fake.requests[-1].path == IMAGES
