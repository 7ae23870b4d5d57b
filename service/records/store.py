"""``Store``: the records SQL, shared by both backends (see ``backends``).

Append (hash-chained, idempotent on replay), verify, purge, restrict, query for exports,
sanction counters and complaints. Every method raises the driver's error when the database is
unreachable; the writer decides what to do about it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.records.backends import Backend, DatabaseMissing, SqliteBackend, redacted
from service.records.chain import GENESIS, columns, link_hash, utc_text
from service.records.migrations import RECORD_KINDS, statements
from service.records.sanctions import SanctionState

_RECORD_COLS = (
    "seq, rid, kind, time, tenant_id, user_id, request_id, action, categories, body, "
    "prev_hash, hash, restricted"
)
_INSERT_COLS = (
    "rid",
    "kind",
    "time",
    "tenant_id",
    "user_id",
    "request_id",
    "action",
    "categories",
    "body",
    "prev_hash",
    "hash",
)
_MIGRATION_LOCK = 7_317_310_001  # PostgreSQL advisory lock id for applying migrations


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of ``verify``."""

    kind: str
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.kind} #{self.seq}" if self.seq is not None else self.kind
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Export / summary filter; times are inclusive-exclusive ``[since, until)``."""

    kinds: tuple[str, ...] = RECORD_KINDS
    since: datetime | None = None
    until: datetime | None = None
    tenant_id: str | None = None
    user_id: str | None = None
    category: str | None = None
    include_restricted: bool = False

    def where(self, dialect: str) -> tuple[str, list[Any]]:
        marks = ",".join("?" for _ in self.kinds)
        sql, args = [f"kind IN ({marks})"], list(self.kinds)
        if self.since is not None:
            sql.append("time >= ?")
            args.append(utc_text(self.since))
        if self.until is not None:
            sql.append("time < ?")
            args.append(utc_text(self.until))
        if self.tenant_id is not None:
            sql.append("tenant_id = ?")
            args.append(self.tenant_id)
        if self.user_id is not None:
            sql.append("user_id = ?")
            args.append(self.user_id)
        if self.category is not None:  # exact id, or a parent id ("a1" matches "a1.x")
            find = "instr(categories, ?)" if dialect == "sqlite" else "strpos(categories, ?)"
            sql.append(f"({find} > 0 OR {find} > 0)")
            args += [f",{self.category},", f",{self.category}."]
        if not self.include_restricted:
            sql.append("restricted = 0")
        return " AND ".join(sql), args


class Store:
    """The records database behind ``backend``."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        # SQLite: the chain heads of this store's last commit, a guess each append checks
        self._heads: dict[str, str] = {}

    @property
    def dialect(self) -> str:
        return self.backend.dialect

    async def open(self) -> None:
        """Connect and apply pending migrations (serialised across processes).

        A backend that may not create (``create=False``) raises ``DatabaseMissing`` when the
        database holds no records schema; a read-only one applies no migrations either.
        """
        await self.backend.open()
        if not self.backend.create:
            try:
                await self.schema_version()
            except Exception as exc:
                await self.backend.close()
                raise DatabaseMissing(
                    f"no records in {redacted(self.backend.url)}: it has no records schema "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
        if not self.backend.read_only:
            await self.migrate()

    async def schema_version(self) -> int:
        """The version of the records schema (raises when there is none)."""
        rows = await self.backend.fetch("SELECT max(version) FROM schema_migrations")
        if not rows or rows[0][0] is None:
            raise LookupError("schema_migrations is empty")
        return int(rows[0][0])

    async def close(self) -> None:
        await self.backend.close()

    async def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""
        async with self.backend.transaction() as tx:
            if self.dialect == "postgresql":
                await tx.execute("SELECT pg_advisory_xact_lock(?)", _MIGRATION_LOCK)
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, title TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            rows = await tx.fetch("SELECT max(version) FROM schema_migrations")
            current = int(rows[0][0] or 0)
            for version, title, sqls in statements(self.dialect, current):
                for sql in sqls:
                    await tx.execute(sql)
                await tx.execute(
                    "INSERT INTO schema_migrations (version, title, applied_at) VALUES (?, ?, ?)",
                    version,
                    title,
                    utc_text(datetime.now().astimezone()),
                )
                current = version
            return current

    async def ping(self) -> None:
        await self.backend.fetch("SELECT 1")

    # --- append ------------------------------------------------------------------------

    async def append(
        self,
        items: Sequence[tuple[Any, ...]],
        *,
        dedupe: bool = False,
        on_commit: Callable[[], Any] | None = None,
    ) -> int:
        """Append ``(kind, body[, fields])`` records, each kind to its own chain, in one transaction.

        ``dedupe`` skips bodies whose ``rid`` is already stored (spool replay after a crash).
        ``on_commit()`` is called as soon as the transaction is committed: in the SQLite
        thread (so it must be thread-safe; called even when the caller has stopped waiting),
        or on the event loop for PostgreSQL. Returns the number of records written.
        """
        by_kind = _by_kind(items)
        if not by_kind:
            return 0
        if isinstance(self.backend, SqliteBackend):
            heads = self._heads
            written, _moved = await self.backend.run_transaction(
                lambda conn: _append_sqlite(conn, by_kind, dedupe, heads),
                # in the SQLite thread, before its next job: a transaction that failed leaves
                # the guess stale, which the next append's compare-and-set detects
                on_commit=lambda out: _committed(heads, out[1], on_commit),
            )
            return int(written)
        written = 0
        async with self.backend.transaction() as tx:
            kinds = sorted(by_kind)  # fixed lock order: no deadlock between workers
            rows = await tx.fetch(
                "SELECT kind, head_hash FROM chain_heads WHERE kind = ANY(?::text[]) "
                "ORDER BY kind FOR UPDATE",
                kinds,
            )
            heads = dict(rows)
            out: list[tuple[Any, ...]] = []
            moved: list[tuple[str, str]] = []
            for kind in kinds:
                if kind not in heads:
                    raise ValueError(f"unknown record kind {kind!r}")
                batch = by_kind[kind]
                if dedupe:
                    batch = await self._unseen(tx, batch)
                linked, head = _link(kind, heads[kind], batch)
                if linked:
                    out += linked
                    moved.append((kind, head))
            if out:
                await tx.insert_many("records", _INSERT_COLS, out)
                await tx.execute(
                    "UPDATE chain_heads AS c SET head_hash = v.head "
                    "FROM unnest(?::text[], ?::text[]) AS v(kind, head) WHERE c.kind = v.kind",
                    [k for k, _ in moved],
                    [h for _, h in moved],
                )
                written = len(out)
        if on_commit is not None:
            on_commit()
        return written

    async def _unseen(self, tx: Any, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rids = [r["rid"] for r in batch]
        seen: set[str] = set()
        for i in range(0, len(rids), 500):
            part = rids[i : i + 500]
            marks = ",".join("?" for _ in part)
            rows = await tx.fetch(f"SELECT rid FROM records WHERE rid IN ({marks})", *part)
            seen.update(r[0] for r in rows)
        return _unique(batch, seen)

    # --- verify ------------------------------------------------------------------------

    async def verify(self, *, page: int = 2000) -> tuple[int, list[Problem]]:
        """Walk every chain in one read snapshot; returns (records checked, problems)."""
        async with self.backend.transaction(write=False) as tx:
            return await self._verify(tx, page)

    async def _verify(self, tx: Any, page: int) -> tuple[int, list[Problem]]:
        checked, problems = 0, []
        heads = {
            k: (h, a)
            for k, h, a in await tx.fetch("SELECT kind, head_hash, anchor_hash FROM chain_heads")
        }
        for kind in sorted(heads):
            head, expected = heads[kind][0], heads[kind][1]
            after = 0
            while True:
                rows = await tx.fetch(
                    f"SELECT {_RECORD_COLS} FROM records WHERE kind = ? AND seq > ? "
                    "ORDER BY seq LIMIT ?",
                    kind,
                    after,
                    page,
                )
                for row in rows:
                    checked += 1
                    problems += _check_row(kind, row, expected)
                    expected = row[11]
                    after = row[0]
                if len(rows) < page:
                    break
            if expected != head:
                problems.append(Problem(kind, None, "last record does not match the chain head"))
        stray = await tx.fetch(
            "SELECT seq, kind FROM records WHERE kind NOT IN ("
            + ",".join("?" for _ in heads)
            + ") LIMIT 10",
            *heads,
        )
        problems += [Problem(str(k), int(s), "record of an unknown kind") for s, k in stray]
        return checked, problems

    # --- retention ---------------------------------------------------------------------

    async def purge(self, kind: str, cutoff: datetime) -> int:
        """Delete the oldest records of ``kind`` older than ``cutoff`` (a prefix of the chain,
        so the chain stays verifiable from its new anchor). Restricted records go too: their
        retention window is over."""
        cut = utc_text(cutoff)
        async with self.backend.transaction() as tx:
            lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
            await tx.fetch(f"SELECT kind FROM chain_heads WHERE kind = ?{lock}", kind)
            keep = await tx.fetch(
                "SELECT min(seq) FROM records WHERE kind = ? AND time >= ?", kind, cut
            )
            bound = keep[0][0]
            if bound is None:
                last = await tx.fetch("SELECT max(seq) FROM records WHERE kind = ?", kind)
                if last[0][0] is None:
                    return 0
                bound = int(last[0][0]) + 1
            tail = await tx.fetch(
                "SELECT hash FROM records WHERE kind = ? AND seq < ? ORDER BY seq DESC LIMIT 1",
                kind,
                bound,
            )
            if not tail:
                return 0
            deleted = await tx.execute(
                "DELETE FROM records WHERE kind = ? AND seq < ?", kind, bound
            )
            await tx.execute(
                "UPDATE chain_heads SET anchor_hash = ?, purged = purged + ? WHERE kind = ?",
                tail[0][0],
                deleted,
                kind,
            )
            return deleted

    async def restrict_user(self, tenant_id: str, user_id: str, now: datetime) -> int:
        """Deletion request inside the retention window: mark the user's records restricted
        (kept, excluded from exports and processing) and log the request."""
        async with self.backend.transaction() as tx:
            count = await tx.execute(
                "UPDATE records SET restricted = 1 WHERE tenant_id = ? AND user_id = ?",
                tenant_id,
                user_id,
            )
            await tx.execute(
                "INSERT INTO deletion_requests (tenant_id, user_id, requested_at, records) "
                "VALUES (?, ?, ?, ?)",
                tenant_id,
                user_id,
                utc_text(now),
                count,
            )
            return count

    async def purge_complaints(self, cutoff: datetime) -> int:
        """Delete resolved complaint tickets resolved before ``cutoff``."""
        return await self.backend.execute(
            "DELETE FROM complaints WHERE status = 'resolved' AND resolved_at < ?",
            utc_text(cutoff),
        )

    # --- queries -----------------------------------------------------------------------

    async def iter_records(
        self, flt: RecordFilter, *, page: int = 2000
    ) -> AsyncIterator[dict[str, Any]]:
        """Matching records in append order, as dicts (body fields plus seq, hash...)."""
        where, args = flt.where(self.dialect)
        after = 0
        while True:
            rows = await self.backend.fetch(
                f"SELECT {_RECORD_COLS} FROM records WHERE {where} AND seq > ? "
                "ORDER BY seq LIMIT ?",
                *args,
                after,
                page,
            )
            for row in rows:
                after = row[0]
                data = json.loads(row[9])
                data.update(seq=row[0], hash=row[11], restricted=bool(row[12]))
                yield data
            if len(rows) < page:
                return

    async def summary_rows(self, flt: RecordFilter) -> list[tuple[str, str, str, str, int]]:
        """``(day, kind, categories, action, count)`` grouped rows (days in UTC)."""
        where, args = flt.where(self.dialect)
        rows = await self.backend.fetch(
            "SELECT substr(time, 1, 10) AS day, kind, coalesce(categories, ''), "
            f"coalesce(action, ''), count(*) FROM records WHERE {where} "
            "GROUP BY substr(time, 1, 10), kind, coalesce(categories, ''), coalesce(action, '') "
            "ORDER BY 1, 2, 3, 4",
            *args,
        )
        return [(str(d), str(k), str(c), str(a), int(n)) for d, k, c, a, n in rows]

    # --- sanctions ---------------------------------------------------------------------

    async def get_sanction(self, tenant_id: str, user_id: str) -> SanctionState:
        rows = await self.backend.fetch(
            "SELECT level, consecutive, day, day_count, total, suspended_until "
            "FROM user_sanctions WHERE tenant_id = ? AND user_id = ?",
            tenant_id,
            user_id,
        )
        return SanctionState(*rows[0]) if rows else SanctionState()

    async def update_sanction(
        self,
        tenant_id: str,
        user_id: str,
        fn: Callable[[SanctionState], tuple[SanctionState, Any]],
        now: datetime,
    ) -> tuple[SanctionState, Any]:
        """Read-modify-write one user's state under the row lock; returns fn's result."""
        out = await self.update_sanctions({(tenant_id, user_id): fn}, now)
        return out[(tenant_id, user_id)]

    async def update_sanctions(
        self,
        updates: dict[tuple[str, str], Callable[[SanctionState], tuple[SanctionState, Any]]],
        now: datetime,
    ) -> dict[tuple[str, str], tuple[SanctionState, Any]]:
        """Read-modify-write several users' states in one transaction, rows locked (in key
        order, so two workers cannot deadlock); returns ``{key: (new state, fn's result)}``."""
        keys = sorted(updates)
        if not keys:
            return {}
        stamp = utc_text(now)
        fresh = SanctionState()
        async with self.backend.transaction() as tx:
            # every row exists before we lock it: no lost update between two first violations
            await tx.executemany(
                "INSERT INTO user_sanctions (tenant_id, user_id, level, consecutive, day, "
                "day_count, total, suspended_until, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, user_id) DO NOTHING",
                [(t, u, fresh.level, 0, "", 0, 0, None, stamp) for t, u in keys],
            )
            lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
            current: dict[tuple[str, str], SanctionState] = {}
            users = sorted({u for _t, u in keys})
            for i in range(0, len(users), 500):
                part = users[i : i + 500]
                rows = await tx.fetch(
                    "SELECT tenant_id, user_id, level, consecutive, day, day_count, total, "
                    f"suspended_until FROM user_sanctions WHERE user_id IN "
                    f"({','.join('?' for _ in part)}) ORDER BY tenant_id, user_id{lock}",
                    *part,
                )
                current.update({(r[0], r[1]): SanctionState(*r[2:]) for r in rows})
            out: dict[tuple[str, str], tuple[SanctionState, Any]] = {}
            changed = []
            for key in keys:
                state = current.get(key, fresh)
                new, result = updates[key](state)
                out[key] = (new, result)
                if new != state:
                    changed.append(
                        (
                            new.level,
                            new.consecutive,
                            new.day,
                            new.day_count,
                            new.total,
                            new.suspended_until,
                            stamp,
                            key[0],
                            key[1],
                        )
                    )
            if changed:
                await tx.executemany(
                    "UPDATE user_sanctions SET level = ?, consecutive = ?, day = ?, "
                    "day_count = ?, total = ?, suspended_until = ?, updated_at = ? "
                    "WHERE tenant_id = ? AND user_id = ?",
                    changed,
                )
            return out

    async def reset_consecutive(self, users: Sequence[tuple[str, str]]) -> None:
        """Clean requests: break the consecutive run of each ``(tenant_id, user_id)``."""
        wanted = set(users)
        if not wanted:
            return
        names = sorted({u for _t, u in wanted})
        async with self.backend.transaction() as tx:
            hits: list[tuple[str, str]] = []
            for i in range(0, len(names), 500):
                part = names[i : i + 500]
                marks = ",".join("?" for _ in part)
                rows = await tx.fetch(
                    "SELECT tenant_id, user_id FROM user_sanctions "
                    f"WHERE consecutive > 0 AND user_id IN ({marks})",
                    *part,
                )
                hits += [(t, u) for t, u in rows if (t, u) in wanted]
            if hits:
                await tx.executemany(
                    "UPDATE user_sanctions SET consecutive = 0 "
                    "WHERE tenant_id = ? AND user_id = ? AND consecutive > 0",
                    hits,
                )

    # --- complaints --------------------------------------------------------------------

    _COMPLAINT_COLS = (
        "id",
        "created_at",
        "deadline",
        "tenant_id",
        "kind",
        "category",
        "request_id",
        "content_id",
        "user_id",
        "description",
        "contact",
        "status",
        "assignee",
        "outcome",
        "upheld",
        "allow_phrase",
        "resolved_at",
        "updated_at",
    )

    async def insert_complaint(self, ticket: dict[str, Any]) -> None:
        cols = self._COMPLAINT_COLS
        await self.backend.execute(
            f"INSERT INTO complaints ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            *(ticket.get(c) for c in cols),
        )

    async def get_complaint(self, ticket_id: str) -> dict[str, Any] | None:
        rows = await self.backend.fetch(
            f"SELECT {', '.join(self._COMPLAINT_COLS)} FROM complaints WHERE id = ?", ticket_id
        )
        return self._complaint(rows[0]) if rows else None

    def _complaint(self, row: Sequence[Any]) -> dict[str, Any]:
        out = dict(zip(self._COMPLAINT_COLS, row, strict=True))
        out["upheld"] = None if out["upheld"] is None else bool(out["upheld"])
        return out

    async def list_complaints(
        self, *, status: str | None, tenant_id: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        sql, args = [], []
        if status is not None:
            sql.append("status = ?")
            args.append(status)
        if tenant_id is not None:
            sql.append("tenant_id = ?")
            args.append(tenant_id)
        where = ("WHERE " + " AND ".join(sql)) if sql else ""
        rows = await self.backend.fetch(
            f"SELECT {', '.join(self._COMPLAINT_COLS)} FROM complaints {where} "
            "ORDER BY created_at, id LIMIT ? OFFSET ?",
            *args,
            limit,
            offset,
        )
        return [self._complaint(r) for r in rows]

    async def update_complaint(
        self, ticket_id: str, fields: dict[str, Any], *, unless_status: str | None = None
    ) -> bool:
        """Set ``fields`` on one ticket; False if it does not exist (or has ``unless_status``)."""
        sets = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE complaints SET {sets} WHERE id = ?"
        args = [*fields.values(), ticket_id]
        if unless_status is not None:
            sql += " AND status <> ?"
            args.append(unless_status)
        return await self.backend.execute(sql, *args) > 0

    async def count_overdue(self, now: datetime) -> int:
        rows = await self.backend.fetch(
            "SELECT count(*) FROM complaints WHERE status <> 'resolved' AND deadline < ?",
            utc_text(now),
        )
        return int(rows[0][0])


def _by_kind(items: Sequence[tuple[Any, ...]]) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for kind, body, *parsed in items:
        cols = columns(parsed[0] if parsed else body)
        if cols["kind"] != kind:
            raise ValueError(f"record body says kind {cols['kind']!r}, not {kind!r}")
        by_kind.setdefault(kind, []).append(cols | {"body": body})
    return by_kind


def _link(kind: str, head: str, batch: list[dict[str, Any]]) -> tuple[list[tuple[Any, ...]], str]:
    """Rows (``_INSERT_COLS`` order) of ``batch`` chained after ``head``; and the new head."""
    out = []
    for rec in batch:
        digest = link_hash(head, rec["body"])
        out.append(
            (
                rec["rid"],
                kind,
                rec["time"],
                rec["tenant_id"],
                rec["user_id"],
                rec["request_id"],
                rec["action"],
                rec["categories"],
                rec["body"],
                head,
                digest,
            )
        )
        head = digest
    return out, head


def _unique(batch: list[dict[str, Any]], seen: set[str]) -> list[dict[str, Any]]:
    unique: dict[str, dict[str, Any]] = {}
    for rec in batch:
        if rec["rid"] not in seen:
            unique.setdefault(rec["rid"], rec)
    return list(unique.values())


def _append_sqlite(
    conn: sqlite3.Connection,
    by_kind: dict[str, list[dict[str, Any]]],
    dedupe: bool,
    heads: dict[str, str],
) -> tuple[int, dict[str, str]]:
    """``Store.append`` on SQLite, run in its thread inside one transaction.

    ``heads`` holds the chain heads this store last committed: a guess, never trusted. The
    batch is linked after them and one compare-and-set ``UPDATE`` moves every head only where
    the stored head is still the guessed one; when another process (a worker sharing the file)
    appended in between, or a commit failed, the stored heads are read and the batch relinked.
    So a clean append is four statements (begin, heads, one multi-row insert, commit), whatever
    the number of kinds and rows: each statement is a hand-off of the GIL from the event loop.
    Returns the number of records written and the heads they moved to (the caller puts them in
    ``heads`` once the transaction is committed).
    """
    kinds = sorted(by_kind)
    if dedupe or any(k not in heads for k in kinds):
        heads.update(_stored_heads(conn, kinds))
    batches = {k: by_kind[k] for k in kinds}
    if dedupe:
        batches = {k: _unique(b, _seen_rids(conn, b)) for k, b in batches.items()}
    linked = {k: _link(k, heads[k], b) for k, b in batches.items() if b}
    if not linked:
        return 0, {}
    moved = _move_heads(conn, {k: (heads[k], new) for k, (_rows, new) in linked.items()})
    if moved != len(linked):  # a head moved under us: relink from the stored heads
        stored = _stored_heads(conn, list(linked))
        for kind, (_rows, new) in list(linked.items()):
            if stored[kind] != new:  # not moved by the compare-and-set above
                linked[kind] = _link(kind, stored[kind], batches[kind])
        _move_heads(conn, {k: (stored[k], new) for k, (_rows, new) in linked.items()})
    rows = [row for kind in kinds if kind in linked for row in linked[kind][0]]
    _insert_rows(conn, rows)
    return len(rows), {k: new for k, (_rows, new) in linked.items()}


def _committed(
    heads: dict[str, str], moved: dict[str, str], then: Callable[[], Any] | None
) -> None:
    heads.update(moved)
    if then is not None:
        then()


def _stored_heads(conn: sqlite3.Connection, kinds: Sequence[str]) -> dict[str, str]:
    marks = ",".join("?" for _ in kinds)
    found = dict(
        conn.execute(
            f"SELECT kind, head_hash FROM chain_heads WHERE kind IN ({marks})", list(kinds)
        ).fetchall()
    )
    for kind in kinds:
        if kind not in found:
            raise ValueError(f"unknown record kind {kind!r}")
    return found


def _seen_rids(conn: sqlite3.Connection, batch: list[dict[str, Any]]) -> set[str]:
    seen: set[str] = set()
    rids = [r["rid"] for r in batch]
    for i in range(0, len(rids), 500):
        part = rids[i : i + 500]
        found = conn.execute(
            f"SELECT rid FROM records WHERE rid IN ({','.join('?' for _ in part)})", part
        )
        seen.update(r[0] for r in found)
    return seen


def _move_heads(conn: sqlite3.Connection, moves: dict[str, tuple[str, str]]) -> int:
    """Set each ``kind``'s head from ``old`` to ``new`` (``{kind: (old, new)}``) where it is
    still ``old``, in one statement; returns how many heads moved."""
    cases = " ".join("WHEN ? THEN ?" for _ in moves)
    where = " OR ".join("(kind = ? AND head_hash = ?)" for _ in moves)
    args: list[str] = []
    for kind, (_old, new) in moves.items():
        args += [kind, new]
    for kind, (old, _new) in moves.items():
        args += [kind, old]
    sql = f"UPDATE chain_heads SET head_hash = CASE kind {cases} END WHERE {where}"
    return int(conn.execute(sql, args).rowcount)


_INSERT_MARKS = "(" + ", ".join("?" for _ in _INSERT_COLS) + ")"


def _insert_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` in order with multi-row ``INSERT`` statements (one step each, where
    ``executemany`` would take one per row)."""
    per = max(1, min(500, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(_INSERT_COLS)))
    head = f"INSERT INTO records ({', '.join(_INSERT_COLS)}) VALUES "
    for i in range(0, len(rows), per):
        part = rows[i : i + per]
        conn.execute(head + ", ".join(_INSERT_MARKS for _ in part), [v for r in part for v in r])


def _check_row(kind: str, row: Sequence[Any], expected_prev: str) -> list[Problem]:
    seq, body, prev, digest = int(row[0]), row[9], row[10], row[11]
    out = []
    if prev != expected_prev:
        out.append(Problem(kind, seq, "previous-hash link broken (record removed or reordered)"))
    if link_hash(prev, body) != digest:
        out.append(Problem(kind, seq, "hash does not match the record body (record altered)"))
    try:
        cols = columns(body)
    except (ValueError, KeyError) as exc:
        return [*out, Problem(kind, seq, f"unreadable body: {exc}")]
    stored = dict(
        zip(
            ("rid", "kind", "time", "tenant_id", "user_id", "request_id", "action", "categories"),
            row[1:9],
            strict=True,
        )
    )
    changed = sorted(k for k, v in cols.items() if stored[k] != v)
    if changed:
        out.append(Problem(kind, seq, f"columns differ from the body: {', '.join(changed)}"))
    return out


__all__ = ["GENESIS", "Problem", "RecordFilter", "Store"]
