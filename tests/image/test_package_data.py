"""What ``pip install .`` (and so the image) ships: the console's templates, scripts, htmx
and its licence are package data, read back from a freshly built wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_wheel_carries_the_console(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("lexicons", "labelers", "service", "benchmarks"):
        shutil.copytree(ROOT / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("aigc_gateway-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (ROOT / "service/console/templates").glob("*.html")}
    assert {f"service/console/templates/{t}" for t in templates} <= names
    for static in ("htmx.min.js", "htmx.LICENSE", "console.js", "console.css"):
        assert f"service/console/static/{static}" in names
