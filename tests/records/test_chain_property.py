"""Property: any single alteration of a stored chain is reported by verify (SQLite file)."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.records import NetworkLogEvent
from service.records.backends import SqliteBackend
from tests.records.conftest import make_recorder

N = 12


def _build(tmp: Path) -> Path:
    async def run() -> None:
        rec = make_recorder(SqliteBackend(tmp / "db.sqlite3"), tmp)
        await rec.start()
        for i in range(N):
            rec.submit(NetworkLogEvent(f"r{i}", "t", f"u{i}", "/x", "m", None, 200, float(i)))
        await rec.stop()

    asyncio.run(run())
    return tmp / "db.sqlite3"


def _verify(db: Path) -> list:
    async def run() -> list:
        backend = SqliteBackend(db)
        rec = make_recorder(backend, db.parent)
        await rec.store.open()
        try:
            return (await rec.verify())[1]
        finally:
            await rec.store.close()

    return asyncio.run(run())


mutation = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, N - 1), st.integers(0, 200)),
    st.tuples(st.just("delete"), st.integers(0, N - 1), st.just(0)),
    st.tuples(st.just("swap"), st.integers(0, N - 2), st.just(0)),
    st.tuples(st.just("rehash"), st.integers(0, N - 1), st.integers(0, 200)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutation)
def test_any_single_alteration_is_detected(change):
    action, index, pos = change
    with tempfile.TemporaryDirectory() as tmp:
        db = _build(Path(tmp))
        assert _verify(db) == []
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT seq, body FROM records ORDER BY seq").fetchall()
            seq, body = rows[index]
            if action in ("edit", "rehash"):
                at = pos % len(body)
                new = body[:at] + ("X" if body[at] != "X" else "Y") + body[at + 1 :]
                conn.execute("UPDATE records SET body = ? WHERE seq = ?", (new, seq))
                if action == "rehash":  # the attacker recomputes this record's hash too
                    import hashlib

                    prev = conn.execute(
                        "SELECT prev_hash FROM records WHERE seq = ?", (seq,)
                    ).fetchone()[0]
                    digest = hashlib.sha256(f"{prev}\n{new}".encode()).hexdigest()
                    conn.execute("UPDATE records SET hash = ? WHERE seq = ?", (digest, seq))
            elif action == "delete":
                conn.execute("DELETE FROM records WHERE seq = ?", (seq,))
            else:
                other_seq, other_body = rows[index + 1]
                conn.execute("UPDATE records SET body = ? WHERE seq = ?", (other_body, seq))
                conn.execute("UPDATE records SET body = ? WHERE seq = ?", (body, other_seq))
        assert _verify(db) != []
