"""``aigc-gateway --version``: the installed package's version (what the image check expects)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_version_flag() -> None:
    out = subprocess.run([sys.executable, "-m", "service", "--version"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"aigc-gateway {version('aigc-gateway')}"
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version("aigc-gateway") == declared
