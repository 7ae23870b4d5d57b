"""The user sanctions ladder (IM Art. 14 ¶2, DS Art. 10 ¶3): warning -> restricted -> suspended.

Pure functions over ``SanctionState``; the store applies them inside one database transaction
per user, so workers and replicas sharing the database share the counters. Defaults: suspend
after 3 consecutive violations or 5 in one day (configurable; regulation.md §3.5 says the
numbers have no verified source). One step below suspension is "restricted"; any violation
is at least a "warning". A suspension ends on its own after ``suspension_hours``; the counters
start again from zero then.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from service.records.chain import parse_utc, utc_text
from service.records.settings import RecordSettings

LEVELS = ("none", "warning", "restricted", "suspended")


@dataclass(frozen=True, slots=True)
class SanctionState:
    """One user's counters and level, as stored in ``user_sanctions``."""

    level: str = "none"
    consecutive: int = 0
    day: str = ""
    day_count: int = 0
    total: int = 0
    suspended_until: str | None = None

    def suspended_at(self, now: datetime) -> bool:
        return self.suspended_until is not None and parse_utc(self.suspended_until) > now


def sanction_day(now: datetime, settings: RecordSettings) -> str:
    """The calendar day a violation counts in (Beijing time by default)."""
    tz = timezone(timedelta(hours=settings.sanction_day_offset_hours))
    return now.astimezone(tz).date().isoformat()


def on_violation(
    state: SanctionState, now: datetime, settings: RecordSettings
) -> tuple[SanctionState, str | None]:
    """Count one violation; returns the new state and the ladder step taken (or None)."""
    if state.suspended_until is not None and not state.suspended_at(now):
        state = SanctionState(total=state.total)  # suspension served: start again
    day = sanction_day(now, settings)
    day_count = state.day_count + 1 if state.day == day else 1
    consecutive = state.consecutive + 1
    new = replace(
        state, consecutive=consecutive, day=day, day_count=day_count, total=state.total + 1
    )
    if state.suspended_at(now):
        return new, None
    c, d = settings.sanction_consecutive, settings.sanction_daily
    if consecutive >= c or day_count >= d:
        until = utc_text(now + timedelta(hours=settings.suspension_hours))
        return replace(new, level="suspended", suspended_until=until), "suspended"
    if (c > 1 and consecutive >= c - 1) or (d > 1 and day_count >= d - 1):
        level = "restricted"
    else:
        level = "warning"
    if LEVELS.index(level) <= LEVELS.index(state.level):
        return replace(new, level=state.level), None
    return replace(new, level=level), level


def on_clean(state: SanctionState) -> SanctionState:
    """A request with no violation breaks the consecutive run."""
    return replace(state, consecutive=0)


def lifted(state: SanctionState) -> SanctionState:
    """State after an upheld appeal: no level, no counters (history total kept)."""
    return SanctionState(total=state.total)
