"""Records: what durability costs. Writer records/s, gateway req/s and the async loss window,
``sync`` and ``async`` durability side by side, SQLite and PostgreSQL, in one run.

1. **Writer**: 16 concurrent producers call ``await record(...)`` (a mix of 80% network logs,
   15% incidents, 5% label deliveries, as a request would). ``sync``: each call returns once its
   records are committed (group commit); ``async``: calls only queue, and the clock stops when
   the queue is drained into the database. Every record is checked to be stored, chains verify.
2. **Gateway**: ``python -m uvicorn service.app:app_from_env`` (one worker, demo upstream in its own
   process), wrk at c=16 on ``POST /v1/chat/completions`` (non-streaming) and ``POST /moderate``;
   the ``sync``/``async`` runs alternate, medians of ``--repeat`` runs; also the gateway process's
   CPU time per request (user+system, all threads), steadier than req/s on a shared machine.
3. **Loss window**: the gateway under load at c=16 gets SIGKILL; answered requests without a
   stored record are counted (``benchmarks.killtest``). The window is the age, at the kill, of
   the oldest answered request that was lost.

The fsync latency of the temp directory's disk is printed with the tables: a ``sync`` request
waits for about one and a half commits, so on a slow disk it costs more.

    python -m benchmarks.records [--quick] [--duration 5] [--repeat 3] [--postgres DSN|none]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from service.records import IncidentEvent, LabelDeliveryEvent, NetworkLogEvent, RecordSettings
from service.records.backends import Backend, PostgresBackend, SqliteBackend
from service.records.recorder import Recorder

DEFAULT_PG = os.environ.get(
    "AIGC_GATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MODES = ("async", "sync")
CONCURRENCY = 16


def _events(n: int, seed: int = 7) -> list[Any]:
    rnd = random.Random(seed)
    out: list[Any] = []
    for i in range(n):
        user = f"user-{rnd.randrange(500)}"
        r = rnd.random()
        if r < 0.80:
            out.append(
                NetworkLogEvent(
                    f"req-{i}",
                    "t1",
                    user,
                    "/v1/chat/completions",
                    "gpt-x",
                    "10.1.2.3",
                    200,
                    rnd.random() * 50,
                )
            )
        elif r < 0.95:
            action = "block" if rnd.random() < 0.2 else "mask"
            out.append(
                IncidentEvent(
                    f"req-{i}",
                    "t1",
                    user,
                    "input",
                    "/v1/chat/completions",
                    action,
                    ["a1.terrorism_extremism"],
                    ["词"],
                    [(3, 4)],
                    "sha256:0123456789abcdef",
                    excerpt="前*后",
                )
            )
        else:
            out.append(
                LabelDeliveryEvent(
                    f"req-{i}", "t1", user, f"cid-{i}", "text/plain", explicit=True, implicit=True
                )
            )
    return out


# --------------------------------------------------------------------------- 1. writer


async def _writer_run(backend: Backend, events: list[Any], mode: str, tmp: Path) -> dict:
    settings = RecordSettings(durability=mode, queue_size=len(events) + 10, anchor_interval_s=0)
    rec = Recorder(backend, settings, spool_dir=tmp / "spool", allowlist_dir=tmp / "allow")
    await rec.start()
    share = [events[i::CONCURRENCY] for i in range(CONCURRENCY)]

    async def producer(mine: list[Any]) -> None:
        for event in mine:
            await rec.record(event)
            await asyncio.sleep(0)  # a request does other work between its records

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(producer(m) for m in share))
    await rec.flush()  # async: the clock runs until the queue is in the database
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stats = rec.stats()
    checked, problems = await rec.store.verify()
    await rec.stop()
    stored = sum(v for k, v in stats["written"].items() if k != "sanction")
    if stored != len(events) or problems or stats["spooled"] or stats["dropped"]:
        raise SystemExit(f"records benchmark: lost or broken records: {stats} {problems[:3]}")
    return {
        "records_per_s": len(events) / elapsed,
        "cpu_us": cpu / len(events) * 1e6,
        "checked": checked,
    }


async def _pg_admin(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def writer_table(n: int, repeat: int, pg: str | None) -> tuple[str, list[dict]]:
    events = _events(n)
    rows = []
    for target in ["sqlite"] + (["postgresql"] if pg else []):
        runs: dict[str, list[dict]] = {m: [] for m in MODES}
        for _ in range(repeat):
            for mode in MODES:
                with tempfile.TemporaryDirectory() as tmp:
                    tmp_path = Path(tmp)
                    durable = mode == "sync"
                    if target == "sqlite":
                        backend: Backend = SqliteBackend(tmp_path / "b.sqlite3", durable=durable)
                        runs[mode].append(await _writer_run(backend, events, mode, tmp_path))
                        continue
                    assert pg is not None
                    schema = f"records_bench_{uuid.uuid4().hex[:10]}"
                    await _pg_admin(pg, f'CREATE SCHEMA "{schema}"')
                    try:
                        backend = PostgresBackend(pg, schema=schema, durable=durable)
                        runs[mode].append(await _writer_run(backend, events, mode, tmp_path))
                    finally:
                        await _pg_admin(pg, f'DROP SCHEMA "{schema}" CASCADE')
        for mode in MODES:
            rows.append(
                {
                    "backend": target,
                    "mode": mode,
                    "records_per_s": statistics.median(r["records_per_s"] for r in runs[mode]),
                    "cpu_us": statistics.median(r["cpu_us"] for r in runs[mode]),
                    "runs": runs[mode],
                }
            )
    lines = [
        f"**Writer**: {n:,} records from {CONCURRENCY} concurrent producers, median of {repeat}.",
        "",
        "| backend | durability | records/s | CPU µs/record | sync vs async |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        base = next(
            r["records_per_s"]
            for r in rows
            if r["backend"] == row["backend"] and r["mode"] == "async"
        )
        lines.append(
            f"| {row['backend']} | {row['mode']} | {row['records_per_s']:,.0f} | "
            f"{row['cpu_us']:.0f} | {row['records_per_s'] / base:.2f}× |"
        )
    return "\n".join(lines) + "\n", rows


# --------------------------------------------------------------------------- 2. gateway


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _database_url(target: str, tmp: Path, pg: str | None, name: str) -> str:
    if target == "sqlite":
        return f"sqlite:///{tmp / name / 'records.sqlite3'}"
    assert pg is not None
    return urlunsplit(urlsplit(pg)._replace(path=f"/{name}"))


def gateway_table(
    pg: str | None, duration: float, repeat: int, tmp: Path
) -> tuple[str, list[dict]]:
    import orjson

    from benchmarks.gateway import BODY, _free_port, _stop, _uvicorn, _wrk
    from service.config import DEMO_PRODUCER_CODE
    from service.demo_upstream import run_in_background

    routes = {
        "/v1/chat/completions": orjson.dumps(BODY),
        "/moderate": orjson.dumps({"text": "请介绍一下杭州的西湖和它的历史。"}),
    }
    upstream = run_in_background(process=True, chunks=20)
    figures: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    try:
        for target in ["sqlite"] + (["postgresql"] if pg else []):
            for round_no in range(repeat):
                for mode in MODES if round_no % 2 == 0 else MODES[::-1]:
                    name = f"records_bench_{uuid.uuid4().hex[:10]}"
                    if target == "postgresql":
                        asyncio.run(_pg_admin(pg, f'CREATE DATABASE "{name}"'))
                    port = _free_port()
                    env = {
                        "AIGC_GATEWAY_UPSTREAM": upstream.url,
                        "AIGC_GATEWAY_DATA_DIR": str(tmp / name),
                        "AIGC_GATEWAY_DATABASE": _database_url(target, tmp, pg, name),
                        "AIGC_GATEWAY_ACCESS_LOG": "false",
                        "AIGC_GATEWAY_LOG_LEVEL": "warning",
                        "AIGC_GATEWAY_RECORDS__DURABILITY": mode,
                        "AIGC_GATEWAY_LABELS__PRODUCER_CODE": DEMO_PRODUCER_CODE,
                    }
                    proc = _uvicorn("service.app:app_from_env", port, env)
                    try:
                        for path, body in routes.items():
                            url = f"http://127.0.0.1:{port}{path}"
                            _wrk(url, body, CONCURRENCY, 1)  # warm-up
                            cpu0 = _cpu_seconds(proc.pid)
                            result = _wrk(url, body, CONCURRENCY, duration)
                            cpu = _cpu_seconds(proc.pid) - cpu0
                            done = max(int(result.get("requests", 0)), 1)
                            figures.setdefault((target, path, mode), []).append(
                                (float(result["rps"]), cpu / done * 1e6)
                            )
                            print(
                                f"  gateway {target:10s} {path:20s} {mode:5s} "
                                f"{result['rps']:>8,.0f} req/s",
                                file=sys.stderr,
                            )
                    finally:
                        _stop(proc)
                        if target == "postgresql":
                            asyncio.run(_pg_admin(pg, f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        upstream.stop()
    rows = []
    for (target, path, mode), runs in figures.items():
        rows.append(
            {
                "backend": target,
                "route": path,
                "mode": mode,
                "rps": statistics.median(r for r, _ in runs),
                "cpu_us": statistics.median(c for _, c in runs),
                "runs": runs,
            }
        )
    lines = [
        f"**Gateway** at c={CONCURRENCY} (wrk, {duration:g} s per run, median of {repeat}; "
        "one uvicorn worker; CPU = the gateway process, all threads, per request):",
        "",
        "| backend | route | async req/s | sync req/s | sync vs async | async CPU µs/req "
        "| sync CPU µs/req |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for target in dict.fromkeys(r["backend"] for r in rows):
        for path in routes:
            a = next(
                r for r in rows if (r["backend"], r["route"], r["mode"]) == (target, path, "async")
            )
            s = next(
                r for r in rows if (r["backend"], r["route"], r["mode"]) == (target, path, "sync")
            )
            lines.append(
                f"| {target} | `{path}` | {a['rps']:,.0f} | {s['rps']:,.0f} | "
                f"{s['rps'] / a['rps']:.2f}× | {a['cpu_us']:.0f} | {s['cpu_us']:.0f} |"
            )
    return "\n".join(lines) + "\n", rows


# --------------------------------------------------------------------------- 3. loss window


def loss_table(pg: str | None, kills: int, tmp: Path) -> tuple[str, list[dict]]:
    from benchmarks.killtest import load_and_kill, settings_for, start_gateway, stored_request_ids

    rows = []
    for target in ["sqlite"] + (["postgresql"] if pg else []):
        for mode in MODES:
            answered = lost = 0
            windows: list[float] = []
            rates: list[float] = []
            for kill in range(kills):
                name = f"records_bench_{uuid.uuid4().hex[:10]}"
                if target == "postgresql":
                    asyncio.run(_pg_admin(pg, f'CREATE DATABASE "{name}"'))
                database = _database_url(target, tmp, pg, name)
                try:
                    env = {"AIGC_GATEWAY_RECORDS__DURABILITY": mode}
                    gateway = start_gateway(database, tmp / name, env=env)
                    try:
                        result = asyncio.run(
                            load_and_kill(
                                gateway,
                                prefix=f"{mode}{kill}",
                                routes=("chat",),
                                concurrency=CONCURRENCY,
                                kill_after_answers=1000,
                                kill_delay_s=random.random() * 0.5,
                            )
                        )
                    finally:
                        gateway.kill()
                    stored = asyncio.run(stored_request_ids(settings_for(database, tmp / name)))
                finally:
                    if target == "postgresql":
                        asyncio.run(_pg_admin(pg, f'DROP DATABASE "{name}" WITH (FORCE)'))
                missing = [t for rid, t in result.answered.items() if rid not in stored]
                answered += len(result.answered)
                lost += len(missing)
                windows.append((result.killed_at - min(missing)) * 1000 if missing else 0.0)
                rates.append(result.rate())
            rows.append(
                {
                    "backend": target,
                    "mode": mode,
                    "kills": kills,
                    "answered": answered,
                    "lost": lost,
                    "window_ms_max": max(windows),
                    "window_ms_median": statistics.median(windows),
                    "rps": statistics.median(rates),
                }
            )
    lines = [
        f"**Kill -9 under load** (c={CONCURRENCY}, `POST /v1/chat/completions` through "
        f"`benchmarks.killtest`, {kills} kill(s) per row): answered requests without a record.",
        "",
        "| backend | durability | answered | lost | loss window ms (median / max) | req/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['backend']} | {row['mode']} | {row['answered']:,} | {row['lost']:,} | "
            f"{row['window_ms_median']:.0f} / {row['window_ms_max']:.0f} | {row['rps']:,.0f} |"
        )
    return "\n".join(lines) + "\n", rows


# --------------------------------------------------------------------------- main


def fsync_ms(directory: Path, n: int = 200) -> float:
    """Median latency of append + fsync of 300 bytes in ``directory`` (ms)."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 300)
            os.fsync(fd)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.records", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, help="writer section size (20000)")
    parser.add_argument("--repeat", type=int, help="runs per figure (3)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (5)")
    parser.add_argument("--kills", type=int, help="kills per loss-window row (3)")
    parser.add_argument("--postgres", default=DEFAULT_PG, help="DSN, or 'none' to skip")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, one run each (explicit flags win)"
    )
    parser.add_argument(
        "--only", choices=("writer", "gateway", "loss"), action="append", help="sections to run"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    args = parser.parse_args(argv)
    sizes = (3000, 1, 2.0, 1) if args.quick else (20_000, 3, 5.0, 3)
    for name, default in zip(("records", "repeat", "duration", "kills"), sizes, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    pg = None if args.postgres == "none" else args.postgres
    sections = args.only or ["writer", "gateway", "loss"]
    parts, raw = [], {}
    with tempfile.TemporaryDirectory(prefix="aigc-records-bench-") as tmp:
        tmp_path = Path(tmp)
        fsync = fsync_ms(tmp_path)
        if "writer" in sections:
            md, raw["writer"] = asyncio.run(writer_table(args.records, args.repeat, pg))
            parts.append(md)
        if "gateway" in sections:
            md, raw["gateway"] = gateway_table(pg, args.duration, args.repeat, tmp_path)
            parts.append(md)
        if "loss" in sections:
            md, raw["loss"] = loss_table(pg, args.kills, tmp_path)
            parts.append(md)
    load = os.getloadavg()
    markdown = "\n".join(parts) + (
        f"\nfsync of 300 appended bytes on the benchmark's disk: median {fsync:.2f} ms. "
        "PostgreSQL is the local server over loopback TCP. `sync`: a request's records are "
        "committed (SQLite `synchronous = FULL`, PostgreSQL `synchronous_commit = on`) or "
        "fsynced to the spool before its answer ends; `async`: queued, written every 0.2 s or "
        f"500 records. Load average when the run ended: {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} on {os.cpu_count()} CPUs.\n"
    )
    print(markdown)
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2, default=str), encoding="utf-8")
    if not args.no_write:
        given = list(argv) if argv is not None else sys.argv[1:]
        command = "python -m benchmarks.records" + "".join(f" {a}" for a in given)
        from benchmarks.results import update_section

        update_section("records", markdown, command, title="Records: durability and its cost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
