"""``aigc-gateway serve`` on a port already in use: one line, non-zero, before "serving on"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("args", [[], ["--workers", "2"], ["--demo"]], ids=["1", "workers", "demo"])
def test_a_port_in_use_is_a_one_line_error(tmp_path: Path, args: list[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "service", "serve", "--port", str(port), *args],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), "AIGC_GATEWAY_DATA_DIR": "var"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr == f"error: port {port} on 127.0.0.1 is in use\n"
    assert done.stdout == ""


def test_an_address_that_cannot_be_bound_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--host", "192.0.2.1", "--port", "8080"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "AIGC_GATEWAY_DATA_DIR": "var"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot listen on 192.0.2.1 port 8080: ")
    assert done.stderr.count("\n") == 1
