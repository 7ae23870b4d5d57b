"""Append-only local spool: records the database could not take, replayed when it is back.

A spool is a directory. Each process appends to its own file ``spool-<pid>-<ns>-<n>.jsonl`` and
holds an ``flock`` on it while it lives, so several workers never write or replay the same
file at once, and a file left by a crashed process (its lock gone) is replayed by whichever
process gets to it first. One JSON line per record, ``{"kind": ..., "body": ...}``, flushed
and fsynced per batch; a torn last line (crash mid-write) is skipped. Replay is idempotent:
bodies carry a unique ``rid`` and the store skips ones it already has.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("aigc_gateway.records")

_counter = itertools.count()


class SpoolFull(Exception):
    """The spool reached its size limit."""


class Spool:
    """The spool directory ``root``; this process's files hold at most ``max_bytes``."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._fd: int | None = None
        self._path: Path | None = None
        self._dirty = False

    def files(self) -> list[Path]:
        """Spool files of the directory, oldest first."""
        found = []
        for path in self.root.glob("spool-*.jsonl") if self.root.is_dir() else ():
            try:
                found.append((path.stat().st_mtime_ns, path.name, path))
            except FileNotFoundError:  # replayed and removed meanwhile
                continue
        return [path for *_key, path in sorted(found)]

    @property
    def dirty(self) -> bool:
        """Written since the last fsync."""
        return self._dirty

    def size(self) -> int:
        """Bytes waiting in every spool file of the directory."""
        total = 0
        for path in self.files():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def own_size(self) -> int:
        return os.fstat(self._fd).st_size if self._fd is not None else 0

    def append(self, items: Sequence[tuple[Any, ...]], *, sync: bool = True) -> None:
        """Append records; raises ``SpoolFull`` (writing nothing) past ``max_bytes``.

        ``sync=False`` (the request path) leaves the fsync to the next ``sync()``.
        """
        if not items:
            return
        data = "".join(
            json.dumps({"kind": it[0], "body": it[1]}, ensure_ascii=False) + "\n" for it in items
        ).encode()
        if self.own_size() + len(data) > self.max_bytes:
            raise SpoolFull(f"records spool in {self.root} is full ({self.max_bytes} bytes)")
        if self._fd is None:
            self.root.mkdir(parents=True, exist_ok=True)
            # unique even when a restarted container reuses the pid of a crashed run
            path = self.root / f"spool-{os.getpid()}-{time.time_ns()}-{next(_counter)}.jsonl"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._fd, self._path = fd, path
        before = self.own_size()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            # a partial line (disk full) would swallow the next good line on replay: cut it
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, before)
            raise
        self._dirty = True
        if sync:
            self.sync()

    def probe(self, size: int = 64 * 1024) -> None:
        """Raise ``SpoolFull`` or ``OSError`` unless ``size`` more bytes can be written and
        fsynced here now (used to leave the "unrecordable" state)."""
        if self.own_size() + size > self.max_bytes:
            raise SpoolFull(f"records spool in {self.root} is full ({self.max_bytes} bytes)")
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f".probe-{os.getpid()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(bytes(size))
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()

    def sync(self) -> None:
        """fsync this process's spool file if anything was written since the last one."""
        if self._fd is not None and self._dirty:
            os.fsync(self._fd)
        self._dirty = False

    def rotate(self) -> None:
        """Close this process's file so that replay may take it; the next append starts anew."""
        if self._fd is not None:
            self.sync()
            os.close(self._fd)  # releases the flock
            self._fd = self._path = None

    def claim(self) -> Iterator[tuple[Path, int]]:
        """Spool files no live process holds, each locked for the caller: ``(path, fd)``.

        The caller replays ``read(fd)`` and then calls ``done(path, fd)``, or ``release(fd)``.
        """
        for path in self.files():
            if path == self._path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            if not path.exists():  # replayed and removed by another process meanwhile
                os.close(fd)
                continue
            yield path, fd

    @staticmethod
    def read(fd: int, chunk: int) -> Iterator[list[tuple[str, str]]]:
        """Records of one claimed file in order, ``chunk`` at a time."""
        batch: list[tuple[str, str]] = []
        with os.fdopen(os.dup(fd), "rb") as handle:
            handle.seek(0)
            for number, line in enumerate(handle, 1):
                try:
                    item = json.loads(line)
                    batch.append((str(item["kind"]), str(item["body"])))
                except (ValueError, KeyError, TypeError):
                    log.warning("skipping unreadable spool line %d", number)
                    continue
                if len(batch) >= chunk:
                    yield batch
                    batch = []
        if batch:
            yield batch

    @staticmethod
    def done(path: Path, fd: int) -> None:
        """The claimed file is replayed: remove it, then release it."""
        try:
            path.unlink()
        finally:
            os.close(fd)

    @staticmethod
    def release(fd: int) -> None:
        os.close(fd)

    def close(self) -> None:
        self.rotate()
