"""The records contract the rest of the service codes against (docs/architecture.md)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

import service.records as records
from service.config import Settings
from service.records import (
    IncidentEvent,
    LabelDeliveryEvent,
    NetworkLogEvent,
    Recorder,
    build_recorder,
)
from service.records.settings import RecordSettings


def test_exports_and_event_shapes():
    assert sorted(records.__all__) == records.__all__
    event = NetworkLogEvent("r", "t", None, "/v1/x", None, None, 200, 1.0)
    assert event.decision == "allow" and event.time.tzinfo is UTC
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.status = 500  # type: ignore[misc]
    inc = IncidentEvent("r", "t", "u", "output", "/v1/x", "block", ["a1"], ["x"], [(0, 1)], "v")
    assert inc.stream_position is None and inc.excerpt == "" and inc.content_id is None
    lab = LabelDeliveryEvent("r", "t", "u", "cid", "image/png", explicit=False, implicit=True)
    assert lab.recipient is None and lab.agreement_version is None


def test_retention_cannot_go_below_six_months():
    with pytest.raises(ValueError):
        RecordSettings(retention_days=180)
    with pytest.raises(ValueError):
        RecordSettings(network_log_retention_days=183)
    s = RecordSettings(incident_retention_days=365)
    assert s.retention_for("incident") == 365 and s.retention_for("network_log") == 184


def test_settings_section_and_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AIGC_GATEWAY_RECORDS__SANCTION_DAILY", "7")
    settings = Settings(database=f"sqlite:///{tmp_path / 'x' / 'db.sqlite3'}", data_dir=tmp_path)
    assert settings.records.sanction_daily == 7
    rec = build_recorder(settings)
    assert isinstance(rec, Recorder)
    assert rec.writer.spool.root == tmp_path / "x" / "records-spool"
    assert rec.allowlist_dir == tmp_path / "allowlists"


async def test_submit_never_raises_and_odd_values_survive(tmp_path: Path):
    rec = build_recorder(
        Settings(database=f"sqlite:///{tmp_path / 'db.sqlite3'}", data_dir=tmp_path)
    )
    await rec.start()
    rec.submit(None)
    rec.submit("not an event")
    rec.submit(
        NetworkLogEvent("r", "t", "u", "/x", None, None, 200, 1.0, time=datetime(2026, 1, 1))
    )  # naive time: taken as UTC
    rec.submit(
        IncidentEvent(
            "r",
            "t",
            "u",
            "input",
            "/x",
            "flag",
            {"a1"},  # a set
            ["x"],
            [(0, 1)],
            "v",
        )
    )
    await rec.flush()
    stats = rec.stats()
    assert stats["dropped"] == 2 and sum(stats["written"].values()) == 2
    assert (await rec.verify())[1] == []
    assert rec.ready()
    await rec.stop()
    assert not rec.ready()
