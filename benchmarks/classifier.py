"""Classifier-stage benchmark: the gateway with the guard-model stage on, against a fake guard
answering in 20 ms and a fake upstream answering in 50 ms.

Processes (each its own): the fake upstream (the demo upstream behind a fixed first-byte
latency, ``upstream_app``), the fake guard (``service.classifier.demo_guard`` with a fixed
delay, ``guard_app``), one gateway per variant, one after the other, and the load generator
(``benchmarks.loadgen`` in a child process). Variants::

    direct    the upstream itself (no gateway)
    off       the gateway without a classifier (the reference of every "added" figure)
    parallel  prompt check beside the upstream call (the default), outputs not classified
    before    prompt check before the upstream call (strict), outputs not classified
    outputs   prompt check beside the call and the whole answer classified before delivery
    hold      streamed outputs released segment by segment once classified
    async     streamed outputs released at once, cut on an unsafe verdict

Non-streaming: p50/p99 latency at each concurrency and the p50 added over ``off``: parallel
should add about max(guard, upstream) - upstream = 0 ms, before about the guard's 20 ms, and
outputs about the guard's 20 ms too (the answer's check can only start once it arrived).
Streaming (off, hold, async): streams/s and time to first token. Each variant's row says how
many guard calls it caused: a variant whose gateway made none did not exercise the stage (a
misconfiguration); the run then says so and does not record its figures.

    python -m benchmarks.classifier [--duration 5] [--levels 1,16] [--guard-ms 20]
                                    [--upstream-ms 50] [--no-results]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.config import DEMO_PRODUCER_CODE

__all__ = ["Latency", "guard_app", "main", "upstream_app"]

ROOT = Path(__file__).resolve().parent.parent
VARIANTS: dict[str, dict[str, str] | None] = {
    "off": None,
    "parallel": {"MODE": "parallel", "OUTPUTS": "false"},
    "before": {"MODE": "before", "OUTPUTS": "false"},
    "outputs": {"MODE": "parallel"},
    "hold": {"MODE": "parallel", "STREAM_MODE": "hold"},
    "async": {"MODE": "parallel", "STREAM_MODE": "async"},
}
NON_STREAM = ("direct", "off", "parallel", "before", "outputs")
STREAM = ("direct", "off", "hold", "async")


class Latency:
    """ASGI wrapper: wait ``seconds`` before the wrapped app sees an HTTP request."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.seconds:
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


def upstream_app() -> Latency:
    """uvicorn factory: the demo upstream answering after AIGC_BENCH_UPSTREAM_S seconds."""
    from service.demo_upstream import create_app

    chunk_s = float(os.environ.get("AIGC_BENCH_CHUNK_S", "0.002"))
    return Latency(create_app(chunks=20, delay=chunk_s), float(os.environ["AIGC_BENCH_UPSTREAM_S"]))


def guard_app() -> Any:
    """uvicorn factory: the demo guard answering after AIGC_BENCH_GUARD_S seconds."""
    from service.classifier.demo_guard import create_app

    return create_app(delay=float(os.environ["AIGC_BENCH_GUARD_S"]))


def _guard_calls(url: str) -> int:
    with urllib.request.urlopen(url + "/stats", timeout=5) as resp:  # loopback only
        return int(json.loads(resp.read())["requests"])


def _load(target: str, levels: Sequence[int], duration: float, stream: bool) -> dict[int, Any]:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        "--target",
        target,
        "--concurrency",
        ",".join(map(str, levels)),
        "--duration",
        str(duration),
        "--json",
        "--quiet",
    ] + (["--stream"] if stream else [])
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr.strip()[:400]}")
    return {run["concurrency"]: run for run in json.loads(out.stdout)["runs"]}


def _gateway_env(
    upstream: str, guard: str, data: Path, variant: dict[str, str] | None
) -> dict[str, str]:
    env = {
        "AIGC_GATEWAY_UPSTREAM": upstream,
        "AIGC_GATEWAY_DATA_DIR": str(data),
        "AIGC_GATEWAY_ACCESS_LOG": "false",
        "AIGC_GATEWAY_LOG_LEVEL": "warning",
        # labeled routes answer 503 labels_not_configured without a producer code
        "AIGC_GATEWAY_LABELS__PRODUCER_CODE": DEMO_PRODUCER_CODE,
    }
    if variant is not None:
        env.update(
            {
                "AIGC_GATEWAY_CLASSIFIER__BACKEND": "qwen3guard",
                "AIGC_GATEWAY_CLASSIFIER__URL": guard + "/qwen3guard/v1",
                "AIGC_GATEWAY_CLASSIFIER__MODEL": "Qwen/Qwen3Guard-Gen-4B",
                # every request is a new text for the guard: measure calls, not cache hits
                "AIGC_GATEWAY_CLASSIFIER__CACHE_SIZE": "0",
            }
        )
        env.update({f"AIGC_GATEWAY_CLASSIFIER__{k}": v for k, v in variant.items()})
    return env


