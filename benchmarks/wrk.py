"""Drive wrk (https://github.com/wg/wrk) with POST bodies, for figures beside our own generator.

wrk is closed-loop and reads whole responses (chunked streams included), so it is the reference
for "is the load generator the bottleneck?" and the gateway benchmark's load source.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["WrkError", "parse_wrk", "run_wrk", "wrk_script", "wrk_version"]


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed something unreadable."""


def _lua_long_string(data: str) -> str:
    level = 0
    while "]" + "=" * level + "]" in data:
        level += 1
    eq = "=" * level
    return f"[{eq}[{data}]{eq}]"


def wrk_script(bodies: Iterable[bytes], headers: dict[str, str]) -> str:
    """A wrk Lua script POSTing ``bodies`` in turn with ``headers``."""
    items = ",\n  ".join(_lua_long_string(b.decode()) for b in bodies)
    lines = [f"local bodies = {{\n  {items}\n}}", "local i = 0", 'wrk.method = "POST"']
    lines += [
        f"wrk.headers[ {_lua_long_string(k)} ] = {_lua_long_string(v)}" for k, v in headers.items()
    ]
    lines += [
        "request = function()",
        "  i = i % #bodies + 1",
        "  return wrk.format(nil, nil, nil, bodies[i])",
        "end",
        "",
    ]
    return "\n".join(lines)


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests, requests/s, latency percentiles (ms) and error counts from ``wrk --latency``."""
    out: dict[str, Any] = {}
    if m := re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output):
        out["requests"] = int(m.group(1))
        out["elapsed_s"] = float(m.group(2)) * _WRK_UNITS[m.group(3)] / 1000.0
    if m := re.search(r"Requests/sec:\s+([\d.]+)", output):
        out["rps"] = float(m.group(1))
    for pct, value, unit in re.findall(
        r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M
    ):
        out[f"p{pct}"] = float(value) * _WRK_UNITS[unit]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    out["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    if "rps" not in out:
        raise WrkError(f"could not read wrk output:\n{output.strip()[:500]}")
    return out


def run_wrk(
    url: str,
    bodies: Sequence[bytes],
    headers: dict[str, str],
    *,
    connections: int,
    duration: float,
    threads: int = 1,
    timeout: float = 60.0,
    binary: str | None = None,
) -> dict[str, Any]:
    """POST ``bodies`` in turn to ``url`` with wrk; return ``parse_wrk`` figures.

    Raises ``WrkError`` when wrk is missing or fails.
    """
    wrk = binary or shutil.which("wrk")
    if not wrk:
        raise WrkError("wrk is not installed (apt install wrk)")
    if not bodies:
        raise WrkError("no request bodies")
    threads = max(1, min(threads, connections))
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.lua"
        script.write_text(wrk_script(bodies, headers), encoding="utf-8")
        cmd = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            f"--timeout={max(1, round(timeout))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=duration + 60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WrkError(f"wrk did not run: {exc}") from None
    if proc.returncode != 0:
        raise WrkError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
    figures = parse_wrk(proc.stdout)
    figures.update(concurrency=connections, threads=threads, version=wrk_version(wrk))
    return figures


def wrk_version(binary: str | None = None) -> str | None:
    """wrk's version line (``wrk 4.1.0 [epoll] ...`` -> ``4.1.0``), or None if not installed."""
    wrk = binary or shutil.which("wrk")
    if not wrk:
        return None
    try:
        proc = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"wrk (?:debian/)?(\S+)", proc.stdout + proc.stderr)
    return match.group(1) if match else None
