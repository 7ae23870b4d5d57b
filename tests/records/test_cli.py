"""``aigc-gateway records verify|export|summary|purge|restrict`` on a real SQLite file."""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
from datetime import UTC, datetime

from service.cli import main
from service.records import IncidentEvent, NetworkLogEvent
from service.records.backends import SqliteBackend
from tests.records.conftest import make_recorder

T = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def _fill(tmp_path) -> str:
    db = tmp_path / "db.sqlite3"

    async def run() -> None:
        rec = make_recorder(SqliteBackend(db), tmp_path)
        await rec.start()
        for i in range(4):
            rec.submit(NetworkLogEvent(f"r{i}", "t1", "u1", "/v1/x", "m", None, 200, 2.0, time=T))
            rec.submit(
                IncidentEvent(
                    f"r{i}",
                    "t1",
                    "u1",
                    "output",
                    "/v1/x",
                    "mask",
                    ["a3.discrimination"],
                    ["x"],
                    [(1, 2)],
                    "v",
                    time=T,
                )
            )
        await rec.stop()

    asyncio.run(run())
    return f"sqlite:///{db}"


def test_verify_export_summary_purge(tmp_path, capsys):
    url = _fill(tmp_path)
    assert main(["records", "--database", url, "verify"]) == 0
    assert main(["records", "verify", "--database", url]) == 0  # either position
    out = tmp_path / "out.csv"
    assert (
        main(
            [
                "records",
                "--database",
                url,
                "export",
                "--format",
                "csv",
                "--kind",
                "incident",
                "--since",
                "2026-02-01",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 4 and rows[0]["categories"] == '["a3.discrimination"]'
    capsys.readouterr()
    assert main(["records", "--database", url, "summary", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["days"][0]["incidents"] == {"a3.discrimination": {"mask": 4}}
    assert main(["records", "--database", url, "summary"]) == 0
    assert "| 2026-02-01 | incident | a3.discrimination | mask | 4 |" in capsys.readouterr().out
    assert main(["records", "--database", url, "restrict", "--tenant", "t1", "--user", "u1"]) == 0
    assert "8 records restricted" in capsys.readouterr().out
    assert main(["records", "--database", url, "purge", "--now", "2026-08-01T00:00:00"]) == 0
    assert json.loads(capsys.readouterr().out)["incident"] == 0  # 181 days: too early
    assert main(["records", "--database", url, "purge", "--now", "2026-08-05T00:00:00"]) == 0
    assert json.loads(capsys.readouterr().out)["incident"] == 4
    assert main(["records", "--database", url, "verify"]) == 0


def test_verify_detects_tampering_with_an_independent_writer(tmp_path, capsys):
    url = _fill(tmp_path)
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        conn.execute(
            "UPDATE records SET body = replace(body, '\"mask\"', '\"allow\"') "
            "WHERE seq = (SELECT min(seq) FROM records WHERE kind = 'incident')"
        )
    assert main(["records", "--database", url, "verify"]) == 1
    assert "TAMPERED incident" in capsys.readouterr().out


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["records", "--database", "mysql://x", "verify"]) == 2
    assert "unsupported database URL" in capsys.readouterr().err
    assert main(["records", "--database", "postgresql://u@127.0.0.1:1/x", "verify"]) == 2
    url = _fill(tmp_path)
    assert main(["records", "--database", url, "export", "--kind", "bogus"]) == 2
    assert main(["records", "--database", url, "export", "--since", "yesterday"]) == 2


def test_read_commands_on_a_missing_sqlite_database_exit_2_and_create_nothing(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'nowhere' / 'db.sqlite3'}"
    for action in (
        ["verify"],
        ["export"],
        ["summary"],
        ["purge"],
        ["restrict", "--tenant", "t", "--user", "u"],
    ):
        assert main(["records", "--database", url, *action]) == 2
        err = capsys.readouterr().err
        assert "no records database at" in err and "nothing was created" in err
    assert list(tmp_path.iterdir()) == []


def test_read_commands_on_a_wrong_postgres_url_exit_2(postgres_dsn, pg_database, capsys):
    import asyncpg

    missing = pg_database.rsplit("/", 1)[0] + "/no_such_database_here"
    assert main(["records", "--database", missing, "verify"]) == 2
    assert 'database "no_such_database_here" does not exist' in capsys.readouterr().err
    # a database that exists but holds no records: reported, and still holds nothing
    for action in ("verify", "export", "summary", "purge"):
        assert main(["records", "--database", pg_database, action]) == 2
        assert "has no records schema" in capsys.readouterr().err

    async def tables() -> list:
        conn = await asyncpg.connect(pg_database)
        try:
            return await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema')"
            )
        finally:
            await conn.close()

    assert asyncio.run(tables()) == []


def test_read_commands_apply_no_migration(tmp_path, capsys):
    """An older schema stays as it is: verify/export/summary open the database read-only."""
    url = _fill(tmp_path)
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:  # as if written by version 1
        conn.execute("DELETE FROM schema_migrations WHERE version > 1")
        conn.execute("DELETE FROM chain_heads WHERE kind = 'admin_action'")
        conn.execute("DROP TABLE rate_windows")
    for action in ("verify", "export", "summary"):
        assert main(["records", "--database", url, action]) == 0
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (1,)
    assert main(["records", "--database", url, "purge"]) == 0  # a write command migrates
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] > 1
