"""Gateway benchmark: the proxy with screening and labels against a raw pass-through floor and
direct calls, all in front of the same fast fake upstream.

Processes (each its own, so no two share an event loop): the demo upstream
(``service.demo_upstream``, 20-chunk replies), the gateway (one uvicorn worker, 10k-term
lexicon, labels on, records on), the floor (``FloorProxy`` below: raw ASGI + one aiohttp
session, no screening), and the load generator: wrk when installed (requests/s, p50/p99), and
``benchmarks.loadgen`` in a child process for time-to-first-token. Levels c=1, 16, 64,
streaming and not. Every figure is also given as a ratio to the floor and to the direct call.

    python -m benchmarks.gateway [--duration 5] [--levels 1,16,64] [--no-results]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["FloorProxy", "floor_app", "main"]

ROOT = Path(__file__).resolve().parent.parent
BODY = {
    "model": "demo-model",
    "messages": [{"role": "user", "content": "请介绍一下杭州的西湖和它的历史。"}],
}


# --------------------------------------------------------------------------- the floor


class FloorProxy:
    """The least a Python proxy can do: raw ASGI, read body, aiohttp call, relay bytes."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.session: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            import aiohttp

            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.session = aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(limit=512), auto_decompress=False
                    )
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await self.session.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        async with self.session.request(
            scope["method"],
            self.upstream + scope["path"],
            data=body,
            headers={"content-type": "application/json"},
        ) as resp:
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": [(b"content-type", resp.headers.get("content-type", "").encode())],
                }
            )
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})


def floor_app() -> FloorProxy:
    """uvicorn factory: the upstream comes from ``BENCH_FLOOR_UPSTREAM``."""
    return FloorProxy(os.environ["BENCH_FLOOR_UPSTREAM"])


# --------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited during start-up: {proc.args}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def _uvicorn(
    target: str, port: int, env: dict[str, str], http: str = "httptools"
) -> subprocess.Popen:
    """uvicorn on ``port``; the gateway runs with the protocol ``serve`` uses (its limits)."""
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        http,
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdin=subprocess.DEVNULL)
    _wait(port, proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_lexicon(directory: Path, terms: int = 10_000, seed: int = 45438) -> Path:
    """`terms` random 2-6 character CJK terms (fixed seed) in one category file."""
    rng = random.Random(seed)
    words = set()
    while len(words) < terms:
        words.add("".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 6))))
    path = directory / "a1.false_harmful_info.txt"
    path.write_text("\n".join(sorted(words)) + "\n", encoding="utf-8")
    return directory


# --------------------------------------------------------------------------- load


def _wrk(url: str, body: bytes, connections: int, duration: float) -> dict[str, Any]:
    from benchmarks.wrk import run_wrk

    return run_wrk(
        url,
        [body],
        {"content-type": "application/json"},
        connections=connections,
        duration=duration,
    )


def _ttft(target: str, levels: Sequence[int], duration: float) -> dict[int, float | None]:
    """p50 time to first token per level, from ``benchmarks.loadgen`` in a child process."""
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        "--target",
        target,
        "--stream",
        "--concurrency",
        ",".join(map(str, levels)),
        "--duration",
        str(duration),
        "--json",
        "--quiet",
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr.strip()[:400]}")
    doc = json.loads(out.stdout)
    return {run["concurrency"]: run["ttft_ms"]["p50"] for run in doc["runs"]}


