"""Reload triggers: ``POST /admin/reload``, SIGHUP, file watching, and the worker stamp.

Every trigger calls ``safe_reload``: a failure is logged and counted and the previous
lexicon and policies stay in service. With several workers an admin reload only reaches one
of them, so it also rewrites ``<data_dir>/reload.stamp``; every worker polls that file's
mtime and follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from service.metrics import Metrics
from service.runtime import ReloadResult, Runtime

log = logging.getLogger("aigc_gateway.reload")


def stamp_path(runtime: Runtime) -> Path:
    return runtime.settings.data_dir / "reload.stamp"


async def safe_reload(
    runtime: Runtime, metrics: Metrics | None, source: str
) -> ReloadResult | None:
    """Reload; on failure log, count and keep the current snapshot. Never raises."""
    try:
        result = await runtime.reload()
    except Exception as exc:
        log.error(
            "reload failed, previous lexicon kept", extra={"source": source, "error": str(exc)}
        )
        if metrics is not None:
            metrics.reloads.labels(outcome="failed").inc()
        return None
    if metrics is not None:
        metrics.reloads.labels(outcome="ok").inc()
    log.info("reload done", extra={"source": source, "version": result.version})
    return result


def write_stamp(runtime: Runtime) -> float:
    """Tell the other workers to reload; returns the stamp's new mtime."""
    path = stamp_path(runtime)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{time.time()}\n")
        return path.stat().st_mtime
    except OSError as exc:
        log.warning("cannot write reload stamp %s: %s", path, exc)
        return 0.0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@dataclass
class Triggers:
    """The background reload triggers of one worker."""

    tasks: list[asyncio.Task] = field(default_factory=list)
    sighup: bool = False
    stamp_seen: float = 0.0

    async def stop(self) -> None:
        if self.sighup:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _watch_paths(runtime: Runtime) -> list[Path]:
    s = runtime.settings
    paths = [*s.lexicons, *(d for dirs in s.lexicon_sets.values() for d in dirs)]
    if s.config is not None:
        paths.append(s.config)
    return [p for p in paths if p.exists()]


async def _watch_files(runtime: Runtime, metrics: Metrics, paths: list[Path]) -> None:
    from watchfiles import awatch

    interval_ms = int(runtime.settings.watch_interval_s * 1000)
    async for changes in awatch(*paths, step=min(interval_ms, 200), debounce=interval_ms):
        log.info("files changed", extra={"changes": len(changes)})
        await safe_reload(runtime, metrics, "watch")


async def _follow_stamp(runtime: Runtime, metrics: Metrics, triggers: Triggers) -> None:
    path = stamp_path(runtime)
    triggers.stamp_seen = _mtime(path)
    while True:
        await asyncio.sleep(runtime.settings.watch_interval_s)
        mtime = _mtime(path)
        if mtime > triggers.stamp_seen:
            triggers.stamp_seen = mtime
            await safe_reload(runtime, metrics, "stamp")


def start_triggers(runtime: Runtime, metrics: Metrics) -> Triggers:
    """Install SIGHUP (main thread only), file watching and the worker stamp poller."""
    triggers = Triggers()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(
            signal.SIGHUP,
            lambda: triggers.tasks.append(
                asyncio.ensure_future(safe_reload(runtime, metrics, "sighup"))
            ),
        )
        triggers.sighup = True
    except (ValueError, RuntimeError, NotImplementedError, AttributeError):
        pass  # not the main thread (tests) or no SIGHUP on this platform
    if runtime.settings.watch:
        paths = _watch_paths(runtime)
        if paths:
            triggers.tasks.append(asyncio.create_task(_watch_files(runtime, metrics, paths)))
        else:
            log.warning("watch is on but there are no lexicon directories or config file to watch")
    if runtime.settings.workers > 1:
        triggers.tasks.append(asyncio.create_task(_follow_stamp(runtime, metrics, triggers)))
    runtime.triggers = triggers
    return triggers


async def admin_reload(runtime: Runtime, metrics: Metrics | None) -> ReloadResult:
    """Reload now (errors propagate to the caller) and tell the other workers."""
    try:
        result = await runtime.reload()
    except Exception:
        if metrics is not None:
            metrics.reloads.labels(outcome="failed").inc()
        raise
    if metrics is not None:
        metrics.reloads.labels(outcome="ok").inc()
    if runtime.settings.workers > 1:
        mtime = write_stamp(runtime)
        triggers = getattr(runtime, "triggers", None)
        if triggers is not None:
            triggers.stamp_seen = max(triggers.stamp_seen, mtime)
    return result
