"""Append, hash chain and tamper detection, retention purge, restriction, exports (both DBs)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

from service.records import IncidentEvent, LabelDeliveryEvent, NetworkLogEvent
from service.records.migrations import MIGRATIONS, RECORD_KINDS
from service.records.store import RecordFilter
from tests.records.conftest import FakeClock, make_recorder


def _log(i: int, clock: FakeClock, user: str = "u1", tenant: str = "t1") -> NetworkLogEvent:
    return NetworkLogEvent(
        f"req-{i}", tenant, user, "/v1/chat/completions", "m", "10.0.0.1", 200, 3.5, time=clock()
    )


def _incident(i: int, clock: FakeClock, cats: list[str], action: str = "mask") -> IncidentEvent:
    return IncidentEvent(
        f"req-{i}",
        "t1",
        "u2",
        "output",
        "/v1/chat/completions",
        action,
        cats,
        ["词"],
        [(4, 5)],
        "sha256:0123456789abcdef",
        stream_position=17,
        excerpt="前文*后文",
        content_id=f"cid-{i}",
        time=clock(),
    )


async def _filled(backend_factory, tmp_path: Path, clock: FakeClock, n: int = 6):
    rec = make_recorder(backend_factory(), tmp_path, clock)
    await rec.start()
    for i in range(n):
        rec.submit(_log(i, clock))
        rec.submit(_incident(i, clock, ["a1.terrorism_extremism", "b2.custom"]))
        clock.advance(hours=1)
    rec.submit(
        LabelDeliveryEvent(
            "req-x",
            "t1",
            "u3",
            "cid-x",
            "image/png",
            explicit=False,
            implicit=True,
            recipient="acct-9",
            agreement_version="2026-01",
            time=clock(),
        )
    )
    await rec.flush()
    return rec


async def test_verify_clean_chain(backend_factory, tmp_path, clock):
    rec = await _filled(backend_factory, tmp_path, clock)
    checked, problems = await rec.verify()
    assert (checked, problems) == (13, [])
    await rec.stop()


async def _tamper(rec, sql: str, *args) -> None:
    async with rec.store.backend.transaction() as tx:
        await tx.execute(sql, *args)


async def test_tamper_body_detected(backend_factory, tmp_path, clock):
    rec = await _filled(backend_factory, tmp_path, clock)
    rows = await rec.store.backend.fetch(
        "SELECT seq, body FROM records WHERE kind = 'incident' ORDER BY seq LIMIT 1 OFFSET 2"
    )
    seq, body = rows[0]
    await _tamper(
        rec, "UPDATE records SET body = ? WHERE seq = ?", body.replace('"mask"', '"flag"'), seq
    )
    _, problems = await rec.verify()
    assert [(p.kind, p.seq) for p in problems] == [("incident", seq)] * 2  # hash + column
    assert "altered" in str(problems[0]) or "altered" in str(problems[1])
    await rec.stop()


async def test_deleted_middle_record_detected(backend_factory, tmp_path, clock):
    rec = await _filled(backend_factory, tmp_path, clock)
    rows = await rec.store.backend.fetch(
        "SELECT seq FROM records WHERE kind = 'network_log' ORDER BY seq"
    )
    await _tamper(rec, "DELETE FROM records WHERE seq = ?", rows[3][0])
    _, problems = await rec.verify()
    assert len(problems) == 1 and problems[0].seq == rows[4][0]
    assert "link broken" in problems[0].reason
    await rec.stop()


async def test_rewritten_hashes_and_dropped_tail_detected(backend_factory, tmp_path, clock):
    rec = await _filled(backend_factory, tmp_path, clock)
    # The attacker drops the last record: every remaining link is intact, the head is not.
    rows = await rec.store.backend.fetch("SELECT max(seq) FROM records WHERE kind = 'network_log'")
    await _tamper(rec, "DELETE FROM records WHERE seq = ?", rows[0][0])
    _, problems = await rec.verify()
    assert [(p.kind, p.seq) for p in problems] == [("network_log", None)]
    # Editing an indexed column alone (not the body) is caught too.
    await _tamper(rec, "UPDATE records SET tenant_id = 'other' WHERE kind = 'incident'")
    _, problems = await rec.verify()
    assert sum("columns differ" in p.reason for p in problems) == 6
    await rec.stop()


async def test_purge_with_fake_clock_keeps_chain_verifiable(backend_factory, tmp_path, clock):
    rec = await _filled(backend_factory, tmp_path, clock)
    start = clock.now - timedelta(hours=6)
    # 183 days after the first record: nothing may go yet (184-day default).
    assert sum((await rec.purge(start + timedelta(days=183, hours=23))).values()) == 0
    # Just past 184 days from the third hour: the first three of each hourly class go.
    result = await rec.purge(start + timedelta(days=184, hours=2, minutes=30))
    assert result["network_log"] == 3 and result["incident"] == 3
    assert result["label_delivery"] == 0
    checked, problems = await rec.verify()
    assert problems == [] and checked == 13 - 6
    # New records still chain onto the surviving ones.
    rec.submit(_log(99, clock))
    await rec.flush()
    assert (await rec.verify())[1] == []
    await rec.stop()


async def test_per_class_retention(backend_factory, tmp_path, clock):
    rec = await _filled(backend_factory, tmp_path, clock)
    rec.settings.incident_retention_days = 400
    result = await rec.purge(clock.now + timedelta(days=200))
    assert result["network_log"] == 6 and result["incident"] == 0
    assert result["label_delivery"] == 1
    await rec.stop()


async def test_deletion_request_restricts_then_expiry_deletes(backend_factory, tmp_path, clock):
    rec = await _filled(backend_factory, tmp_path, clock)
    assert await rec.restrict_user("t1", "u1") == 6
    flt = RecordFilter(kinds=("network_log",))
    exported = [line async for line in rec.export(flt, "jsonl")]
    assert exported == []  # restricted: kept, but no longer processed
    everything = RecordFilter(kinds=("network_log",), include_restricted=True)
    kept = [json.loads(line) async for line in rec.export(everything, "jsonl")]
    assert len(kept) == 6 and all(r["restricted"] for r in kept)
    assert (await rec.verify())[1] == []  # restriction does not break the chain
    await rec.purge(clock.now + timedelta(days=185))
    assert [line async for line in rec.export(everything, "jsonl")] == []
    await rec.stop()


async def test_csv_export_filters_and_reads_back(backend_factory, tmp_path, clock):
    rec = await _filled(backend_factory, tmp_path, clock)
    rec.submit(_incident(50, clock, ["a2.other"], action="block"))
    await rec.flush()
    text = "".join([c async for c in rec.export(RecordFilter(category="a1"), "csv")])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 6 and {r["kind"] for r in rows} == {"incident"}
    assert json.loads(rows[0]["categories"]) == ["a1.terrorism_extremism", "b2.custom"]
    assert json.loads(rows[0]["offsets"]) == [[4, 5]] and rows[0]["excerpt"] == "前文*后文"
    since = clock.now - timedelta(hours=2, minutes=30)
    text = "".join(
        [c async for c in rec.export(RecordFilter(kinds=("network_log",), since=since), "csv")]
    )
    assert [r["request_id"] for r in csv.DictReader(io.StringIO(text))] == ["req-4", "req-5"]
    assert [c async for c in rec.export(RecordFilter(tenant_id="nobody"), "jsonl")] == []
    mine = [json.loads(x) async for x in rec.export(RecordFilter(user_id="u3"), "jsonl")]
    assert [(r["kind"], r["recipient"]) for r in mine] == [("label_delivery", "acct-9")]
    await rec.stop()


async def test_summary_counts_by_day_category_action(backend_factory, tmp_path, clock):
    rec = await _filled(backend_factory, tmp_path, clock)
    report = await rec.summary(RecordFilter())
    [day] = report["days"]
    assert day["day"] == "2026-01-10"
    assert day["incidents"] == {"a1.terrorism_extremism": {"mask": 6}, "b2.custom": {"mask": 6}}
    assert day["actions"]["label_delivery"] == {"unlabeled": 1}
    assert day["records"] == {"network_log": 6, "incident": 6, "label_delivery": 1}
    await rec.stop()


async def test_migrations_idempotent_and_versioned(backend_factory, tmp_path):
    first = make_recorder(backend_factory(), tmp_path)
    await first.start()
    second = make_recorder(backend_factory(), tmp_path)
    await second.start()  # a second worker at start applies nothing twice
    rows = await second.store.backend.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert rows == [(v,) for v, _, _ in MIGRATIONS]
    kinds = await second.store.backend.fetch("SELECT kind FROM chain_heads ORDER BY kind")
    assert sorted(k for (k,) in kinds) == sorted(RECORD_KINDS)
    await first.stop()
    await second.stop()