def run(args: argparse.Namespace) -> tuple[str, bool]:
    """All variants; returns the Markdown section and whether the stage was exercised."""
    from benchmarks.gateway import _free_port, _stop, _uvicorn

    levels = args.levels
    procs = []
    figures: dict[tuple[str, bool], dict[int, Any]] = {}
    calls: dict[str, int] = {}
    try:
        up_port, guard_port = _free_port(), _free_port()
        procs.append(
            _uvicorn(
                "benchmarks.classifier:upstream_app",
                up_port,
                {
                    "AIGC_BENCH_UPSTREAM_S": str(args.upstream_ms / 1000),
                    "AIGC_BENCH_CHUNK_S": str(args.chunk_ms / 1000),
                },
            )
        )
        procs.append(
            _uvicorn(
                "benchmarks.classifier:guard_app",
                guard_port,
                {"AIGC_BENCH_GUARD_S": str(args.guard_ms / 1000)},
            )
        )
        upstream = f"http://127.0.0.1:{up_port}"
        guard = f"http://127.0.0.1:{guard_port}"
        print(f"direct: {upstream}", file=sys.stderr)
        figures[("direct", False)] = _load(upstream, levels, args.duration, False)
        figures[("direct", True)] = _load(upstream, levels, args.duration, True)
        for name, variant in VARIANTS.items():
            with tempfile.TemporaryDirectory(prefix="aigc-bench-classifier-") as data:
                port = _free_port()
                proc = _uvicorn(
                    "service.app:app_from_env",
                    port,
                    _gateway_env(upstream, guard, Path(data), variant),
                )
                try:
                    before = _guard_calls(guard)
                    target = f"http://127.0.0.1:{port}"
                    print(f"{name}: {target}", file=sys.stderr)
                    if name in NON_STREAM:
                        figures[(name, False)] = _load(target, levels, args.duration, False)
                    if name in STREAM:
                        figures[(name, True)] = _load(target, levels, args.duration, True)
                    calls[name] = _guard_calls(guard) - before
                finally:
                    _stop(proc)
    finally:
        for proc in reversed(procs):
            _stop(proc)
    exercised = all(calls[name] > 0 for name in VARIANTS if name != "off")
    return _markdown(figures, calls, levels, args, exercised), exercised


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _added(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "-"
    return f"{value - base:+.1f}"


def _markdown(
    figures: dict[tuple[str, bool], dict[int, Any]],
    calls: dict[str, int],
    levels: Sequence[int],
    args: argparse.Namespace,
    exercised: bool,
) -> str:
    lines = [
        f"Fake guard {args.guard_ms:g} ms, fake upstream {args.upstream_ms:g} ms to first byte "
        f"(20 chunks, {args.chunk_ms:g} ms apart); one gateway worker; {args.duration:g} s per "
        'level. "added" is against the gateway without a classifier (`off`). Expected: '
        f"parallel adds about max(guard, upstream) - upstream = {max(0.0, args.guard_ms - args.upstream_ms):g} ms, "
        f"before about the guard's {args.guard_ms:g} ms, outputs (prompt beside the call, the "
        f"whole answer checked before delivery) about {args.guard_ms:g} ms. Streams: hold "
        "delays the first token by the first segment's classification (a segment ends at a "
        "sentence end, else at 200 characters or the end of the answer); async adds none.",
        "",
    ]
    if not exercised:
        lines += [
            "**The gateway made no guard calls in some variants: those rows measure the "
            "gateway without the stage (check the classifier settings).**",
            "",
        ]
    lines += [
        "Non-streaming:",
        "",
        "| variant | c | req/s | p50 ms | p99 ms | added p50 ms | guard calls | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in NON_STREAM:
        for c in levels:
            run = figures[(name, False)][c]
            base = figures[("off", False)][c]["latency_ms"]["p50"]
            added = "-" if name in ("direct", "off") else _added(run["latency_ms"]["p50"], base)
            lines.append(
                f"| {name} | {c} | {run['rps']:.0f} | {_ms(run['latency_ms']['p50'])} | "
                f"{_ms(run['latency_ms']['p99'])} | {added} | {calls.get(name, '-')} | "
                f"{sum(run['errors'].values())} |"
            )
    lines += [
        "",
        "Streaming:",
        "",
        "| variant | c | streams/s | TTFT p50 ms | added TTFT p50 ms | p50 ms | guard calls | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in STREAM:
        for c in levels:
            run = figures[(name, True)][c]
            base = figures[("off", True)][c]["ttft_ms"]["p50"]
            added = "-" if name in ("direct", "off") else _added(run["ttft_ms"]["p50"], base)
            lines.append(
                f"| {name} | {c} | {run['rps']:.0f} | {_ms(run['ttft_ms']['p50'])} | {added} | "
                f"{_ms(run['latency_ms']['p50'])} | {calls.get(name, '-')} | "
                f"{sum(run['errors'].values())} |"
            )
    return "\n".join(lines) + "\n"


def _levels(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("levels are positive integers, e.g. 1,16")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.classifier", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per level (default 5)")
    parser.add_argument(
        "--levels", type=_levels, default=[1, 16], help="concurrency levels (default 1,16)"
    )
    parser.add_argument(
        "--guard-ms", type=float, default=20.0, help="fake guard delay (default 20)"
    )
    parser.add_argument(
        "--upstream-ms", type=float, default=50.0, help="fake upstream first byte (default 50)"
    )
    parser.add_argument(
        "--chunk-ms", type=float, default=2.0, help="fake upstream gap between stream chunks"
    )
    parser.add_argument(
        "--no-results", action="store_true", help="print only; do not update RESULTS.md"
    )
    args = parser.parse_args(argv)
    markdown, exercised = run(args)
    print(markdown)
    if not args.no_results and exercised:
        from benchmarks.results import update_section

        command = "python -m benchmarks.classifier " + shlex.join(list(argv or sys.argv[1:]))
        path = update_section("classifier", markdown, command.strip(), title="Classifier stage")
        print(f"updated {path} [classifier]", file=sys.stderr)
    elif not exercised:
        print("RESULTS.md not updated: the classifier stage was not exercised", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
