"""Sanction ladder: pure rules (hypothesis) and two workers sharing one database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import UserSuspended
from service.records import IncidentEvent, NetworkLogEvent
from service.records.sanctions import SanctionState, on_clean, on_violation
from service.records.settings import RecordSettings
from tests.records.conftest import make_recorder

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def _run(events: list[bool], settings: RecordSettings) -> tuple[SanctionState, list[str]]:
    state, steps = SanctionState(), []
    for violation in events:
        if violation:
            state, step = on_violation(state, T0, settings)
            steps.append(step) if step else None
        else:
            state = on_clean(state)
    return state, steps


def test_three_consecutive_suspend():
    state, steps = _run([True, True, True], RecordSettings())
    assert steps == ["warning", "restricted", "suspended"]
    assert state.suspended_at(T0) and not state.suspended_at(T0 + timedelta(hours=24))


def test_five_in_a_day_suspend_even_when_not_consecutive():
    state, steps = _run(
        [True, False, True, False, True, False, True, False, True], RecordSettings()
    )
    assert steps == ["warning", "restricted", "suspended"]
    assert state.day_count == 5 and state.level == "suspended"


def test_day_boundary_is_beijing_midnight():
    s = RecordSettings()
    state, _ = on_violation(SanctionState(), datetime(2026, 3, 1, 15, 59, tzinfo=UTC), s)
    state = on_clean(state)
    state, _ = on_violation(state, datetime(2026, 3, 1, 16, 1, tzinfo=UTC), s)  # 00:01 next day
    assert state.day_count == 1 and state.day == "2026-03-02"


def test_suspension_served_starts_again():
    s = RecordSettings(suspension_hours=1)
    state, _ = _run([True, True, True], s)
    later, step = on_violation(state, T0 + timedelta(hours=2), s)
    assert step == "warning" and later.consecutive == 1 and later.total == 4


@given(st.lists(st.booleans(), max_size=40), st.integers(1, 6), st.integers(1, 8))
def test_ladder_invariants(events, consecutive, daily):
    s = RecordSettings(sanction_consecutive=consecutive, sanction_daily=daily)
    state, steps = _run(events, s)
    run = best = count = 0
    for v in events:
        run = run + 1 if v else 0
        best, count = max(best, run), count + v
    should_suspend = best >= consecutive or count >= daily
    assert (state.level == "suspended") == should_suspend
    assert steps == sorted(set(steps), key=["warning", "restricted", "suspended"].index)
    assert state.total == count


def _block(i: int, user: str) -> IncidentEvent:
    return IncidentEvent(
        f"r{i}",
        "t1",
        user,
        "input",
        "/v1/chat/completions",
        "block",
        ["a1.x"],
        ["t"],
        [(0, 1)],
        "sha256:v",
    )


def _clean(i: int, user: str) -> NetworkLogEvent:
    return NetworkLogEvent(f"c{i}", "t1", user, "/v1/chat/completions", "m", None, 200, 1.0)


async def test_ladder_across_two_workers(backend_factory, tmp_path, clock):
    a = make_recorder(backend_factory(), tmp_path / "a", clock, sanction_cache_s=0)
    b = make_recorder(backend_factory(), tmp_path / "b", clock, sanction_cache_s=0)
    await a.start()
    await b.start()
    a.submit(_block(1, "alice"))
    await a.flush()
    b.submit(_block(2, "alice"))  # second worker continues the same counters
    await b.flush()
    assert (await a.user_status("t1", "alice")).level == "restricted"
    await a.check_user("t1", "alice")  # restricted is not suspended
    assert await b.user_restrictions("t1", "alice") == "restricted"  # read by the other worker
    assert await b.user_restrictions("t1", "bob") == "none"
    assert await b.user_restrictions("t1", None) == "none"
    a.submit(_block(3, "alice"))
    await a.flush()
    with pytest.raises(UserSuspended) as info:
        await b.check_user("t1", "alice")  # suspended by a, refused by b
    assert info.value.status == 403 and info.value.code == "user_suspended"
    await b.check_user("t1", "bob")  # other users unaffected
    # a clean request on either worker breaks the consecutive run for another user
    for i, worker in enumerate((a, b, a, b)):
        worker.submit(_block(10 + i, "carol"))
        await worker.flush()
        worker.submit(_clean(10 + i, "carol"))
        await worker.flush()
    assert (await a.user_status("t1", "carol")).level == "restricted"  # 4 in a day, none in a row
    # every ladder step is a chained record
    await a.flush()
    await b.flush()
    steps = await a.store.backend.fetch(
        "SELECT user_id, action FROM records WHERE kind = 'sanction' ORDER BY seq"
    )
    assert [s for s in steps if s[0] == "alice"] == [
        ("alice", "warning"),
        ("alice", "restricted"),
        ("alice", "suspended"),
    ]
    assert (await a.verify())[1] == []
    clock.advance(hours=25)
    await a.check_user("t1", "alice")  # suspension over
    assert await a.user_restrictions("t1", "alice") == "none"
    await a.stop()
    await b.stop()


async def test_suspended_user_cached_and_database_down_fails_open(tmp_path, clock):
    from service.records.backends import SqliteBackend

    rec = make_recorder(SqliteBackend(tmp_path / "db.sqlite3"), tmp_path, clock)
    await rec.start()
    for i in range(3):
        rec.submit(_block(i, "dave"))
    await rec.flush()
    with pytest.raises(UserSuspended):
        await rec.check_user("t1", "dave")
    await rec.check_user("t1", None)  # anonymous callers are not tracked
    await rec.stop()
