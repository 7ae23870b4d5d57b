"""Cost of the connection limits: uvicorn's httptools protocol vs ``GatewayHttpProtocol``.

Both protocols serve the real gateway app (lifespan started, SQLite records, access log off)
in one process: each request is fed to the protocol as bytes off a socket would be, runs
through the parser callbacks and the ASGI cycle, and its response goes to an in-memory
transport. No sockets and no load generator, so the figure is the protocol's own CPU per
request, with the app's as the denominator (CPU time of the event-loop thread, which leaves
out the records writer's thread). Rounds alternate the two protocols; the table gives
medians and the ratio. Scenarios: GET /healthz and POST /moderate, on kept-alive
connections (100 requests each) and with a new connection per request.

    python -m benchmarks.server [--requests 4000] [--rounds 7] [--no-results]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REQUESTS = {
    "GET /healthz": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    b"User-Agent: python-httpx/0.28\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
    b"Connection: keep-alive\r\n\r\n",
    "POST /moderate": (
        lambda body: (
            b"POST /moderate HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
            b"User-Agent: python-httpx/0.28\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
            b"Connection: keep-alive\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
    )('{"text": "这是一条普通的用户消息，用来测量服务器协议的开销。"}'.encode()),
}
PER_CONNECTION = {"kept alive (100 per connection)": 100, "new connection each": 1}


class MemoryTransport(asyncio.Transport):
    """Enough of a socket transport for uvicorn's protocols; counts response bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )


async def drive(
    factory: Callable[..., asyncio.Protocol],
    config: Any,
    server_state: Any,
    app_state: dict[str, Any],
    request: bytes,
    count: int,
    per_connection: int,
) -> float:
    """Serve ``count`` requests; CPU seconds per request."""
    loop = asyncio.get_running_loop()
    start = time.thread_time()
    done = 0
    while done < count:
        protocol: Any = factory(
            config=config, server_state=server_state, app_state=app_state, _loop=loop
        )
        transport = MemoryTransport()
        protocol.connection_made(transport)
        for _ in range(per_connection):
            protocol.data_received(request)
            while server_state.tasks:
                await asyncio.sleep(0)
            done += 1
        protocol.connection_lost(None)
    assert transport.written > 0
    return (time.thread_time() - start) / count


async def measure(requests: int, rounds: int) -> list[dict[str, Any]]:
    import uvicorn
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    from uvicorn.server import ServerState

    from service.app import create_app
    from service.config import load_settings
    from service.limits import ConnectionGuard, ConnectionLimits

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            data_dir=Path(tmp), upstream="http://127.0.0.1:9", access_log=False, log_level="error"
        )
        config = uvicorn.Config(create_app(settings), lifespan="on", log_level="error")
        config.load()
        lifespan = LifespanOn(config)
        await lifespan.startup()
        gc.collect()
        gc.freeze()  # the app's start-up heap: no full collection walks it during the rounds
        factories = {
            "uvicorn httptools": HttpToolsProtocol,
            "GatewayHttpProtocol": ConnectionGuard(ConnectionLimits()).protocol_factory(),
        }
        rows = []
        try:
            for name, request in REQUESTS.items():
                for scenario, per_connection in PER_CONNECTION.items():
                    times: dict[str, list[float]] = {f: [] for f in factories}
                    for _ in range(rounds):
                        for label, factory in factories.items():
                            state = ServerState()
                            times[label].append(
                                await drive(
                                    factory,
                                    config,
                                    state,
                                    lifespan.state,
                                    request,
                                    requests,
                                    per_connection,
                                )
                            )
                    stock, gateway = (statistics.median(times[f]) for f in factories)
                    rows.append(
                        {
                            "request": name,
                            "connections": scenario,
                            "stock_us": stock * 1e6,
                            "gateway_us": gateway * 1e6,
                        }
                    )
        finally:
            await lifespan.shutdown()
    return rows


def markdown(rows: list[dict[str, Any]], requests: int, rounds: int) -> str:
    out = [
        "CPU per request of the HTTP server protocol plus the gateway app, in one process "
        f"(median of {rounds} alternating rounds of {requests:,} requests; in-memory transport, "
        "so no kernel or load generator time):",
        "",
        "| request | connections | uvicorn httptools µs | GatewayHttpProtocol µs | added µs | ratio |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        added = r["gateway_us"] - r["stock_us"]
        out.append(
            f"| {r['request']} | {r['connections']} | {r['stock_us']:.1f} | "
            f"{r['gateway_us']:.1f} | {added:+.1f} | {r['gateway_us'] / r['stock_us']:.3f} |"
        )
    out += [
        "",
        "GatewayHttpProtocol adds the head size and time limits, the connection cap and the "
        "lingering close (service/limits.py); `aigc-gateway serve` always uses it.",
    ]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.server``: run, print and record the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--requests", type=int, default=4000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per protocol")
    parser.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    import uvloop

    rows = uvloop.run(measure(args.requests, args.rounds))
    md = markdown(rows, args.requests, args.rounds)
    print(md)
    if not args.no_results:
        from benchmarks.results import update_section

        command = "python -m benchmarks.server " + shlex.join(
            list(argv if argv is not None else sys.argv[1:])
        )
        path = update_section("server", md, command.strip(), title="HTTP server protocol")
        print(f"updated {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
