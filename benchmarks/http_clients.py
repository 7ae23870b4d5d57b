"""Upstream HTTP clients side by side: httpx's own pool, httpx with the aiohttp transport
(httpx-aiohttp, when installed) and aiohttp directly, each posting chat completions to the demo
upstream (a child process) at fixed concurrency. This is the measurement behind the proxy's
choice of aiohttp for its upstream pool.

    python -m benchmarks.http_clients [--concurrency 1,16,64] [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import orjson

from benchmarks.results import update_section
from service.demo_upstream import run_in_background

BODY = orjson.dumps({"model": "demo", "messages": [{"role": "user", "content": "你好，天气怎么样？"}]})
HEADERS = {"content-type": "application/json"}

Post = Callable[[], Awaitable[None]]


async def _drive(post: Post, concurrency: int, requests: int) -> float:
    """Requests per second for ``requests`` calls of ``post`` at ``concurrency``."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await post()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - began)


async def _httpx(url: str, concurrency: int, requests: int, transport: Any = None) -> float:
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    kwargs: dict[str, Any] = {"transport": transport} if transport is not None else {"limits": limits}
    async with httpx.AsyncClient(timeout=30, **kwargs) as client:

        async def post() -> None:
            r = await client.post(url, content=BODY, headers=HEADERS)
            r.raise_for_status()

        await _drive(post, concurrency, min(200, requests))  # warm the pool
        return await _drive(post, concurrency, requests)


async def _httpx_aiohttp(url: str, concurrency: int, requests: int) -> float:
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    return await _httpx(url, concurrency, requests, AiohttpTransport(limits=limits))


async def _aiohttp(url: str, concurrency: int, requests: int) -> float:
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as r:
                await r.read()
                r.raise_for_status()

        await _drive(post, concurrency, min(200, requests))
        return await _drive(post, concurrency, requests)


def _clients() -> dict[str, Callable[[str, int, int], Awaitable[float]]]:
    clients: dict[str, Callable[[str, int, int], Awaitable[float]]] = {"httpx (own pool)": _httpx}
    try:
        import httpx_aiohttp  # noqa: F401

        clients["httpx + AiohttpTransport"] = _httpx_aiohttp
    except ImportError:
        pass
    clients["aiohttp"] = _aiohttp
    return clients


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aigc-gateway bench http-clients", description=__doc__)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-results", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    clients = _clients()
    upstream = run_in_background(process=True, chunks=1)
    try:
        url = f"{upstream.url}/v1/chat/completions"
        rates: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.rounds):  # rounds interleave clients, so drift hits them alike
            for level in levels:
                for name, run in clients.items():
                    rate = asyncio.run(run(url, level, args.requests))
                    rates.setdefault((name, level), []).append(rate)
    finally:
        upstream.stop()
    header = "| client | " + " | ".join(f"c={c} req/s" for c in levels) + " | vs httpx (c=16 or last) |"
    lines = [header, "|---|" + "---:|" * (len(levels) + 1)]
    ref_level = 16 if 16 in levels else levels[-1]
    ref = statistics.median(rates[("httpx (own pool)", ref_level)])
    for name in clients:
        medians = [statistics.median(rates[(name, c)]) for c in levels]
        ratio = statistics.median(rates[(name, ref_level)]) / ref
        lines.append(f"| {name} | " + " | ".join(f"{m:,.0f}" for m in medians) + f" | {ratio:.1f}x |")
    table = "\n".join(lines)
    print(table)
    if not args.no_results:
        md = (
            f"One client process posting non-streaming chat completions to the demo upstream (child "
            f"process, one worker), {args.requests} requests per level, median of {args.rounds} "
            "interleaved rounds. The proxy uses aiohttp directly for its upstream pool.\n\n" + table
        )
        given = sys.argv[1:] if argv is None else argv
        command = " ".join(["python -m benchmarks.http_clients", *given])
        update_section("http-clients", md, command, title="Upstream HTTP clients")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
