"""Async load generator for a deployed gateway (``aigc-gateway bench load``).

Closed loop (``concurrency`` workers, each sending its next request when the previous one
ends) or open loop (``rate`` requests/s on a fixed schedule; latency is measured from the
*scheduled* send time, so a slow server cannot hide its queueing: no coordinated omission).
Reports throughput, latency, time to first token, inter-chunk delay, errors and blocks by
code and how many replies carried an AI-content label. Plain-http targets are driven by the
small httptools client of ``benchmarks.rawhttp`` (several times cheaper per request than
aiohttp, so the generator stays out of the way); https targets by aiohttp.

Library use (the gateway benchmark runs it in a separate process the same way)::

    from benchmarks.loadgen import LoadConfig, load_prompts, run

    result = run(LoadConfig(target="http://127.0.0.1:8000", api="openai", stream=True,
                            concurrency=16, requests=2000, prompts=load_prompts()))
    result.rps, result.latency["p50"]

or ``python -m benchmarks.loadgen --target URL --json``. ``benchmarks.wrk.run_wrk`` drives wrk
with the same request bodies for a side-by-side figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from benchmarks.rawhttp import (
    ConnectError,
    ProtocolError,
    RawClient,
    RawResponse,
    ServerDisconnected,
)
from benchmarks.replies import has_explicit_label, implicit_label, read_reply
from benchmarks.workload import (
    API_PATHS,
    LoadConfig,
    LoadError,
    build_body,
    build_headers,
    check_target,
    endpoint_url,
    load_prompts,
)

__all__ = [
    "API_PATHS",
    "LoadConfig",
    "LoadError",
    "RunResult",
    "add_arguments",
    "check_target",
    "endpoint_url",
    "load_prompts",
    "main",
    "run",
    "run_load",
    "run_parallel",
    "summarize",
]

# --------------------------------------------------------------------------- results


def summarize(values: Sequence[float]) -> dict[str, float | None]:
    """count, mean, p50, p90, p99 and max of ``values`` (seconds) in milliseconds."""
    keys = ("mean", "p50", "p90", "p99", "max")
    if not values:
        return {"count": 0, **dict.fromkeys(keys)}
    import numpy as np

    arr = np.asarray(values, dtype=float) * 1000.0
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {
        "count": len(arr),
        "mean": float(arr.mean()),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(arr.max()),
    }


@dataclass
class RunResult:
    """Figures of one load level; ``latencies`` etc. are raw seconds (not in ``to_dict``)."""

    api: str
    stream: bool
    url: str
    concurrency: int | None
    rate: float | None
    elapsed: float = 0.0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    blocks: Counter[str] = field(default_factory=Counter)
    explicit_labels: int = 0
    implicit_labels: int = 0
    labeled: int = 0
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    engine: str = "aiohttp"
    unsent: int = 0  # open loop: scheduled before the time bound but not sent by then

    @property
    def level(self) -> str:
        return f"c={self.concurrency}" if self.rate is None else f"rate={self.rate:g}/s"

    @property
    def completed(self) -> int:
        return self.ok + sum(self.errors.values()) + sum(self.blocks.values())

    @property
    def rps(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def latency(self) -> dict[str, float | None]:
        return summarize(self.latencies)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (milliseconds, requests/s)."""
        return {
            "api": self.api,
            "engine": self.engine,
            "stream": self.stream,
            "url": self.url,
            "level": self.level,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "elapsed_s": round(self.elapsed, 4),
            "requests": self.completed,
            "unsent": self.unsent,
            "ok": self.ok,
            "errors": dict(self.errors),
            "blocks": dict(self.blocks),
            "rps": round(self.rps, 2),
            "latency_ms": self.latency,
            "ttft_ms": summarize(self.ttfts),
            "inter_chunk_ms": summarize(self.gaps),
            "labels": {
                "any": self.labeled,
                "explicit": self.explicit_labels,
                "implicit": self.implicit_labels,
            },
        }


# --------------------------------------------------------------------------- the generator


