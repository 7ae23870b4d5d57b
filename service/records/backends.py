"""Database backends behind one small interface: SQLite (default) and PostgreSQL (asyncpg).

Both speak the same SQL (written with ``?`` placeholders; the PostgreSQL backend renumbers them
to ``$1..$n``). ``transaction()`` yields a ``Tx`` with ``execute``, ``executemany`` and
``fetch``; a transaction that writes takes the database's write lock at once (SQLite ``BEGIN
IMMEDIATE``), so several processes sharing one file serialise their appends.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "Backend",
    "DatabaseMissing",
    "PostgresBackend",
    "SqliteBackend",
    "Tx",
    "backend_for_url",
    "redacted",
    "sqlite_path",
]

Row = tuple[Any, ...]

log = logging.getLogger("aigc_gateway.records")


class Tx(ABC):
    """One open transaction."""

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; returns the number of rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Run a query; all rows as tuples."""

    async def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert many rows (PostgreSQL: one COPY; SQLite: executemany)."""
        marks = ", ".join("?" for _ in columns)
        await self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


class Backend(ABC):
    """A connection (pool) to one database."""

    dialect: str
    url: str
    read_only: bool = False  # never write (the read commands)
    create: bool = True  # may create the database and its tables

    @abstractmethod
    async def open(self) -> None:
        """Connect; raises ``OSError`` or the driver's error when the database is unreachable."""

    @abstractmethod
    async def close(self) -> None:
        """Close every connection."""

    @abstractmethod
    def transaction(self, *, write: bool = True) -> Any:
        """``async with backend.transaction() as tx``: commit on success, roll back on error."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self.transaction(write=False) as tx:
            return await tx.fetch(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, *args)


def sqlite_path(url: str) -> Path:
    """``sqlite:///var/x.db`` -> ``var/x.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite URL (want sqlite:///PATH): {url!r}")
    path = url[len("sqlite:///") :]
    if not path:
        raise ValueError("the SQLite URL names no file")
    return Path(path)


def backend_for_url(
    url: str, *, durable: bool = True, read_only: bool = False, create: bool = True
) -> Backend:
    """The backend for a database URL: ``sqlite:///PATH`` or ``postgresql://...``.

    ``durable``: every commit reaches the disk before it returns (SQLite ``synchronous =
    FULL``, PostgreSQL ``synchronous_commit = on``), not only the OS's cache.
    ``create=False``: a missing database (no SQLite file, no records schema) is an error
    (``DatabaseMissing``), never created. ``read_only``: also change nothing (read commands).
    """
    create = create and not read_only
    if url.startswith("sqlite:"):
        return SqliteBackend(sqlite_path(url), durable=durable, read_only=read_only, create=create)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(url, durable=durable, read_only=read_only, create=create)
    raise ValueError(f"unsupported database URL (use sqlite:///PATH or postgresql://...): {url!r}")


_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)


def redacted(text: str) -> str:
    """``text`` with the credentials of any URL in it hidden (``scheme://***@host``)."""
    return _CREDENTIALS.sub(r"\1***@", text)


class DatabaseMissing(OSError):
    """A read-only open found no database (no file, or no records schema in it)."""


BUSY_TIMEOUT_S = 15.0  # how long a SQLite statement waits for another process's lock


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_BUSY
    return "database is locked" in str(exc)


