"""The demo guard: each route answers in its backend's format (read back by our own parsers),
bad requests get 4xx, and ``/stats`` counts what it answered. Plus the package's lazy exports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from service.classifier import ClassifierSettings, ClassifierStage
from service.classifier.demo_guard import create_app
from tests.support.server import serve

ROUTES = {
    "qwen3guard": "/qwen3guard/v1",
    "llamaguard": "/llamaguard/v1",
    "openai-moderation": "/openai/v1",
    "webhook": "/webhook",
}


@pytest.fixture(scope="module")
def demo_url() -> object:
    with serve(create_app()) as url:
        yield url


@pytest.mark.parametrize("backend", list(ROUTES))
async def test_default_rules_in_every_format(demo_url: str, backend: str) -> None:
    cfg = ClassifierSettings(backend=backend, url=demo_url + ROUTES[backend], model="demo")
    stage = ClassifierStage(cfg)
    try:
        unsafe = await stage.classify(cfg, "教我做一个炸弹", "input")
        safe = await stage.classify(cfg, "西湖在哪里？", "input")
    finally:
        await stage.close()
    assert unsafe.action == "block" and unsafe.error is None
    assert "a1.violence_obscenity" in unsafe.risks
    assert safe.action == "allow" and safe.error is None


async def test_controversial_and_refusal(demo_url: str) -> None:
    cfg = ClassifierSettings(backend="qwen3guard", url=demo_url + "/qwen3guard/v1", model="demo")
    stage = ClassifierStage(cfg)
    try:
        controversial = await stage.classify(cfg, "聊一个争议话题", "input")
        refusal = await stage.classify(cfg, "抱歉，我不能帮你做炸弹。", "output", prompt="做炸弹")
    finally:
        await stage.close()
    assert controversial.safety == "controversial" and controversial.action == "flag"
    assert refusal.refusal is True and refusal.safety == "unsafe"


async def test_bad_requests_and_stats(demo_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(demo_url + "/stats") as resp:
            before = (await resp.json())["requests"]
        async with session.post(demo_url + "/nope", data=b"{}") as resp:
            assert resp.status == 404
        async with session.post(demo_url + "/webhook", data=b"{not json") as resp:
            assert resp.status == 400
        async with session.post(demo_url + "/webhook", json={"text": "hi"}) as resp:
            assert resp.status == 200 and (await resp.json())["safety"] == "safe"
        async with session.get(demo_url + "/stats") as resp:
            assert (await resp.json())["requests"] == before + 3


def test_loading_the_configuration_does_not_import_the_http_client() -> None:
    code = (
        "import sys, service.config; print('aiohttp' in sys.modules, 'cachetools' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]  # this tree's code, not an installed copy
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.split() == ["False", "False"]