def _ratio(value: float | None, base: float | None) -> str:
    if not value or not base:
        return "-"
    return f"{value / base:.2f}x"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def run(args: argparse.Namespace) -> str:
    from service.config import DEMO_PRODUCER_CODE
    from service.demo_upstream import run_in_background

    levels = args.levels
    tmp = Path(tempfile.mkdtemp(prefix="aigc-bench-"))
    procs: list[subprocess.Popen] = []
    upstream = run_in_background(process=True, chunks=20)
    (tmp / "lexicon").mkdir()
    lexdir = make_lexicon(tmp / "lexicon")
    try:
        bundled = ROOT / "lexicons" / "data"
        gw_port, floor_port = _free_port(), _free_port()
        procs.append(
            _uvicorn(
                "service.app:app_from_env",
                gw_port,
                {
                    "AIGC_GATEWAY_UPSTREAM": upstream.url,
                    "AIGC_GATEWAY_LEXICONS": json.dumps([str(bundled), str(lexdir)]),
                    "AIGC_GATEWAY_DATA_DIR": str(tmp / "var"),
                    "AIGC_GATEWAY_DATABASE": f"sqlite:///{tmp / 'var' / 'records.sqlite3'}",
                    "AIGC_GATEWAY_ACCESS_LOG": "false",
                    "AIGC_GATEWAY_LOG_LEVEL": "warning",
                    "AIGC_GATEWAY_LABELS__PRODUCER_CODE": DEMO_PRODUCER_CODE,
                },
                http="service.limits:GatewayHttpProtocol",
            )
        )
        procs.append(
            _uvicorn(
                "benchmarks.gateway:floor_app", floor_port, {"BENCH_FLOOR_UPSTREAM": upstream.url}
            )
        )
        targets = {
            "gateway": f"http://127.0.0.1:{gw_port}",
            "floor": f"http://127.0.0.1:{floor_port}",
            "direct": upstream.url,
        }
        import orjson

        plain = orjson.dumps(BODY)
        streaming = orjson.dumps({**BODY, "stream": True})
        # warm-up (lexicon cache, connection pools) and a correctness check of the gateway
        import httpx

        check = httpx.post(
            targets["gateway"] + "/v1/chat/completions",
            content=plain,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        check.raise_for_status()
        assert "x-aigc-label" in check.headers and "人工智能" in check.text, "labels are off"
        figures: dict[tuple[str, bool, int], dict[str, Any]] = {}
        for stream, body in ((False, plain), (True, streaming)):
            for level in levels:
                for name, base in targets.items():
                    figures[(name, stream, level)] = _wrk(
                        base + "/v1/chat/completions", body, level, args.duration
                    )
                    print(
                        f"  {name:8s} stream={stream!s:5s} c={level:<3d} "
                        f"{figures[(name, stream, level)]['rps']:>9,.0f} req/s",
                        file=sys.stderr,
                    )
        ttft = {
            name: _ttft(base, [lv for lv in levels if lv <= 16], args.ttft_duration)
            for name, base in targets.items()
        }
    finally:
        for proc in procs:
            _stop(proc)
        upstream.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    md = _markdown(figures, ttft, levels)
    return (
        md + f"\nLoad average (1/5/15 min) when the run ended: {os.getloadavg()[0]:.2f} / "
        f"{os.getloadavg()[1]:.2f} / {os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs.\n"
    )


def _markdown(figures: dict, ttft: dict, levels: Sequence[int]) -> str:
    out = []
    for stream in (False, True):
        kind = (
            "Streaming (20-chunk replies, a stream counts as one request)"
            if stream
            else "Non-streaming"
        )
        out += [
            f"**{kind}**, wrk 1 thread, `POST /v1/chat/completions`:",
            "",
            "| target | c | req/s | p50 ms | p99 ms | req/s vs floor | vs direct | added p50 ms vs direct |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for level in levels:
            floor, direct = figures[("floor", stream, level)], figures[("direct", stream, level)]
            for name in ("gateway", "floor", "direct"):
                f = figures[(name, stream, level)]
                added = (f.get("p50") or 0) - (direct.get("p50") or 0)
                out.append(
                    f"| {name} | {level} | {f['rps']:,.0f} | {_fmt(f.get('p50'))} | {_fmt(f.get('p99'))} "
                    f"| {_ratio(f['rps'], floor['rps'])} | {_ratio(f['rps'], direct['rps'])} "
                    f"| {added:+.2f} |"
                )
        out.append("")
    out += [
        "**Time to first token** (p50 ms, `benchmarks.loadgen` in a child process, streaming):",
        "",
        "| target | " + " | ".join(f"c={lv}" for lv in sorted(next(iter(ttft.values())))) + " |",
        "|---|" + "---:|" * len(next(iter(ttft.values()))),
    ]
    for name, per in ttft.items():
        out.append(f"| {name} | " + " | ".join(_fmt(per[lv]) for lv in sorted(per)) + " |")
    out += [
        "",
        "Gateway: one uvicorn worker (uvloop, httptools with the gateway's connection limits "
        "as `serve` runs it), 10,000-term random CJK lexicon "
        "plus the bundled sample, explicit text label at the start and the implicit label "
        "header on, records to SQLite. Floor: `benchmarks.gateway.FloorProxy` (raw ASGI + "
        "aiohttp, no screening). All processes share the machine's cores with wrk, so the "
        "figures are a lower bound for each; benchmarks are hard, rerun on your machine.",
    ]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.gateway``: run the benchmark, print and record the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gateway", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk level")
    parser.add_argument("--ttft-duration", type=float, default=3.0, help="seconds per TTFT level")
    parser.add_argument(
        "--levels", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64]
    )
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("benchmarks.gateway: wrk is required (apt install wrk)", file=sys.stderr)
        return 2
    md = run(args)
    print(md)
    if not args.no_results:
        command = "python -m benchmarks.gateway " + shlex.join(
            list(argv if argv is not None else sys.argv[1:])
        )
        try:
            from benchmarks.results import update_section

            path = update_section("gateway", md, command.strip())
        except ImportError:
            path = ROOT / "benchmarks" / "RESULTS-gateway.md"
            path.write_text(md, encoding="utf-8")
        print(f"updated {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