def _enable_wal(conn: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA journal_mode = WAL``, waiting for other connections like any statement does.

    Switching a file to WAL takes an exclusive lock, and SQLite does not call the busy
    handler for it: when another process opens (and switches) the same new file at the same
    moment, the pragma fails at once with ``database is locked``. Retry it for as long as
    ``busy_timeout`` would have waited.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.001
    while True:
        try:
            row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            break
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    mode = str(row[0]).lower() if row else "?"
    if mode != "wal":
        log.warning("records SQLite %s: journal mode is %s, not wal", path, mode)


class _SqliteThread:
    """The one thread that uses a SQLite connection: runs ``fn(conn)`` jobs in order.

    Lighter than a ``ThreadPoolExecutor`` hop (no concurrent future, no chained callbacks):
    a job's outcome reaches the event loop in one ``call_soon_threadsafe``. It matters on the
    append path, one hop per group commit, while the event loop is busy with requests.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Any, conn: sqlite3.Connection | None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._jobs.put((fn, conn, done, loop))
        return done

    def stop(self) -> None:
        """Finish the jobs already queued, then end the thread (``join`` waits for it)."""
        self._jobs.put(None)

    def join(self) -> None:
        self._thread.join()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, conn, done, loop = job
            try:
                out, exc = fn(conn), None
            except BaseException as error:  # handed to the awaiting task, as an executor does
                out, exc = None, error
            try:
                loop.call_soon_threadsafe(_settle, done, out, exc)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass
            del job, fn, done, out, exc  # drop references before waiting for the next job


def _settle(done: asyncio.Future[Any], out: Any, exc: BaseException | None) -> None:
    if done.cancelled():
        return
    if exc is not None:
        done.set_exception(exc)
    else:
        done.set_result(out)


class _SqliteTx(Tx):
    def __init__(self, backend: SqliteBackend) -> None:
        self._b = backend

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._b._run(lambda c: c.execute(sql, args).rowcount)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._b._run(lambda c: c.executemany(sql, rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._b._run(lambda c: [tuple(r) for r in c.execute(sql, args).fetchall()])


class SqliteBackend(Backend):
    """One SQLite file in WAL mode; one connection used from one dedicated thread."""

    dialect = "sqlite"

    def __init__(
        self,
        path: Path | str,
        *,
        durable: bool = True,
        read_only: bool = False,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.durable = durable
        self.read_only = read_only
        self.create = create and not read_only
        self._conn: sqlite3.Connection | None = None
        self._thread: _SqliteThread | None = None
        self._lock = asyncio.Lock()

    def _connect(self) -> sqlite3.Connection:
        if not self.create and not self.path.is_file():
            raise DatabaseMissing(f"no records database at {self.path}")
        if self.read_only:
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(conn, self.path)
            # FULL: a commit is on the disk (WAL fsynced) when it returns, not only in the
            # OS cache; NORMAL survives a process crash but not a power cut
            conn.execute(f"PRAGMA synchronous = {'FULL' if self.durable else 'NORMAL'}")
        except BaseException:
            conn.close()
            raise
        return conn

    async def open(self) -> None:
        if self._conn is not None:
            return
        thread = _SqliteThread("records-sqlite")
        connect = self._connect
        try:
            self._conn = await thread.run(lambda _conn: connect(), None)
        except BaseException:
            thread.stop()
            raise
        self._thread = thread

    async def close(self) -> None:
        conn, thread = self._conn, self._thread
        self._conn = self._thread = None
        if conn is not None and thread is not None:
            await thread.run(lambda c: c.close(), conn)
        if thread is not None:
            thread.stop()
            thread.join()

    async def _run(self, fn: Any) -> Any:
        if self._conn is None or self._thread is None:
            raise sqlite3.OperationalError("SQLite store is not open")
        return await self._thread.run(fn, self._conn)

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        async with self._lock:  # one connection: no interleaving of two transactions
            await self._run(lambda c: c.execute("BEGIN IMMEDIATE" if write else "BEGIN"))
            try:
                yield _SqliteTx(self)
            except BaseException:
                await self._run(lambda c: c.execute("ROLLBACK"))
                raise
            await self._run(lambda c: c.execute("COMMIT"))

    async def run_transaction(self, fn: Any, *, on_commit: Any = None) -> Any:
        """``fn(connection)`` inside one write transaction, in one hop to the SQLite thread
        (the append path: a statement per hop would cost more than the statements).
        ``on_commit(result)`` runs in that thread once the transaction is committed, before
        any other job, even when the caller has stopped waiting (cancelled, timed out)."""

        def job(conn: sqlite3.Connection) -> Any:
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            if on_commit is not None:
                try:
                    on_commit(out)
                except Exception:  # committed all the same: the caller must not think otherwise
                    log.exception("records: after-commit callback failed")
            return out

        async with self._lock:
            return await self._run(job)


_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)


class _PgTx(Tx):
    def __init__(self, conn: Any) -> None:
        self._c = conn

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._c.execute(_numbered(sql), *args)
        tail = status.rsplit(" ", 1)[-1] if status else ""
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._c.executemany(_numbered(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [tuple(r) for r in await self._c.fetch(_numbered(sql), *args)]

    async def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        await self._c.copy_records_to_table(table, records=rows, columns=list(columns))


class PostgresBackend(Backend):
    """A small asyncpg pool; ``schema`` (optional) is put first on the search path."""

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        timeout_s: float = 5.0,
        durable: bool = True,
        read_only: bool = False,
        create: bool = True,
    ) -> None:
        self.url = url
        self.schema = schema
        self.timeout_s = timeout_s
        self.durable = durable
        self.read_only = read_only
        self.create = create and not read_only
        self._pool: Any = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        import asyncpg

        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=1,
            max_size=4,
            timeout=self.timeout_s,
            command_timeout=30,
            server_settings=self._server_settings(),
        )

    def _server_settings(self) -> dict[str, str] | None:
        settings: dict[str, str] = {}
        if self.schema:
            settings["search_path"] = f'"{self.schema}"'
        if self.durable:  # whatever the server's default: a commit is flushed when it returns
            settings["synchronous_commit"] = "on"
        if self.read_only:
            settings["default_transaction_read_only"] = "on"
        return settings or None

    async def connect(self) -> Any:
        """A dedicated connection outside the pool (``LISTEN`` for sanction notices)."""
        import asyncpg

        return await asyncpg.connect(
            self.url, timeout=self.timeout_s, server_settings=self._server_settings()
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=self.timeout_s)
            except (TimeoutError, OSError):
                pool.terminate()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        if self._pool is None:
            await self.open()
        # read-only transactions see one snapshot (verify must not see half an append)
        mode = {} if write else {"isolation": "repeatable_read", "readonly": True}
        async with self._pool.acquire(timeout=self.timeout_s) as conn, conn.transaction(**mode):
            yield _PgTx(conn)
