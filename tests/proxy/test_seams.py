"""The seams other parts plug into: an input guard beside the upstream call (it can cancel it),
a segment guard on released stream text, and records made before the answer ends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from service.app import create_app
from tests.support.fake_upstream import FakeUpstream
from tests.support.server import serve

from . import scripts
from .conftest import _settings

CHAT = "/v1/chat/completions"
BODY = {"model": "m", "messages": [{"role": "user", "content": "可疑的问题"}]}


class SlowGuard:
    """Blocks requests mentioning 可疑, after the upstream call has started."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    async def verdict(self, call: Any, body: bytes) -> str:
        self.seen.append(body)
        await asyncio.sleep(0.3)
        return "block" if "可疑".encode() in body else "allow"


def test_input_guard_runs_beside_the_upstream_and_cancels_it(
    tmp_path: Path, lexdir: Path, upstream_url: str, fake: FakeUpstream
) -> None:
    app = create_app(_settings(tmp_path, lexdir, upstream_url))
    guard = SlowGuard()
    fake.stream(CHAT, [b""], endless=True)
    with serve(app) as base:
        app.state.proxy.input_guards.append(guard)
        r = httpx.post(base + CHAT, json=BODY, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] == "content_policy_violation"
        assert r.headers["x-aigc-decision"] == "block"
        assert fake.requests and fake.cancelled.wait(5)  # started, then cancelled
        fake.reset()
        fake.json(CHAT, scripts.chat_json("好"))
        ok = httpx.post(base + CHAT, json={**BODY, "messages": [{"role": "user", "content": "hi"}]})
        assert ok.status_code == 200
    assert len(guard.seen) == 2 and b"hi" in guard.seen[1]


def test_segment_guard_sees_every_released_segment(
    tmp_path: Path, lexdir: Path, upstream_url: str, fake: FakeUpstream
) -> None:
    app = create_app(_settings(tmp_path, lexdir, upstream_url, labels={"text_position": "off"}))
    segments: list[str] = []

    def cut_after_secret(key: Any, scope: Any, text: str) -> str:
        segments.append(text)
        return text.replace("秘", "X")

    fake.stream(CHAT, scripts.chat_stream(["公开", "的秘", "密"]))
    with serve(app) as base:
        app.state.proxy.segment_guard = cut_after_secret
        with httpx.stream("POST", base + CHAT, json={**BODY, "stream": True}) as r:
            raw = r.read().decode()
    assert "秘" not in raw and "X" in raw
    assert "".join(segments) == "公开的秘密"


def test_records_are_made_before_the_answer_ends(
    tmp_path: Path, lexdir: Path, upstream_url: str, fake: FakeUpstream
) -> None:
    app = create_app(_settings(tmp_path, lexdir, upstream_url))
    order: list[str] = []
    with serve(app) as base:
        recorder = app.state.runtime.recorder
        real = recorder.record

        async def slow_record(*events: Any) -> None:
            await asyncio.sleep(0.2)
            order.append("recorded:" + ",".join(type(e).__name__ for e in events))
            await real(*events)

        recorder.record = slow_record
        fake.stream(CHAT, scripts.chat_stream(["一", "二"]))
        with httpx.stream("POST", base + CHAT, json={**BODY, "stream": True}) as r:
            for line in r.iter_lines():
                if line == "data: [DONE]":
                    order.append("done")
        fake.json(CHAT, scripts.chat_json("好"))
        httpx.post(base + CHAT, json=BODY)
        order.append("whole")
        httpx.post(
            base + CHAT, json={**BODY, "messages": [{"role": "user", "content": "爆炸物配方"}]}
        )
        order.append("error")
    assert order[0].startswith("recorded:NetworkLogEvent,LabelDeliveryEvent") and order[1] == "done"
    assert order[2].startswith("recorded:") and order[3] == "whole"
    assert order[4].startswith("recorded:IncidentEvent,NetworkLogEvent") and order[5] == "error"
