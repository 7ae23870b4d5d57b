"""The separator rules, the folds and the detectors through the service's public surfaces:
``POST /moderate``, ``aigc-gateway scan`` and a streamed reply of the gateway, read with the
official ``openai`` SDK (the demo upstream echoes the prompt back, streamed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from service.app import create_app
from service.config import DEMO_PRODUCER_CODE, load_settings
from service.demo_upstream import run_in_background
from tests.support.server import serve

ROOT = Path(__file__).resolve().parents[2]
DRUGS = "a1.other_prohibited.crime_instigation"
PHONE = "a4.personal_info.phone"


@pytest.fixture(scope="module")
def lexdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("svc-lex")
    (d / f"{DRUGS}.txt").write_text("冰毒\taction=mask\n", encoding="utf-8")
    (d / "lexicon.toml").write_text(
        f'[folds]\n"{DRUGS}" = ["pinyin", "mixed", "split"]\n', encoding="utf-8"
    )
    return d


TEXT = "他说：卖bing毒、冫水毒，电话一三八零零一三八零零零。滑冰、毒蛇"


def _expected() -> list[tuple[str, str, str]]:
    return [
        ("冰毒", "bing毒", "mixed"),
        ("冰毒", "冫水毒", "split"),
        ("mobile_phone", "一三八零零一三八零零零", "normalized"),
    ]


def test_moderate(lexdir: Path, tmp_path: Path) -> None:
    settings = load_settings(lexicons=[lexdir], data_dir=tmp_path / "var", access_log=False)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        body = client.post("/moderate", json={"text": TEXT, "direction": "output"}).json()
    got = [(m["term"], m["text"], m["variant"]) for m in body["matches"]]
    assert got == _expected()  # 滑冰、毒蛇: 冰、毒 is not joined across the enumeration comma
    for m in body["matches"]:
        assert TEXT[m["start"] : m["end"]] == m["text"]
    assert body["categories"] == [DRUGS, PHONE]
    assert "一三八" not in body["masked_text"] and "冫水毒" not in body["masked_text"]


def test_scan_cli(lexdir: Path, tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text(TEXT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGC_GATEWAY_")}
    proc = subprocess.run(
        [sys.executable, "-m", "service", "scan", "--lexicons", str(lexdir), str(path)],
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [(r["term"], r["text"], r["variant"]) for r in rows] == _expected()
    assert rows[-1]["category"] == PHONE and rows[-1]["category_name"] == "电话号码"


def test_streamed_reply_through_the_gateway(lexdir: Path, tmp_path: Path) -> None:
    upstream = run_in_background()
    try:
        settings = load_settings(
            lexicons=[lexdir],
            upstream=upstream.url,
            data_dir=tmp_path / "var",
            access_log=False,
            policy={"input": {"*": "allow"}},  # the prompt passes; the echoed reply is screened
            labels={"producer_code": DEMO_PRODUCER_CODE},  # labeled routes need it
        )
        with serve(create_app(settings)) as url:
            client = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0)
            stream = client.chat.completions.create(
                model="demo",
                messages=[{"role": "user", "content": TEXT}],
                stream=True,
            )
            reply = "".join(
                chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
            )
    finally:
        upstream.stop()
    assert "滑冰、毒蛇" in reply  # ordinary words stay
    for _, span, _ in _expected():
        assert span not in reply
        assert "*" * len(span) in reply
