"""Complaint desk with a fake clock: deadlines, overdue count, allow-list into the lexicon."""

from __future__ import annotations

from pathlib import Path

import pytest

import lexicons
from lexicons import load_lexicon
from service.errors import NotFound, ValidationFailed
from tests.records.conftest import make_recorder


async def test_overdue_after_published_deadline(backend_factory, tmp_path, clock):
    rec = make_recorder(backend_factory(), tmp_path, clock, complaint_feedback_days=15)
    await rec.start()
    first = await rec.file_complaint({"description": "a"}, tenant_id="t1")
    clock.advance(days=10)
    second = await rec.file_complaint({"description": "b", "kind": "report"}, tenant_id="t1")
    assert await rec.overdue_complaints() == 0
    clock.advance(days=5, seconds=1)  # first is past its 15 days, second is not
    assert await rec.overdue_complaints() == 1
    assert [c["id"] for c in await rec.list_complaints(overdue=True)] == [first["id"]]
    await rec.resolve_complaint(first["id"], outcome="handled late", upheld=False)
    assert await rec.overdue_complaints() == 0
    assert [c["id"] for c in await rec.list_complaints(status="open")] == [second["id"]]
    with pytest.raises(NotFound):
        await rec.get_complaint("C-0000000000000000")
    with pytest.raises(ValidationFailed):
        await rec.list_complaints(status="weird")
    await rec.stop()


async def test_upheld_false_block_reaches_the_tenant_lexicon(tmp_path, clock):
    from service.records.backends import SqliteBackend

    base = Path(lexicons.__file__).parent / "data"
    term = next(
        line.split("\t")[0]
        for line in (base / "a1.other_prohibited.gambling.txt").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    )
    phrase = f"{term}历史研究"
    text = f"关于{phrase}的论文"
    assert load_lexicon([base]).scan(text)  # blocked today

    rec = make_recorder(SqliteBackend(tmp_path / "db.sqlite3"), tmp_path, clock)
    await rec.start()
    ticket = await rec.file_complaint(
        {"kind": "false_block", "description": "学术讨论被拦截"}, tenant_id="acme"
    )
    with pytest.raises(ValidationFailed):  # one printable line only
        await rec.resolve_complaint(ticket["id"], outcome="ok", upheld=True, allow_phrase="a\nb")
    await rec.resolve_complaint(ticket["id"], outcome="误拦截", upheld=True, allow_phrase=phrase)
    await rec.stop()

    tenant_dir = tmp_path / "allow" / "acme"
    assert load_lexicon([base, tenant_dir]).scan(text) == []  # the next version lets it through
    assert load_lexicon([base]).scan(text)  # other tenants unchanged


async def test_tenant_id_cannot_escape_allowlist_dir(tmp_path, clock):
    from service.records.backends import SqliteBackend

    rec = make_recorder(SqliteBackend(tmp_path / "db.sqlite3"), tmp_path, clock)
    await rec.start()
    ticket = await rec.file_complaint(
        {"kind": "false_block", "description": "x"}, tenant_id="../../etc"
    )
    with pytest.raises(ValidationFailed):
        await rec.resolve_complaint(ticket["id"], outcome="o", upheld=True, allow_phrase="p")
    assert (await rec.get_complaint(ticket["id"]))["status"] == "open"  # nothing half-done
    assert not (tmp_path / "etc").exists()
    await rec.stop()
