"""Records writer throughput: records/s the background writer sustains on SQLite and PostgreSQL.

A producer submits a mix of record events (80% network logs, 15% incidents, 5% label
deliveries; users drawn from a fixed pool, some blocks so the sanction ladder runs) as fast as
the event loop lets it, while the writer batches them into the database; the clock stops when
``stop()`` has drained the queue. Correctness inside the run: every record is in the database
and the hash chains verify. Also reported: the cost of one ``submit()`` (the request's share).
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

from service.records import IncidentEvent, LabelDeliveryEvent, NetworkLogEvent, RecordSettings
from service.records.backends import Backend, PostgresBackend, SqliteBackend
from service.records.recorder import Recorder

DEFAULT_PG = os.environ.get(
    "AIGC_GATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


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


async def _one(backend: Backend, events: list[Any], batch: int, tmp: Path) -> dict[str, float]:
    settings = RecordSettings(queue_size=len(events) + 10, batch_size=batch)
    rec = Recorder(backend, settings, spool_dir=tmp / "spool", allowlist_dir=tmp / "allow")
    await rec.start()
    t0 = time.perf_counter()
    submit_s = 0.0
    for start in range(0, len(events), 1000):
        s0 = time.perf_counter()
        for event in events[start : start + 1000]:
            rec.submit(event)
        submit_s += time.perf_counter() - s0
        await asyncio.sleep(0)  # let the writer run alongside, as under request load
    await rec.stop()
    elapsed = time.perf_counter() - t0
    stats = rec.stats()
    await rec.store.open()
    checked, problems = await rec.store.verify()
    await rec.store.close()
    stored = sum(v for k, v in stats["written"].items() if k != "sanction")
    if stored != len(events) or problems or stats["spooled"] or stats["dropped"]:
        raise SystemExit(f"records benchmark: lost or broken records: {stats} {problems[:3]}")
    return {
        "seconds": elapsed,
        "records_per_s": len(events) / elapsed,
        "submit_us": submit_s / len(events) * 1e6,
        "checked": checked,
    }


async def _pg_schema(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run(n: int, repeat: int, batch: int, pg_dsn: str | None) -> tuple[str, list[dict]]:
    events = _events(n)
    rows: list[dict] = []
    targets = ["sqlite"] + (["postgresql"] if pg_dsn else [])
    for target in targets:
        runs = []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                tmp_path = Path(tmp)
                if target == "sqlite":
                    runs.append(
                        await _one(SqliteBackend(tmp_path / "b.sqlite3"), events, batch, tmp_path)
                    )
                    continue
                schema = f"records_bench_{uuid.uuid4().hex[:10]}"
                await _pg_schema(pg_dsn, f'CREATE SCHEMA "{schema}"')
                try:
                    runs.append(
                        await _one(PostgresBackend(pg_dsn, schema=schema), events, batch, tmp_path)
                    )
                finally:
                    await _pg_schema(pg_dsn, f'DROP SCHEMA "{schema}" CASCADE')
        rows.append(
            {
                "backend": target,
                "records": n,
                "batch": batch,
                "records_per_s": statistics.median(r["records_per_s"] for r in runs),
                "submit_us": statistics.median(r["submit_us"] for r in runs),
                "runs": runs,
            }
        )
    lines = [
        "| backend | records | batch | records/s (median) | submit() µs/record | vs. SQLite |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    base = rows[0]["records_per_s"]
    for row in rows:
        lines.append(
            f"| {row['backend']} | {row['records']} | {row['batch']} | "
            f"{row['records_per_s']:,.0f} | {row['submit_us']:.2f} | "
            f"{row['records_per_s'] / base:.2f}× |"
        )
    lines.append("")
    lines.append(
        f"Median of {repeat} runs; each run writes every record (hash-chained, one transaction "
        "per batch, sanction counters updated) and checks the count and the chains afterwards. "
        "PostgreSQL is the local server over loopback TCP. One process, one writer: several "
        "workers share the chain lock, so this is also the per-database ceiling for appends."
    )
    return "\n".join(lines) + "\n", rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.records", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--postgres", default=DEFAULT_PG, help="DSN, or 'none' to skip")
    parser.add_argument("--quick", action="store_true", help="5,000 records, one run")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    args = parser.parse_args(argv)
    n, repeat = (5000, 1) if args.quick else (args.records, max(1, args.repeat))
    pg = None if args.postgres == "none" else args.postgres
    markdown, rows = asyncio.run(run(n, repeat, args.batch, pg))
    print(markdown)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    if not args.no_write:
        given = list(argv) if argv is not None else sys.argv[1:]
        command = "python -m benchmarks.records" + "".join(f" {a}" for a in given)
        from benchmarks.results import update_section

        update_section("records", markdown, command, title="Records writer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
