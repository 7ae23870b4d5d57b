"""Interrupted, failing and refused runs: progress is kept, ``--resume`` asks only what is
missing, a different run is not mixed in, and the exit status says what happened."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.cli import main
from tests.support.server import serve


@dataclass
class FakeModel:
    """An OpenAI-compatible chat API: 503 for prompts with FLAKY while ``failing``, 401 for
    every prompt while ``deny``; counts requests per prompt."""

    failing: bool = True
    deny: bool = False
    delay: float = 0.0
    asked: Counter[str] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        prompt = orjson.loads(body)["messages"][0]["content"]
        self.asked[prompt] += 1
        self.arrivals.append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.deny:
            status, payload = 401, {"error": {"message": "bad key", "code": "invalid_api_key"}}
        elif self.failing and "FLAKY" in prompt:
            status, payload = 503, {"error": {"message": "busy"}}
        else:
            answer = {"role": "assistant", "content": "好的：" + prompt}
            status, payload = (
                200,
                {"choices": [{"index": 0, "message": answer, "finish_reason": "stop"}]},
            )
        data = orjson.dumps(payload)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})


@pytest.fixture(scope="module")
def model_server() -> Iterator[tuple[FakeModel, str]]:
    fake = FakeModel()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def model(model_server: tuple[FakeModel, str]) -> FakeModel:
    fake = model_server[0]
    fake.failing, fake.deny, fake.delay = True, False, 0.0
    fake.asked.clear()
    fake.arrivals.clear()
    fake.max_in_flight = 0
    return fake


@pytest.fixture
def bank(tmp_path: Path) -> Path:
    rows = [
        {
            "id": f"q{i}",
            "risk": "aspect.history",
            "kind": "should_answer",
            "prompt": f"问题{i}" + (" FLAKY" if i in (2, 5) else ""),
        }
        for i in range(8)
    ]
    path = tmp_path / "bank.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def run(url: str, bank: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "assess",
            "--bank",
            str(bank),
            "--base-url",
            url + "/v1",
            "--model",
            "m",
            "--out",
            str(out),
            "--retries",
            "0",
            "--no-lexicon-check",
            *extra,
        ]
    )


def test_errors_make_an_incomplete_run_that_resume_finishes(
    model_server: tuple[FakeModel, str], model: FakeModel, bank: Path, tmp_path: Path
) -> None:
    url, out = model_server[1], tmp_path / "out"
    assert run(url, bank, out) == 3
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["complete"] is False
    assert sorted(report["errors"]["ids"]) == ["q2", "q5"]
    assert report["should_answer"]["n"] == 6  # errors are left out of the rates
    assert "Incomplete" in (out / "report.md").read_text(encoding="utf-8")

    assert run(url, bank, out) == 2  # progress exists: neither --resume nor --restart
    model.failing = False
    model.asked.clear()
    assert run(url, bank, out, "--resume") == 0
    assert set(model.asked) == {"问题2 FLAKY", "问题5 FLAKY"}  # only the failed ones again
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["complete"] is True and report["should_answer"]["n"] == 8


def test_a_torn_progress_line_is_asked_again(
    model_server: tuple[FakeModel, str], model: FakeModel, bank: Path, tmp_path: Path
) -> None:
    url, out = model_server[1], tmp_path / "out"
    model.failing = False
    assert run(url, bank, out) == 0
    progress = out / "progress.jsonl"
    lines = progress.read_bytes().splitlines(keepends=True)
    last = orjson.loads(lines[-1])["id"]
    progress.write_bytes(
        b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2]
    )  # killed mid-write
    model.asked.clear()
    assert run(url, bank, out, "--resume") == 0
    assert sum(model.asked.values()) == 1
    records = [
        orjson.loads(x) for x in progress.read_bytes().splitlines() if x.strip().endswith(b"}")
    ]
    assert {r["id"] for r in records} == {f"q{i}" for i in range(8)} and records[-1]["id"] == last


def test_resume_refuses_a_different_run_and_restart_starts_over(
    model_server: tuple[FakeModel, str], model: FakeModel, bank: Path, tmp_path: Path
) -> None:
    url, out = model_server[1], tmp_path / "out"
    model.failing = False
    assert run(url, bank, out) == 0
    assert (
        main(
            [
                "assess",
                "--bank",
                str(bank),
                "--base-url",
                url + "/v1",
                "--model",
                "other",
                "--out",
                str(out),
                "--resume",
                "--no-lexicon-check",
            ]
        )
        == 2
    )
    model.asked.clear()
    assert run(url, bank, out, "--restart") == 0
    assert sum(model.asked.values()) == 8


def test_a_refused_run_stops_early_and_keeps_its_report(
    model_server: tuple[FakeModel, str], model: FakeModel, bank: Path, tmp_path: Path
) -> None:
    url, out = model_server[1], tmp_path / "out"
    model.deny = True
    assert run(url, bank, out, "--concurrency", "1") == 3
    assert sum(model.asked.values()) == 1  # the first 401 stopped the run
    assert (out / "report.json").exists()


def test_concurrency_limit(
    model_server: tuple[FakeModel, str], model: FakeModel, bank: Path, tmp_path: Path
) -> None:
    model.failing, model.delay = False, 0.05
    assert run(model_server[1], bank, tmp_path / "out", "--concurrency", "2") == 0
    assert sum(model.asked.values()) == 8 and model.max_in_flight == 2


def test_rate_limit(
    model_server: tuple[FakeModel, str], model: FakeModel, bank: Path, tmp_path: Path
) -> None:
    """--rate 4: after a burst of at most 4, one request per 0.25 s (a lower bound on the
    spread of arrivals, which a busy machine can only make longer)."""
    model.failing = False
    assert run(model_server[1], bank, tmp_path / "out", "--concurrency", "8", "--rate", "4") == 0
    assert len(model.arrivals) == 8
    assert model.arrivals[-1] - model.arrivals[0] >= 0.9  # 4 more after the burst of 4


def test_sampling_and_export(
    model_server: tuple[FakeModel, str], model: FakeModel, tmp_path: Path
) -> None:
    url, out = model_server[1], tmp_path / "out"
    model.failing = False
    exported = tmp_path / "sample.jsonl"
    assert main(["assess", "--bank", "sample", "--export-bank", str(exported)]) == 0
    assert len(exported.read_bytes().splitlines()) == 60
    assert run(url, exported, out, "--sample", "5", "--seed", "7") == 0
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["should_refuse"]["n"] == 5 and report["should_answer"]["n"] == 5
    assert any("§9.4 samples at least 300" in w for w in report["coverage"]["warnings"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--bank"),
        (
            ["--bank", "nope.jsonl", "--base-url", "http://x/v1", "--model", "m", "--out", "o"],
            "bank error",
        ),
        (["--bank", "sample", "--model", "m", "--out", "o"], "--base-url"),
        (["--bank", "sample", "--base-url", "ftp://x", "--model", "m", "--out", "o"], "http://"),
        (
            [
                "--bank",
                "sample",
                "--base-url",
                "http://x/v1",
                "--model",
                "m",
                "--out",
                "o",
                "--fail-under",
                "refuse=2",
            ],
            "within [0, 1]",
        ),
        (
            [
                "--bank",
                "sample",
                "--base-url",
                "http://x/v1",
                "--model",
                "m",
                "--out",
                "o",
                "--refusal-judge",
                "guard",
            ],
            "classifier",
        ),
        (
            [
                "--bank",
                "sample",
                "--base-url",
                "http://x/v1",
                "--model",
                "m",
                "--out",
                "o",
                "--classifier",
            ],
            "no [classifier] backend",
        ),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assess", *args]) == 2
    assert message in capsys.readouterr().err
