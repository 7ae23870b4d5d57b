"""Start the HTTP server: bind the port, make file-descriptor headroom, run uvicorn.

``serve`` binds the listening socket itself, before anything else starts, so that a port in
use is one clear error instead of a traceback after the "serving on" line; uvicorn gets the
bound socket (``fd=``) in one process or ``--workers N``. The soft ``RLIMIT_NOFILE`` is raised
to the hard limit (inherited by workers) and the connection cap is kept below it, with room
for upstream connections, the database, log and lexicon files. Every connection is served by
``service.limits.GatewayHttpProtocol`` through a ``ConnectionGuard``.
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass
from typing import Any

from service.config import Settings
from service.limits import ConnectionGuard, ConnectionLimits

try:
    import resource
except ImportError:  # not POSIX: the open-file limit is left as it is
    resource = None  # type: ignore[assignment]

log = logging.getLogger("aigc_gateway.serve")

# Descriptors kept free beside proxy.max_connections upstream connections: database, log,
# lexicon and label files, the demo upstream, metrics files, uvicorn's own pipes.
FD_RESERVE_OTHER = 256
# Never raise the soft limit past this, even when the hard limit is unlimited.
FD_CEILING = 1 << 20


class BindError(Exception):
    """The listening socket cannot be bound; the message is one line for the operator."""


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening: uvicorn does that)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BindError(f"port {port} on {host} is in use") from None
        reason = exc.strerror or str(exc)
        raise BindError(f"cannot listen on {host} port {port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True, slots=True)
class Descriptors:
    """The file-descriptor budget of each server process."""

    before: int  # soft RLIMIT_NOFILE found at start
    limit: int  # soft limit now (raised to the hard limit where allowed)
    reserve: int  # kept free for upstream connections, database and files
    max_connections: int  # the connection cap actually enforced


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; return (before, after)."""
    if resource is None:
        return FD_CEILING, FD_CEILING
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_CEILING if hard == resource.RLIM_INFINITY else min(hard, FD_CEILING)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # e.g. macOS caps below the hard limit
            return soft, soft
        return soft, target
    return soft, soft


def descriptors(settings: Settings) -> Descriptors:
    """Raise the fd limit and fit the connection cap under it (see the module doc)."""
    before, limit = raise_fd_limit()
    reserve = settings.proxy.max_connections + FD_RESERVE_OTHER
    wanted = settings.limits.max_connections
    # connections + refusals lingering (cap / 8 + 16, see ConnectionLimits) + reserve <= limit
    room = max(16, (limit - reserve - 16) * 8 // 9)
    cap = min(wanted, room)
    if cap < wanted:
        log.warning(
            "limits.max_connections lowered from %d to %d per worker to fit the open-file "
            "limit (%d, of which %d kept for upstream connections, database and files); "
            "raise it with `ulimit -n` or systemd's LimitNOFILE",
            wanted,
            cap,
            limit,
            reserve,
        )
    return Descriptors(before=before, limit=limit, reserve=reserve, max_connections=cap)


def connection_guard(settings: Settings, max_connections: int) -> ConnectionGuard:
    lim = settings.limits
    return ConnectionGuard(
        ConnectionLimits(
            max_connections=max_connections,
            max_header_bytes=lim.max_header_bytes,
            header_timeout_s=lim.header_timeout_s,
            linger_s=lim.linger_s,
            linger_max_bytes=lim.linger_max_bytes,
        )
    )


def run(
    app: Any,
    settings: Settings,
    sock: socket.socket,
    max_connections: int,
    **uvicorn_options: Any,
) -> None:
    """Serve ``app`` (an ASGI app, or an import string with ``factory=True`` for workers)
    on the bound ``sock`` until stopped."""
    import uvicorn

    uvicorn.run(
        app,
        fd=sock.fileno(),
        workers=settings.workers,
        http=connection_guard(settings, max_connections).protocol_factory(),  # type: ignore[arg-type]
        timeout_keep_alive=settings.limits.keep_alive_s,  # type: ignore[arg-type]
        **uvicorn_options,
    )
