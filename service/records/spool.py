"""Append-only local spool: records the database could not take, replayed when it is back.

A spool is a directory. Each process appends to its own file ``spool-<pid>-<n>.jsonl`` and
holds an ``flock`` on it while it lives, so several workers never write or replay the same
file at once, and a file left by a crashed process (its lock gone) is replayed by whichever
process gets to it first. One JSON line per record, ``{"kind": ..., "body": ...}``, flushed
and fsynced per batch; a torn last line (crash mid-write) is skipped. Replay is idempotent:
bodies carry a unique ``rid`` and the store skips ones it already has.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
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
        try:
            return sorted(self.root.glob("spool-*.jsonl"), key=lambda p: p.stat().st_mtime)
        except FileNotFoundError:
            return []

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
            path = self.root / f"spool-{os.getpid()}-{next(_counter)}.jsonl"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._fd, self._path = fd, path
        os.write(self._fd, data)
        self._dirty = True
        if sync:
            self.sync()

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
