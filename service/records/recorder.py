"""``Recorder``: what the runtime holds. Record events, check users, run complaints and exports.

The writer (``writer.Writer``) makes records durable with group commits (or only queues them,
in ``async`` mode) and spools them while the database is down; sanction counters are
updated after each written batch (incidents with action ``block`` in a sanctioned direction
count as violations; a network log whose decision is not ``block`` breaks the consecutive run), and
each ladder step is itself appended as a ``sanction`` record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from service.errors import NotFound, ServiceUnavailable, UserSuspended, ValidationFailed
from service.records import complaints as desk
from service.records.anchors import AnchorFile, AnchorKey, chain_heads, make_anchor
from service.records.backends import Backend, backend_for_url, sqlite_path
from service.records.chain import record, utc_text
from service.records.exporting import export_lines, summary
from service.records.metrics import RecordsMetrics
from service.records.migrations import RECORD_KINDS
from service.records.sanctions import SanctionState, lifted, on_clean, on_violation
from service.records.settings import RecordSettings
from service.records.shared import shared_state
from service.records.spool import Spool
from service.records.store import Problem, RecordFilter, Store
from service.records.writer import Item, Writer

log = logging.getLogger("aigc_gateway.records")

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Recorder:
    """Compliance records for one process. ``start()`` before use, ``stop()`` to drain."""

    def __init__(
        self,
        backend: Backend,
        settings: RecordSettings | None = None,
        *,
        spool_dir: Path,
        allowlist_dir: Path,
        anchor_file: Path | None = None,
        anchor_key: AnchorKey | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        self.settings = settings or RecordSettings()
        self.store = Store(backend)
        self.clock = clock
        self.allowlist_dir = allowlist_dir
        self.anchor_file = AnchorFile(anchor_file or spool_dir.parent / "records-anchors.jsonl")
        self.anchor_key = anchor_key or AnchorKey()
        self.metrics = RecordsMetrics()
        self.writer = Writer(
            self.store,
            Spool(spool_dir, self.settings.spool_max_bytes),
            self.settings,
            self.metrics,
            after_write=self._apply_sanctions,
        )
        self._suspended: dict[tuple[str, str], tuple[float, str | None, str]] = {}
        self._housekeeping: asyncio.Task[None] | None = None
        self._anchoring: asyncio.Task[None] | None = None
        self.shared = shared_state(
            self.store, self.settings.shared_state_url, self.settings.shared_state_prefix
        )
        self._started = False

    # --- contract ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, apply migrations, start the writer (degraded if the DB is down)."""
        await self.writer.start()
        self._housekeeping = asyncio.create_task(self._housekeep(), name="records-housekeeping")
        self.shared.listen(self._on_notice)
        if self.settings.anchor_interval_s > 0:
            self._anchoring = asyncio.create_task(self._anchor_loop(), name="records-anchors")
        self._started = True

    def submit(self, event: Any) -> None:
        """Queue a record event; never blocks, never raises."""
        self.writer.submit(event)

    async def record(self, *events: Any) -> None:
        """Record ``events``; return once they are as durable as the durability mode promises.

        The request path awaits this before the client receives the end of its answer. In
        ``sync`` mode (default) it returns once the events are committed in the database or
        fsynced to the local spool (concurrent calls share one commit); in ``async`` mode it
        only queues. Never raises, except ``RecordsUnavailable`` (503 ``records_unavailable``)
        when neither the database nor the spool can take the events and the policy
        ``when_unrecordable`` is ``refuse``.
        """
        await self.writer.record(events)

    def admit(self) -> None:
        """Raise ``RecordsUnavailable`` while no record can be made durable and the policy is
        ``refuse``: call it where a request starts, so that it is refused before any work."""
        self.writer.admit()

    def status(self) -> dict[str, Any]:
        """The records state for ``/readyz``: ``state`` is ``ok``, ``degraded`` (database down,
        records spooled), ``unrecordable`` (database and spool both failing) or ``stopped``;
        ``serving`` says whether requests are answered; ``reason`` says why not ``ok``."""
        w = self.writer
        if not self._started or not w.running():
            state, reason = "stopped", "records writer not running"
        elif w.unrecordable is not None:
            state = "unrecordable"
            reason = f"{w.reason or 'records database unreachable'}; spool failed: {w.unrecordable}"
        elif w.degraded:
            state, reason = "degraded", f"{w.reason}; records are spooled to {w.spool.root}"
        else:
            state, reason = "ok", None
        refusing = state == "unrecordable" and self.settings.when_unrecordable == "refuse"
        stats = self.metrics
        return {
            "state": state,
            "serving": state != "stopped" and not refusing,
            "reason": reason,
            "durability": self.settings.durability,
            "when_unrecordable": self.settings.when_unrecordable,
            "spooled": stats.spooled,
            "replayed": stats.replayed,
            "dropped": stats.dropped,
            "spool_bytes": w.spool.size(),
        }

    async def check_user(self, tenant_id: str, user_id: str | None) -> None:
        """Raise ``UserSuspended`` while the user is suspended (cached ``sanction_cache_s``).

        When the database cannot be read the user is let through (records keep working
        through the spool; refusing all traffic would be worse) and the error is logged.
        """
        await self.user_restrictions(tenant_id, user_id)

    async def user_restrictions(self, tenant_id: str, user_id: str | None) -> str:
        """The user's ladder level now: "none" | "warning" | "restricted" (cached).

        Raises ``UserSuspended`` while the user is suspended. One cached database read
        (``sanction_cache_s``) serves both this and ``check_user``; anonymous callers and an
        unreadable database give "none" (logged).
        """
        if not user_id:
            return "none"
        key = (tenant_id, user_id)
        hit = self._suspended.get(key)
        now_m = time.monotonic()
        if hit is None or hit[0] < now_m:
            try:
                state = await self.store.get_sanction(tenant_id, user_id)
            except Exception as exc:
                log.warning("records: cannot read sanctions: %s", exc)
                return "none"
            if state.suspended_at(self.clock()):
                until, level = state.suspended_until, "suspended"
            else:
                until = None
                level = "none" if state.level == "suspended" else state.level
            hit = (now_m + self.settings.sanction_cache_s, until, level)
            self._suspended[key] = hit
            if len(self._suspended) > 100_000:
                self._suspended.clear()
        until = hit[1]
        if until is not None and until > utc_text(self.clock()):
            raise UserSuspended(
                f"This user is suspended until {until} for repeated policy violations. "
                "An appeal can be filed at POST /complaints with kind 'appeal'.",
                details={"suspended_until": until},
            )
        return "none" if hit[2] == "suspended" else hit[2]

    def ready(self) -> bool:
        """True while the database answers and the writer runs."""
        return self._started and self.writer.healthy()

    async def stop(self) -> None:
        """Drain the queue into the database (or the spool) and close."""
        for task in (self._housekeeping, self._anchoring):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.writer.stop()
        await self.shared.close()
        await self.store.close()
        self._started = False

    # --- extras --------------------------------------------------------------------------

    def bind_metrics(self, registry: Any) -> None:
        """Expose the records metrics on a Prometheus registry."""
        self.metrics.bind(registry)

    def stats(self) -> dict[str, Any]:
        return self.metrics.stats()

    async def flush(self) -> None:
        """Write what is queued now."""
        await self.writer.flush()

    async def _housekeep(self) -> None:
        last_purge = time.monotonic()
        while True:
            try:
                self.metrics.set_state(
                    complaints_overdue=await self.store.count_overdue(self.clock())
                )
                if time.monotonic() - last_purge >= self.settings.purge_interval_s:
                    last_purge = time.monotonic()
                    await self.purge()
                    await self.shared.purge()
            except Exception as exc:  # database down: the writer reports it
                log.debug("records housekeeping skipped: %s", exc)
            await asyncio.sleep(30)

    # --- anchors -------------------------------------------------------------------------

    async def anchor(self, *, min_gap_s: float = 0.0) -> dict[str, Any] | None:
        """Take a signed anchor of the chain heads now: appended to the anchor file and POSTed
        to ``anchor_url``. Skipped (None) when the file's last anchor is younger than
        ``min_gap_s`` (another worker just took one)."""
        chains = await chain_heads(self.store)

        def build(prev: str, last: datetime | None) -> dict[str, Any] | None:
            now = self.clock()
            if last is not None and (now - last).total_seconds() < min_gap_s:
                return None
            return make_anchor(chains, self.anchor_key, prev=prev, now=now)

        anchor = await asyncio.to_thread(self.anchor_file.append, build)
        if anchor is not None:
            self.metrics.add("anchors")
            if self.settings.anchor_url:
                await self._post_anchor(anchor)
        return anchor

    async def _post_anchor(self, anchor: dict[str, Any]) -> None:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
                response = await client.post(str(self.settings.anchor_url), json=anchor)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            self.metrics.add("anchor_failures")
            log.warning("records anchor not delivered to the anchor URL: %s", exc)

    async def _anchor_loop(self) -> None:
        interval = self.settings.anchor_interval_s
        await asyncio.sleep(min(5.0, interval) * (0.5 + random.random()))  # soon after start
        while True:
            try:
                # several workers share the file: one anchor per half interval is enough
                await self.anchor(min_gap_s=interval / 2)
            except Exception as exc:  # database down: the next one will do
                log.warning("records anchor skipped: %s", exc)
            await asyncio.sleep(interval * (0.9 + 0.2 * random.random()))

    # --- sanctions -----------------------------------------------------------------------

    async def _apply_sanctions(self, batch: Sequence[Item]) -> None:
        ops: dict[tuple[str, str], list[tuple[bool, dict[str, Any]]]] = {}
        directions = set(self.settings.sanction_directions)
        for kind, body, *parsed in batch:
            if kind not in ("incident", "network_log"):
                continue
            data = parsed[0] if parsed else json.loads(body)
            user = data.get("user_id")
            if not user:
                continue
            key = (str(data.get("tenant_id") or "default"), str(user))
            if kind == "incident":
                if data.get("action") == "block" and data.get("direction") in directions:
                    ops.setdefault(key, []).append((True, data))
            elif data.get("decision") != "block":  # a request not blocked breaks the run
                ops.setdefault(key, []).append((False, data))
        clean_only = {k for k, seq in ops.items() if not any(v for v, _ in seq)}
        await self.store.reset_consecutive(sorted(clean_only))
        now = self.clock()
        folds = {k: self._fold(seq, now) for k, seq in ops.items() if k not in clean_only}
        results = await self.store.update_sanctions(folds, now)
        for key, (state, steps) in results.items():
            suspended = state.suspended_at(now)
            self._suspended[key] = (
                time.monotonic() + self.settings.sanction_cache_s,
                state.suspended_until if suspended else None,
                "suspended" if suspended else state.level,
            )
            for step, data, at in steps:
                self.metrics.add_step(step)
                self._record_sanction(key, step, at, now, request_id=data.get("request_id"))
            if steps:
                await self._notify(key)

    async def _notify(self, key: tuple[str, str]) -> None:
        try:
            await self.shared.notify_sanction(*key)
        except Exception as exc:  # the others see it when their cache entry expires
            log.warning("records: sanction notice not sent: %s", exc)

    def _on_notice(self, tenant_id: str, user_id: str) -> None:
        self._suspended.pop((tenant_id, user_id), None)  # read afresh on the next request

    def _fold(self, seq: list[tuple[bool, dict[str, Any]]], now: datetime) -> Callable:
        def fold(state: SanctionState) -> tuple[SanctionState, list[tuple[str, dict, Any]]]:
            steps = []
            for violation, data in seq:
                if not violation:
                    state = on_clean(state)
                    continue
                state, step = on_violation(state, now, self.settings)
                if step is not None:
                    steps.append((step, data, state))
            return state, steps

        return fold

    def _record_sanction(
        self, key: tuple[str, str], step: str, state: SanctionState, now: datetime, **extra: Any
    ) -> None:
        self.writer.submit(
            record(
                "sanction",
                {
                    "time": utc_text(now),
                    "tenant_id": key[0],
                    "user_id": key[1],
                    "action": step,
                    "consecutive": state.consecutive,
                    "day_count": state.day_count,
                    "suspended_until": state.suspended_until,
                    **extra,
                },
            )
        )

    async def user_status(self, tenant_id: str, user_id: str) -> SanctionState:
        """A user's current ladder level and counters (read from the database)."""
        return await self.store.get_sanction(tenant_id, user_id)

    async def lift_sanction(self, tenant_id: str, user_id: str, *, reason: str) -> None:
        """End a user's sanction (upheld appeal); recorded as a ``lifted`` step."""
        now = self.clock()
        state, _ = await self.store.update_sanction(
            tenant_id, user_id, lambda s: (lifted(s), None), now
        )
        self._suspended.pop((tenant_id, user_id), None)
        self._record_sanction((tenant_id, user_id), "lifted", state, now, reason=reason)
        await self._notify((tenant_id, user_id))

    async def rate_allow(self, bucket: str, key: str, limit: int, window_s: float = 60.0) -> bool:
        """One hit of ``key`` (a client address, ...) in ``bucket``; False when it is over
        ``limit`` per ``window_s`` across every worker and replica (records database or
        Redis, see ``shared``)."""
        return await self.shared.allow(bucket, key, limit, window_s)

    # --- complaints ----------------------------------------------------------------------

    async def _db(self, coro: Any) -> Any:
        try:
            return await coro
        except (NotFound, ValidationFailed):
            raise
        except Exception as exc:
            log.error("records database error: %s", exc)
            raise ServiceUnavailable("The records database is unavailable; try again.") from exc

    async def _record_complaint(self, ticket: dict[str, Any], action: str, now: datetime) -> None:
        fields = {
            "time": utc_text(now),
            "tenant_id": ticket["tenant_id"],
            "user_id": ticket.get("user_id"),
            "request_id": ticket.get("request_id"),
            "ticket_id": ticket["id"],
            "complaint_kind": ticket["kind"],
            "category": ticket.get("category"),
            "action": action,
        }
        if action == "resolved":
            fields.update(upheld=ticket.get("upheld"), assignee=ticket.get("assignee"))
        await self.record(record("complaint", fields))

    async def file_complaint(self, data: dict[str, Any], *, tenant_id: str) -> dict[str, Any]:
        """Store a new ticket; returns it (with ``id`` and ``deadline``)."""
        now = self.clock()
        ticket = desk.new_ticket(
            data, tenant_id=tenant_id, now=now, days=self.settings.complaint_feedback_days
        )
        await self._db(self.store.insert_complaint(ticket))
        await self._record_complaint(ticket, "filed", now)
        return ticket

    async def get_complaint(self, ticket_id: str) -> dict[str, Any]:
        ticket = None
        if desk.valid_ticket_id(ticket_id):
            ticket = await self._db(self.store.get_complaint(ticket_id))
        if ticket is None:
            raise desk.not_found(ticket_id)
        return ticket

    async def list_complaints(
        self,
        *,
        status: str | None = None,
        tenant_id: str | None = None,
        overdue: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        if status is not None and status not in desk.STATUSES:
            raise ValidationFailed(f"'status' must be one of {', '.join(desk.STATUSES)}")
        rows = await self._db(
            self.store.list_complaints(
                status=status, tenant_id=tenant_id, limit=limit, offset=offset
            )
        )
        now = utc_text(self.clock())
        for row in rows:
            row["overdue"] = row["status"] != "resolved" and row["deadline"] < now
        return [r for r in rows if r["overdue"]] if overdue else rows

    async def overdue_complaints(self) -> int:
        count = await self._db(self.store.count_overdue(self.clock()))
        self.metrics.set_state(complaints_overdue=count)
        return count

    async def assign_complaint(self, ticket_id: str, assignee: str) -> dict[str, Any]:
        name = desk._text(assignee, "assignee", 100, required=True)
        ticket = await self.get_complaint(ticket_id)
        if ticket["status"] == "resolved":
            raise ValidationFailed("This complaint is already resolved.", code="complaint_resolved")
        now = self.clock()
        await self._db(
            self.store.update_complaint(
                ticket_id, {"status": "assigned", "assignee": name, "updated_at": utc_text(now)}
            )
        )
        ticket = await self.get_complaint(ticket_id)
        await self._record_complaint(ticket, "assigned", now)
        return ticket

    async def resolve_complaint(
        self,
        ticket_id: str,
        *,
        outcome: str,
        upheld: bool,
        allow_phrase: str | None = None,
        assignee: str | None = None,
    ) -> dict[str, Any]:
        """Close a ticket with a written outcome. An upheld ``false_block`` complaint with an
        ``allow_phrase`` adds it to the tenant allow-list; an upheld ``appeal`` naming a user
        lifts that user's sanction."""
        text = desk._text(outcome, "outcome", desk.MAX_DESCRIPTION, required=True)
        if not isinstance(upheld, bool):
            raise ValidationFailed("'upheld' must be true or false")
        ticket = await self.get_complaint(ticket_id)
        if ticket["status"] == "resolved":
            raise ValidationFailed("This complaint is already resolved.", code="complaint_resolved")
        phrase = None
        if allow_phrase is not None:
            if not upheld or ticket["kind"] != "false_block":
                raise ValidationFailed(
                    "'allow_phrase' is only for an upheld complaint of kind 'false_block'"
                )
            phrase = desk.check_phrase(allow_phrase)
        now = self.clock()
        fields: dict[str, Any] = {
            "status": "resolved",
            "outcome": text,
            "upheld": int(upheld),
            "allow_phrase": phrase,
            "resolved_at": utc_text(now),
            "updated_at": utc_text(now),
        }
        if assignee:
            fields["assignee"] = desk._text(assignee, "assignee", 100)
        if phrase is not None:  # first: a ticket is never closed without its allow-list entry
            try:
                desk.add_allow_phrase(
                    self.allowlist_dir, ticket["tenant_id"], phrase, ticket_id, now
                )
            except OSError as exc:
                raise ServiceUnavailable(f"Cannot write the tenant allow-list: {exc}") from exc
        changed = await self._db(
            self.store.update_complaint(ticket_id, fields, unless_status="resolved")
        )
        if not changed:
            raise ValidationFailed("This complaint is already resolved.", code="complaint_resolved")
        if upheld and ticket["kind"] == "appeal" and ticket.get("user_id"):
            await self._db(
                self.lift_sanction(
                    ticket["tenant_id"], ticket["user_id"], reason=f"appeal {ticket_id} upheld"
                )
            )
        ticket = await self.get_complaint(ticket_id)
        await self._record_complaint(ticket, "resolved", now)
        return ticket

    # --- retention, privacy, exports -----------------------------------------------------

    async def purge(self, now: datetime | None = None) -> dict[str, int]:
        """Delete records past their class's retention; returns the count per class."""
        now = now or self.clock()
        out = {}
        for kind in RECORD_KINDS:
            cutoff = now - timedelta(days=self.settings.retention_for(kind))
            out[kind] = await self.store.purge(kind, cutoff)
        out["complaint_tickets"] = await self.store.purge_complaints(
            now - timedelta(days=self.settings.retention_for("complaint"))
        )
        return out

    async def restrict_user(self, tenant_id: str, user_id: str) -> int:
        """A deletion request inside the retention window: restrict instead of delete."""
        await self.flush()  # so that records still queued are covered too
        return await self.store.restrict_user(tenant_id, user_id, self.clock())

    async def verify(self) -> tuple[int, list[Problem]]:
        return await self.store.verify()

    def export(self, flt: RecordFilter, fmt: str) -> AsyncIterator[str]:
        return export_lines(self.store, flt, fmt)

    async def summary(self, flt: RecordFilter) -> dict[str, Any]:
        return await summary(self.store, flt)


def default_paths(settings: Any) -> tuple[Path, Path, Path]:
    """``(spool_dir, allowlist_dir, anchor_file)`` for service settings (next to the data
    directory; the spool next to a SQLite file)."""
    records: RecordSettings = settings.records
    data_dir = Path(getattr(settings, "data_dir", "var"))
    spool = records.spool_dir
    if spool is None:
        url = str(getattr(settings, "database", ""))
        base = sqlite_path(url).parent if url.startswith("sqlite:") else data_dir
        spool = base / "records-spool"
    anchors = records.anchor_file or data_dir / "records-anchors.jsonl"
    return spool, records.allowlist_dir or data_dir / "allowlists", anchors


def build_recorder(
    settings: Any, *, clock: Clock = _utcnow, read_only: bool = False, create: bool = True
) -> Recorder:
    """The recorder for service settings (``settings.database``, ``settings.records``).

    ``create=False``: never create the database (offline commands); ``read_only``: never
    write to it either (``records verify|export|summary``).
    """
    records = getattr(settings, "records", None) or RecordSettings()
    url = str(getattr(settings, "database", None) or "sqlite:///var/aigc-gateway.sqlite3")
    spool, allow, anchors = (
        default_paths(settings)
        if hasattr(settings, "records")
        else (Path("var/records-spool"), Path("var/allowlists"), None)
    )
    key = AnchorKey.from_label_settings(getattr(settings, "labels", None))
    backend = backend_for_url(
        url, durable=records.durability == "sync", read_only=read_only, create=create
    )
    return Recorder(
        backend,
        records,
        spool_dir=spool,
        allowlist_dir=allow,
        anchor_file=anchors,
        anchor_key=key,
        clock=clock,
    )
