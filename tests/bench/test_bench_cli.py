"""``aigc-gateway bench`` through the real CLI entry point."""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from PIL import Image

from service.cli import main
from service.commands import bench
from service.demo_upstream import create_app
from tests.support.server import serve


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    with serve(create_app(chunks=4)) as url:
        yield url


def test_load_json(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "bench",
            "load",
            "--target",
            demo_url,
            "--stream",
            "-c",
            "1,3",
            "-n",
            "12",
            "--json",
            "--api-key",
            "sk-secret",
        ]
    )
    assert code == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert [r["level"] for r in doc["runs"]] == ["c=1", "c=3"]
    assert all(r["requests"] == r["ok"] == 12 for r in doc["runs"])
    assert doc["runs"][0]["ttft_ms"]["count"] == 12
    assert "--stream" in doc["meta"]["command"] and "sk-secret" not in doc["meta"]["command"]


def test_load_table_and_report(
    demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "bench",
            "load",
            "--target",
            demo_url,
            "--api",
            "anthropic",
            "-c",
            "1,2",
            "-n",
            "8",
            "--report",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "anthropic non-stream" in out and "c=2" in out
    with Image.open(tmp_path / "throughput.png") as image:
        image.verify()
    assert (tmp_path / "report.md").read_text(encoding="utf-8").startswith("# Load test report")


def test_load_rate_mode(demo_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "bench",
                "load",
                "--target",
                demo_url,
                "--api",
                "ollama",
                "--rate",
                "100",
                "-n",
                "5",
                "--json",
            ]
        )
        == 0
    )
    assert orjson.loads(capsys.readouterr().out)["runs"][0]["level"] == "rate=100/s"


def test_load_refuses_remote_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "load", "--target", "http://192.0.2.10:8000", "-n", "1"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_load_bad_prompt_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.jsonl").write_text("oops\n", encoding="utf-8")
    code = main(
        [
            "bench",
            "load",
            "--target",
            "http://127.0.0.1:1",
            "-n",
            "1",
            "--prompts",
            str(tmp_path / "p.jsonl"),
        ]
    )
    assert code == 2 and "p.jsonl:1: not valid JSON" in capsys.readouterr().err


def test_load_needs_exactly_one_mode() -> None:
    with pytest.raises(SystemExit):
        main(["bench", "load", "--target", "http://127.0.0.1:1", "-c", "1", "--rate", "5"])
    with pytest.raises(SystemExit):
        main(["bench", "load", "-n", "1"])  # no --target nor --demo


def test_pass_through_hands_over_every_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    fake = types.ModuleType("benchmarks.matcher")
    fake.main = lambda argv: seen.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "benchmarks.matcher", fake)
    assert main(["bench", "matcher", "--json", "-n", "3", "--help"]) == 7
    assert seen == [["--json", "-n", "3", "--help"]]


def test_missing_benchmark_is_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(benchmark="no_such_benchmark", args=[])
    assert bench._pass_through(args) == 2
    assert "benchmarks.no_such_benchmark is missing" in capsys.readouterr().err


def test_load_rounds_keep_one_result_per_level(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "load", "--target", demo_url, "-c", "2", "-n", "6", "--rounds", "3", "--json"]
    assert main(argv) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert len(doc["runs"]) == 1 and doc["runs"][0]["requests"] == 6
    assert "--rounds 3" in doc["meta"]["command"]
    assert main([*argv[:-3], "--rounds", "0"]) == 2


def test_unwritable_report_is_a_clear_error(
    demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    argv = ["bench", "load", "--target", demo_url, "-n", "2", "--report", str(blocker / "out")]
    assert main(argv) == 2
    assert "cannot write" in capsys.readouterr().err
