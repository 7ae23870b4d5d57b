"""Report files (Markdown, JSON, PNG read back with Pillow) and RESULTS.md section updates."""

from __future__ import annotations

import multiprocessing
import re
from collections import Counter
from pathlib import Path

import orjson
import pytest
from PIL import Image

from benchmarks.loadgen import RunResult
from benchmarks.report import format_table, markdown_section, to_json, write_report
from benchmarks.results import HEADER, update_section


def fake_result(concurrency: int, stream: bool = True) -> RunResult:
    r = RunResult("openai", stream, "http://127.0.0.1:1/v1/chat/completions", concurrency, None)
    r.latencies = [0.001 * (i % 50 + 1) * concurrency for i in range(200)]
    r.ttfts = [x / 2 for x in r.latencies] if stream else []
    r.gaps = [0.0005] * 300 if stream else []
    r.ok, r.errors, r.blocks = (
        190,
        Counter({"http_500": 4}),
        Counter({"finish_reason:content_filter": 6}),
    )
    r.labeled = r.explicit_labels = 150
    r.elapsed = 0.5 * concurrency
    return r


WRK = [
    {"level": "c=1", "rps": 1000.0, "p50": 0.5, "p99": 2.0, "non_2xx": 0},
    {"level": "c=4", "rps": 500.0, "p50": 1.5, "p99": 6.0, "non_2xx": 3},
]


def test_write_report_files_are_readable(tmp_path: Path) -> None:
    results = [fake_result(1), fake_result(4)]
    paths = write_report(tmp_path / "out", results, WRK, {"command": "aigc-gateway bench load x"})
    names = {p.name for p in paths}
    assert names == {"report.md", "report.json", "latency.png", "throughput.png"}
    for png in ("latency.png", "throughput.png"):
        with Image.open(tmp_path / "out" / png) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 300
    text = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "![latency](latency.png)" in text and "![throughput](throughput.png)" in text
    assert "aigc-gateway bench load x" in text
    doc = orjson.loads((tmp_path / "out" / "report.json").read_bytes())
    assert [run["level"] for run in doc["runs"]] == ["c=1", "c=4"]
    assert doc["runs"][0]["requests"] == 200 and doc["runs"][0]["rps"] == 400.0
    assert doc["runs"][0]["blocks"] == {"finish_reason:content_filter": 6}
    assert doc["wrk"] == WRK


def test_single_level_report_has_no_throughput_chart(tmp_path: Path) -> None:
    paths = write_report(tmp_path, [fake_result(2, stream=False)])
    assert {p.name for p in paths} == {"report.md", "report.json", "latency.png"}


def test_table_markdown_and_json_agree() -> None:
    results = [fake_result(1), fake_result(4)]
    table = format_table(results, WRK)
    assert "c=1" in table and "c=4" in table and "TTFT p50" in table and "wrk req/s" in table
    assert "http_500 4" in table
    md = markdown_section(results, WRK)
    rows = [line for line in md.splitlines() if line.startswith("| c=")]
    assert len(rows) == 4  # two levels, twice (own figures, wrk comparison)
    doc = orjson.loads(to_json(results, WRK))
    lat = doc["runs"][1]["latency_ms"]
    assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"] == pytest.approx(200.0)
    assert f"{lat['p50']:.0f}" in rows[1] or f"{lat['p50']:.2f}" in rows[1]


def test_update_section_creates_and_preserves(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    update_section("alpha", "| a | 1 |", "cmd alpha", path=path)
    assert path.read_text(encoding="utf-8").startswith(HEADER)
    update_section("beta", "beta figures\n\nmore", "cmd beta", path=path)
    text = path.read_text(encoding="utf-8")
    beta = re.search(r"<!-- BEGIN beta -->.*<!-- END beta -->", text, re.S).group(0)  # type: ignore[union-attr]
    hand_edited = text.replace("# Benchmark results", "# Benchmark results (edited)")
    path.write_text(hand_edited + "\ntrailing note\n", encoding="utf-8")
    update_section("alpha", "| a | 2 |", "cmd alpha v2", path=path)
    text = path.read_text(encoding="utf-8")
    assert "| a | 2 |" in text and "| a | 1 |" not in text and "cmd alpha v2" in text
    assert beta in text and "(edited)" in text and text.endswith("trailing note\n")
    assert text.index("BEGIN alpha") < text.index("BEGIN beta")  # replaced in place
    assert text.count("<!-- BEGIN alpha -->") == 1
    section = text[text.index("BEGIN alpha") : text.index("END alpha")]
    for key in ("machine:", "os:", "python:", "libraries:", "commit:", "date:"):
        assert f"- {key}" in section
    assert "aiohttp" in section


@pytest.mark.parametrize("name", ["", "a b", "x" * 70, "-x", "a<b"])
def test_update_section_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="section name"):
        update_section(name, "x", "cmd", path=tmp_path / "R.md")


def test_update_section_rejects_markers_in_markdown(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="markers"):
        update_section("a", "<!-- END a -->", "cmd", path=tmp_path / "R.md")


def _writer(path: str, prefix: str) -> None:
    for i in range(4):
        update_section(
            f"{prefix}{i}", f"figures {prefix}{i}", f"cmd {prefix}{i}", path=path, libraries=()
        )


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), p)) for p in ("p", "q", "r")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    text = path.read_text(encoding="utf-8")
    for prefix in ("p", "q", "r"):
        for i in range(4):
            assert text.count(f"<!-- BEGIN {prefix}{i} -->") == 1
            assert f"figures {prefix}{i}" in text
    assert not list(tmp_path.glob(".RESULTS.*"))  # no temporary files left