class _AiohttpFetcher:
    """aiohttp transport: any URL (https too); body pieces timestamped as they are read."""

    def __init__(self, session: Any, url: str, headers: dict[str, str], stream: bool) -> None:
        self.session, self.url, self.headers, self.stream = session, url, headers, stream

    def encode(self, body: bytes) -> bytes:
        return body

    async def post(self, body: bytes) -> RawResponse:
        async with self.session.post(self.url, data=body, headers=self.headers) as resp:
            chunks = []
            if self.stream and resp.status == 200:
                async for chunk in resp.content.iter_any():
                    chunks.append((time.perf_counter(), chunk))
            else:
                data = await resp.read()
                chunks.append((time.perf_counter(), data))
            return resp.status, resp.headers, chunks


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectError | aiohttp.ClientConnectorError):
        return "connect_error"
    if isinstance(exc, ServerDisconnected | aiohttp.ServerDisconnectedError):
        return "server_disconnected"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "payload_error"
    if isinstance(exc, ProtocolError):
        return "protocol_error"
    if isinstance(exc, aiohttp.ClientError):
        return type(exc).__name__
    if isinstance(exc, OSError):
        return f"os_error:{exc.errno}"
    return type(exc).__name__


class _Runner:
    def __init__(self, cfg: LoadConfig, fetcher: Any, result: RunResult) -> None:
        self.cfg, self.fetcher, self.result = cfg, fetcher, result
        self.requests = [fetcher.encode(build_body(cfg, m)) for m in cfg.prompts]
        self._next_request = itertools.cycle(self.requests).__next__
        self.label_header = cfg.label_header.lower() if cfg.label_header else None
        self.issued = 0

    async def one(self, scheduled: float) -> None:
        """Send one request; latency counts from ``scheduled`` (open loop: the plan)."""
        try:
            response = await self.fetcher.post(self._next_request())
        except (OSError, ValueError, TimeoutError, aiohttp.ClientError) as exc:
            self._count(scheduled, time.perf_counter(), _error_code(exc))
            return
        end = time.perf_counter()
        try:
            self._record(scheduled, end, *response)
        except orjson.JSONDecodeError:
            self._count(scheduled, end, "bad_json")

    def _count(self, scheduled: float, end: float, error: str) -> None:
        self.result.latencies.append(end - scheduled)
        self.result.errors[error] += 1

    def _record(
        self,
        scheduled: float,
        end: float,
        status: int,
        headers: Any,
        chunks: list[tuple[float, bytes]],
    ) -> None:
        r = self.result
        reading = read_reply(self.cfg.api, status, chunks, stream=self.cfg.stream)
        r.latencies.append(end - scheduled)
        if reading.first is not None:
            r.ttfts.append(reading.first - scheduled)
        r.gaps.extend(reading.gaps)
        if reading.error:
            r.errors[reading.error] += 1
        elif reading.block:
            r.blocks[reading.block] += 1
        else:
            r.ok += 1
        explicit = has_explicit_label(reading.text) if reading.text else False
        implicit = implicit_label(headers, self.label_header)
        r.explicit_labels += explicit
        r.implicit_labels += implicit
        r.labeled += explicit or implicit

    def take(self, deadline: float, now: float) -> bool:
        limit = self.cfg.requests
        if (limit is not None and self.issued >= limit) or now >= deadline:
            return False
        self.issued += 1
        return True

    async def closed_loop(self, deadline: float) -> None:
        async def worker() -> None:
            while self.take(deadline, time.perf_counter()):
                await self.one(time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(self.cfg.concurrency or 1)))

    async def open_loop(self, start: float, deadline: float) -> None:
        gate = asyncio.Semaphore(self.cfg.max_inflight)
        interval = 1.0 / (self.cfg.rate or 1.0)
        hard_stop = deadline + 0.05  # a request planned just before the end may go just after
        tasks: set[asyncio.Task[None]] = set()

        async def send(scheduled: float) -> None:
            async with gate:
                # The time bound is hard: what could not be sent before it is reported as
                # unsent (the target, or the generator, could not keep up), not sent late.
                if time.perf_counter() >= hard_stop:
                    self.result.unsent += 1
                    return
                await self.one(scheduled)

        for i in itertools.count():
            scheduled = start + i * interval
            if not self.take(deadline, scheduled):
                break
            if time.perf_counter() >= hard_stop:  # far behind: the rest will not be sent
                self.result.unsent += 1
                continue
            # Always yield, also when behind schedule, so replies keep being read; and never
            # send early (uvloop's millisecond timers can wake up a little before the plan).
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            while (early := scheduled - time.perf_counter()) > 0:
                await asyncio.sleep(early)
            task = asyncio.create_task(send(scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)


async def _progress(result: RunResult, started: float, out: Any) -> None:
    while True:
        await asyncio.sleep(0.25)
        elapsed = time.perf_counter() - started
        recent = sorted(result.latencies[-2000:])
        p50 = f"{recent[len(recent) // 2] * 1000:.1f} ms" if recent else "-"
        out.write(
            f"\r  {result.level:>12}  {elapsed:6.1f} s  {result.completed:>8,} done  "
            f"{result.completed / elapsed if elapsed else 0:>9,.0f} req/s  p50 {p50:>9}  "
            f"errors {sum(result.errors.values()):,}  blocks {sum(result.blocks.values()):,}  "
        )
        out.flush()


@contextlib.asynccontextmanager
async def _open_fetcher(cfg: LoadConfig) -> AsyncIterator[Any]:
    if cfg.resolved_engine == "raw":
        client = RawClient(cfg.url, build_headers(cfg), timeout=cfg.timeout)
        try:
            yield client
        finally:
            client.close()
        return
    limit = cfg.concurrency if cfg.rate is None else cfg.max_inflight
    connector = aiohttp.TCPConnector(limit=limit or 0, limit_per_host=0, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=cfg.timeout)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:
        yield _AiohttpFetcher(session, cfg.url, build_headers(cfg), cfg.stream)


async def run_load(cfg: LoadConfig, *, progress: Any = None) -> RunResult:
    """Run one load level (after an optional warm-up) and return its figures.

    ``progress``: a text stream (stderr) for the live progress line, or None.
    """
    cfg.validate()
    if cfg.start_at is not None:
        await asyncio.sleep(max(0.0, cfg.start_at - time.time()))
    async with _open_fetcher(cfg) as fetcher:
        if cfg.warmup:
            scratch = RunResult(cfg.api, cfg.stream, cfg.url, cfg.concurrency, cfg.rate)
            await _drive(_Runner(_copy(cfg, requests=None), fetcher, scratch), cfg.warmup)
        result = RunResult(cfg.api, cfg.stream, cfg.url, cfg.concurrency, cfg.rate)
        result.engine = cfg.resolved_engine
        runner = _Runner(cfg, fetcher, result)
        ticker = None
        started = time.perf_counter()
        if progress is not None:
            ticker = asyncio.create_task(_progress(result, started, progress))
        try:
            await _drive(runner, cfg.duration)
        finally:
            result.elapsed = time.perf_counter() - started
            if ticker is not None:
                ticker.cancel()
                progress.write("\n")
                progress.flush()
    return result


async def _drive(runner: _Runner, duration: float | None) -> None:
    start = time.perf_counter()
    deadline = start + duration if duration is not None else math.inf
    if runner.cfg.rate is None:
        await runner.closed_loop(deadline)
    else:
        await runner.open_loop(start, deadline)


def _copy(cfg: LoadConfig, **changes: Any) -> LoadConfig:
    from dataclasses import replace

    return replace(cfg, **changes)


def run(cfg: LoadConfig, *, progress: Any = None) -> RunResult:
    """Synchronous ``run_load`` on a fresh event loop (uvloop when installed)."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(run_load(cfg, progress=progress))


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_parallel(cfg: LoadConfig, processes: int, *, progress: Any = None) -> RunResult:
    """``run`` spread over ``processes`` worker processes that start together; merged result.

    Concurrency, rate, request count and ``max_inflight`` are shared out between them, so
    the level is the same as in one process, with more CPU for the generator.
    """
    if processes <= 1:
        return run(cfg, progress=progress)
    cfg.validate()
    n = processes
    if cfg.concurrency is not None:
        n = min(n, cfg.concurrency)
    if cfg.requests is not None:
        n = min(n, cfg.requests)
    if n <= 1:
        return run(cfg, progress=progress)
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    start_at = time.time() + 1.0 + 0.3 * n  # after every worker has imported and connected
    shares = []
    for i in range(n):
        share = _copy(cfg, start_at=start_at, max_inflight=max(1, -(-cfg.max_inflight // n)))
        if cfg.concurrency is not None:
            share.concurrency = _split(cfg.concurrency, n)[i]
        else:
            share.rate = (cfg.rate or 1.0) / n
        if cfg.requests is not None:
            share.requests = _split(cfg.requests, n)[i]
        shares.append(share)
    with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn")) as pool:
        parts = list(pool.map(run, shares))
    merged = RunResult(cfg.api, cfg.stream, cfg.url, cfg.concurrency, cfg.rate)
    merged.engine = parts[0].engine
    for part in parts:
        merged.elapsed = max(merged.elapsed, part.elapsed)
        merged.ok += part.ok
        merged.errors.update(part.errors)
        merged.blocks.update(part.blocks)
        merged.explicit_labels += part.explicit_labels
        merged.implicit_labels += part.implicit_labels
        merged.labeled += part.labeled
        merged.unsent += part.unsent
        merged.latencies += part.latencies
        merged.ttfts += part.ttfts
        merged.gaps += part.gaps
    return merged


# --------------------------------------------------------------------------- command line


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 1,16,64, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("empty list")
    return values


def _float_list(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 100,500, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("empty list")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``bench load`` (shared with ``python -m benchmarks.loadgen``)."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--target", help="base URL of the gateway, e.g. http://127.0.0.1:8000")
    where.add_argument(
        "--demo",
        action="store_true",
        help="start the bundled demo upstream and load it (checks the generator)",
    )
    parser.add_argument("--api", choices=sorted(API_PATHS), default="openai")
    parser.add_argument("--path", help=f"request path instead of the API's own {API_PATHS}")
    parser.add_argument("--stream", action="store_true", help="streaming requests")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--concurrency",
        "-c",
        type=_int_list,
        metavar="N[,N...]",
        help="closed loop with N in-flight requests (default 1); a list runs each",
    )
    mode.add_argument(
        "--rate",
        "-r",
        type=_float_list,
        metavar="R[,R...]",
        help="open loop at R requests/s; latency counts from the scheduled time",
    )
    parser.add_argument("--duration", "-d", type=float, help="seconds per level (default 10)")
    parser.add_argument("--requests", "-n", type=int, help="requests per level")
    parser.add_argument("--warmup", type=float, default=0.0, help="warm-up seconds per level")
    parser.add_argument("--prompts", help="JSONL prompt file (default: bundled mixed set)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("AIGC_GATEWAY_BENCH_API_KEY"),
        help="API key sent to the target (env AIGC_GATEWAY_BENCH_API_KEY)",
    )
    parser.add_argument("--model", default="demo-model")
    parser.add_argument("--max-tokens", type=int, default=256, help="Anthropic max_tokens")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, s")
    parser.add_argument(
        "--max-inflight", type=int, default=1024, help="open loop: cap on requests in flight"
    )
    parser.add_argument(
        "--label-header",
        help="header that carries the implicit label (default: any header "
        "whose name contains 'label' or whose value holds a label record)",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a target that is not a loopback address"
    )
    parser.add_argument(
        "--engine",
        choices=("auto", "raw", "aiohttp"),
        default="auto",
        help="HTTP client: raw (httptools keep-alive, plain http), aiohttp; auto = raw for http",
    )
    parser.add_argument(
        "--wrk", action="store_true", help="also run wrk (1 thread) on the same target and bodies"
    )
    parser.add_argument(
        "--processes",
        "-p",
        type=int,
        default=1,
        help="spread each level over N generator processes (for machines with spare cores)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run each level N times (wrk interleaved) and keep the median round",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--report", metavar="DIR", help="write report.md, report.json and PNGs")
    parser.add_argument(
        "--results", action="store_true", help="record the figures in benchmarks/RESULTS.md"
    )
    parser.add_argument("--results-name", help="RESULTS.md section (default loadgen[-stream])")
    parser.add_argument("--results-note", help="a sentence placed above the RESULTS.md tables")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")


def _median_by(items: list[Any], key: Callable[[Any], float]) -> Any:
    return sorted(items, key=key)[(len(items) - 1) // 2]


def _wrk_level(cfg: LoadConfig, duration: float) -> dict[str, Any]:
    from benchmarks.wrk import WrkError, run_wrk

    if cfg.rate is not None:
        raise LoadError("wrk is closed-loop only; compare with --concurrency")
    bodies = [build_body(cfg, m) for m in cfg.prompts]
    try:
        figures = run_wrk(
            cfg.url,
            bodies,
            build_headers(cfg),
            connections=cfg.concurrency or 1,
            duration=duration,
            timeout=cfg.timeout,
        )
    except WrkError as exc:
        raise LoadError(str(exc)) from None
    figures["level"] = cfg.level
    return figures


def _configs(args: argparse.Namespace, target: str) -> list[LoadConfig]:
    prompts = load_prompts(args.prompts)
    duration = (
        args.duration
        if args.duration is not None
        else (None if args.requests is not None else 10.0)
    )
    base = dict(
        target=target,
        api=args.api,
        stream=args.stream,
        duration=duration,
        requests=args.requests,
        prompts=prompts,
        api_key=args.api_key,
        model=args.model,
        max_tokens=args.max_tokens,
        timeout=args.timeout,
        max_inflight=args.max_inflight,
        warmup=args.warmup,
        path=args.path,
        label_header=args.label_header,
        allow_remote=args.allow_remote,
        engine=args.engine,
    )
    if args.rate:
        configs = [LoadConfig(**base, concurrency=None, rate=r) for r in args.rate]
    else:
        configs = [LoadConfig(**base, concurrency=c) for c in (args.concurrency or [1])]
    for cfg in configs:
        cfg.validate()
    if not 1 <= args.rounds <= 100:
        raise LoadError("--rounds must be between 1 and 100")
    if not 1 <= args.processes <= 256:
        raise LoadError("--processes must be between 1 and 256")
    return configs


def command_line(args: argparse.Namespace) -> str:
    """The command as a user would retype it (the API key is never written out)."""
    import shlex

    parts = ["--demo"] if args.demo else ["--target", args.target]
    parts += ["--api", args.api]
    if args.stream:
        parts.append("--stream")
    if args.rate:
        parts += ["--rate", ",".join(f"{r:g}" for r in args.rate)]
    else:
        parts += ["--concurrency", ",".join(str(c) for c in args.concurrency or [1])]
    for option in ("duration", "requests", "prompts", "path", "label_header"):
        value = getattr(args, option)
        if value is not None:
            parts += [
                "--" + option.replace("_", "-"),
                f"{value:g}" if isinstance(value, float) else str(value),
            ]
    if args.warmup:
        parts += ["--warmup", f"{args.warmup:g}"]
    if args.rounds != 1:
        parts += ["--rounds", str(args.rounds)]
    if args.processes != 1:
        parts += ["--processes", str(args.processes)]
    if args.model != "demo-model":
        parts += ["--model", args.model]
    if args.engine != "auto":
        parts += ["--engine", args.engine]
    for flag in ("allow_remote", "wrk"):
        if getattr(args, flag):
            parts.append("--" + flag.replace("_", "-"))
    return "aigc-gateway bench load " + shlex.join(parts)


def execute(args: argparse.Namespace) -> int:
    """Run ``bench load`` from parsed arguments; returns the exit code."""
    from benchmarks import report

    upstream = None
    try:
        if args.demo:
            from service.demo_upstream import run_in_background

            upstream = run_in_background(process=True)
            target = upstream.url
        else:
            target = args.target
        configs = _configs(args, target)
        progress = None if args.quiet or args.json or not sys.stderr.isatty() else sys.stderr
        results, wrk_results = [], []
        for cfg in configs:
            # wrk right after each run, round after round: both see the same machine state;
            # the median round (by requests/s) of each stands for the level.
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(run_parallel(cfg, args.processes, progress=progress))
                if args.wrk:
                    theirs.append(_wrk_level(cfg, cfg.duration or max(1.0, ours[-1].elapsed)))
            results.append(_median_by(ours, lambda r: r.rps))
            if theirs:
                wrk_results.append(_median_by(theirs, lambda w: w["rps"]))
    except LoadError as exc:
        print(f"aigc-gateway bench load: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aigc-gateway bench load: interrupted", file=sys.stderr)
        return 130
    finally:
        if upstream is not None:
            upstream.stop()
    command = command_line(args)
    meta = {"target": "demo upstream" if args.demo else target, "command": command}
    if args.json:
        sys.stdout.write(report.to_json(results, wrk_results, meta) + "\n")
    else:
        print(report.format_table(results, wrk_results))
    try:
        _write_outputs(args, results, wrk_results, meta)
    except OSError as exc:
        print(f"aigc-gateway bench load: error: cannot write: {exc}", file=sys.stderr)
        return 2
    return 0


def _write_outputs(
    args: argparse.Namespace,
    results: list[RunResult],
    wrk_results: list[dict[str, Any]],
    meta: dict[str, Any],
) -> None:
    from benchmarks import report

    command = meta["command"]
    if args.report:
        for path in report.write_report(args.report, results, wrk_results, meta):
            print(f"wrote {path}", file=sys.stderr)
    if args.results:
        from benchmarks.results import update_section

        name = args.results_name or ("loadgen-stream" if args.stream else "loadgen")
        mode = "streaming" if args.stream else "non-streaming"
        title = f"Load generator: {args.api} {mode}" + (" vs wrk" if args.wrk else "")
        markdown = report.markdown_section(results, wrk_results, meta)
        if args.results_note:
            markdown = args.results_note.strip() + "\n\n" + markdown
        path = update_section(name, markdown, command, title=title)
        print(f"updated {path} [{name}]", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.loadgen`` (same options as ``aigc-gateway bench load``)."""
    parser = argparse.ArgumentParser(
        prog="aigc-gateway bench load", description=__doc__.split("\n\n")[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return execute(args)


if __name__ == "__main__":
    sys.exit(main())
