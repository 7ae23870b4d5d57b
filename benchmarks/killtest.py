"""Kill a real gateway under load and compare what the clients were answered with what it stored.

``python -m service serve`` runs in its own process group (with the built-in demo upstream in
the same process, or ``--workers N``); clients send requests with their own ``x-request-id``
and note each id whose response arrived complete; then the whole process group gets SIGKILL.
``recover`` replays what the dead gateway left in its spool (as the next start would) and
returns the request ids of the stored network logs. Used by the crash tests
(``tests/records/test_crash.py``) and by ``benchmarks.records`` for the loss window of the
``async`` durability mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent

# Routes the load can use: (path, body); the chat completion ones go through the proxy.
ROUTES: dict[str, tuple[str, bytes]] = {
    "chat": (
        "/v1/chat/completions",
        orjson.dumps({"model": "demo", "messages": [{"role": "user", "content": "介绍一下西湖"}]}),
    ),
    "chat-stream": (
        "/v1/chat/completions",
        orjson.dumps(
            {
                "model": "demo",
                "stream": True,
                "messages": [{"role": "user", "content": "介绍一下西湖"}],
            }
        ),
    ),
    "moderate": ("/moderate", orjson.dumps({"text": "我想去网上赌场玩"})),  # an incident too
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Gateway:
    """A ``python -m service serve`` process group on a loopback port."""

    proc: subprocess.Popen
    url: str
    log: Path

    def kill(self) -> None:
        """SIGKILL the whole process group (workers, master, demo upstream) and reap it."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """A clean stop (SIGTERM to the group), SIGKILL after 30 s."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()


def start_gateway(
    database: str,
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    workers: int = 1,
    timeout: float = 90.0,
) -> Gateway:
    """Start the gateway (demo upstream, the given records database) and wait for /readyz."""
    import httpx

    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = data_dir / f"gateway-{port}.log"
    cmd = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--database", database, "--workers", str(workers), "--log-level", "warning"]
    child_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AIGC_GATEWAY_DATA_DIR": str(data_dir),
        "AIGC_GATEWAY_ACCESS_LOG": "false",
        **(env or {}),
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches every process
        )
    gateway = Gateway(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited during start-up:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(gateway.url + "/readyz", timeout=1).status_code == 200:
                return gateway
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    gateway.kill()
    raise TimeoutError(f"gateway not ready in {timeout} s:\n{log.read_text()[-3000:]}")


@dataclass
class LoadResult:
    """What the clients saw: request id -> monotonic time its complete answer arrived."""

    answered: dict[str, float] = field(default_factory=dict)
    failed: int = 0  # errors and refusals (not answered)
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status of the refusals
    killed_at: float = 0.0
    started_at: float = 0.0

    def rate(self) -> float:
        """Answered requests per second before the kill."""
        span = self.killed_at - self.started_at
        return len(self.answered) / span if span > 0 else 0.0


@contextlib.asynccontextmanager
async def load(
    gateway: Gateway,
    *,
    prefix: str,
    routes: Sequence[str] = ("chat",),
    concurrency: int = 16,
) -> AsyncIterator[LoadResult]:
    """Closed-loop load on ``concurrency`` connections (cycling through ``routes``) while the
    block runs; the clients stop when it ends.

    An id counts as answered only when its status is 200 and the whole body arrived (also
    when it is read after a kill: the gateway sent it). Ids are ``<prefix>-<client>-<n>``:
    one client's requests follow each other.
    """
    import aiohttp

    result = LoadResult(started_at=time.monotonic())
    counter = itertools.count()
    stop = asyncio.Event()
    chosen = [ROUTES[r] for r in routes]

    async def client(session: aiohttp.ClientSession, number: int) -> None:
        while not stop.is_set():
            n = next(counter)
            path, body = chosen[n % len(chosen)]
            rid = f"{prefix}-{number}-{n}"
            try:
                async with session.post(
                    gateway.url + path,
                    data=body,
                    headers={"content-type": "application/json", "x-request-id": rid},
                ) as resp:
                    await resp.read()
                    if resp.status == 200:
                        result.answered[rid] = time.monotonic()
                    else:
                        result.failed += 1
                        result.statuses[resp.status] = result.statuses.get(resp.status, 0) + 1
            except (TimeoutError, aiohttp.ClientError, OSError):
                result.failed += 1
                if not stop.is_set():
                    await asyncio.sleep(0.01)

    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        tasks = [asyncio.create_task(client(session, i)) for i in range(concurrency)]
        try:
            yield result
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)


async def until_answered(result: LoadResult, count: int, timeout: float = 300.0) -> None:
    """Wait until ``count`` requests were answered."""
    deadline = time.monotonic() + timeout
    while len(result.answered) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(result.answered)} answers in {timeout} s")
        await asyncio.sleep(0.01)


async def load_and_kill(
    gateway: Gateway,
    *,
    prefix: str,
    routes: Sequence[str] = ("chat",),
    concurrency: int = 16,
    kill_after_answers: int = 300,
    kill_delay_s: float = 0.0,
) -> LoadResult:
    """Load the gateway; once ``kill_after_answers`` were answered, wait ``kill_delay_s`` and
    SIGKILL its process group (under load: requests are in flight at every stage)."""
    async with load(gateway, prefix=prefix, routes=routes, concurrency=concurrency) as result:
        await until_answered(result, kill_after_answers)
        if kill_delay_s:
            await asyncio.sleep(kill_delay_s)
        result.killed_at = time.monotonic()
        await asyncio.to_thread(gateway.kill)
    return result


async def stored_request_ids(settings: Any) -> set[str]:
    """Replay what a dead gateway left in the spool (what its next start does), then return
    the request ids of every stored network log. ``settings``: the gateway's settings."""
    from service.records import build_recorder

    recorder = build_recorder(settings)
    await recorder.start()
    await recorder.flush()
    if recorder.writer.degraded:
        await recorder.stop()
        raise RuntimeError(f"records database unreachable: {recorder.writer.reason}")
    rows = await recorder.store.backend.fetch(
        "SELECT request_id FROM records WHERE kind = 'network_log'"
    )
    await recorder.stop()
    return {str(r[0]) for r in rows}


def settings_for(database: str, data_dir: Path, **records: Any) -> Any:
    """Service settings pointing at ``database`` with the gateway's data directory."""
    from service.config import Settings

    return Settings(database=database, data_dir=data_dir, records=records or {})
