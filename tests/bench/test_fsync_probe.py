"""benchmarks.fsync_probe: one timing per commit, the probe file written and removed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.fsync_probe import probe

ROOT = Path(__file__).resolve().parents[2]


def test_probe_times_each_commit_and_cleans_up(tmp_path: Path) -> None:
    times = probe(count=7, frames=3, gap=0, directory=str(tmp_path))
    assert len(times) == 7 and all(t >= 0 for t in times)
    assert list(tmp_path.iterdir()) == []  # the probe's directory is gone


def test_command_prints_p50_and_p90(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.fsync_probe", "--count", "5", "--gap", "0"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("gap 0.0 s: fdatasync p50 ") and " us, p90 " in out.stdout
