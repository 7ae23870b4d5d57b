"""``aigc-gateway serve``: run the gateway with uvicorn (one process or ``--workers N``)."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from service.config import ENV_PREFIX, ConfigError, Settings, load_settings

log = logging.getLogger("aigc_gateway.serve")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the gateway (proxy, /moderate, /v1/moderations, /label, admin, metrics)",
        description="Run the gateway. Every flag also has an environment variable "
        f"{ENV_PREFIX}<NAME> and a key in the --config TOML file.",
    )
    p.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML config file (env AIGC_GATEWAY_CONFIG)"
    )
    p.add_argument("--host", metavar="H", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, metavar="P", help="port (default 8080)")
    p.add_argument("--workers", type=int, metavar="N", help="uvicorn worker processes (default 1)")
    p.add_argument(
        "--upstream", metavar="URL", help="model API base URL, e.g. https://api.openai.com"
    )
    p.add_argument(
        "--lexicons",
        action="append",
        type=Path,
        metavar="DIR",
        help="lexicon directory (repeatable; default: the bundled sample lexicon)",
    )
    p.add_argument(
        "--database", metavar="URL", help="records database URL (default: SQLite file under ./var/)"
    )
    p.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="bearer token for /admin/* (16+ characters; prefer AIGC_GATEWAY_ADMIN_TOKEN, "
        "which ps does not show)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="start a built-in fake OpenAI-compatible upstream on loopback and use it",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        default=None,
        help="reload when lexicon files or the config file change",
    )
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = ("config", "host", "port", "workers", "upstream", "lexicons", "database")
    values: dict[str, Any] = {name: getattr(args, name, None) for name in names}
    values["admin_token"] = args.admin_token
    values["demo"] = args.demo
    values["watch"] = args.watch
    values["log_level"] = args.log_level
    return {k: v for k, v in values.items() if v is not None}


def _to_env(overrides: dict[str, Any]) -> None:
    """Hand CLI overrides to worker processes, which read settings from the environment."""
    for key, value in overrides.items():
        if isinstance(value, list):
            text = os.pathsep.join(str(v) for v in value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        os.environ[ENV_PREFIX + key.upper()] = text


def _start_demo_upstream() -> Any:
    try:
        from service.demo_upstream import run_in_background
    except ModuleNotFoundError as exc:
        if exc.name != "service.demo_upstream":
            raise
        log.warning("service.demo_upstream is not available; no upstream for the proxy")
        return None
    return run_in_background("127.0.0.1", 0)


def _prepare_multiprocess_metrics(settings: Settings) -> None:
    from service.metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        return
    path = (settings.data_dir / "prometheus").resolve()
    shutil.rmtree(path, ignore_errors=True)  # counters of a previous run must not add up
    path.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(path)


def run(args: argparse.Namespace) -> int:
    """Validate settings, bind the port, start the demo upstream if needed, then serve."""
    from service.logs import configure_logging

    overrides = _overrides(args)
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(f"aigc-gateway serve: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)

    from service.server import BindError, bind

    # Bind first: a port in use is one line, before anything starts or says "serving on".
    try:
        sock = bind(settings.host, settings.port)
    except BindError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with sock:
        return _serve(settings, overrides, sock)


def _serve(settings: Settings, overrides: dict[str, Any], sock: socket.socket) -> int:
    from service.logs import logging_config
    from service.server import descriptors
    from service.server import run as run_server

    demo = None
    if settings.demo or settings.upstream is None:
        demo = _start_demo_upstream()
        if demo is not None:  # no model API configured: this is the demo case of DESIGN §3.1
            overrides["upstream"] = demo.url
            overrides["demo"] = True
            settings = load_settings(**overrides)
            log.info("demo upstream started", extra={"url": demo.url})

    if (
        not settings.tenants
        and not settings.demo
        and settings.host not in ("127.0.0.1", "::1", "localhost")
    ):
        log.warning(
            "no tenants configured: authentication is off while listening on %s; "
            "configure [[tenants]] before exposing the gateway",
            settings.host,
        )

    if settings.labels.enabled and not settings.labels.producer_code:
        log.error(
            "labels.producer_code is not set: routes that deliver generated content (chat, "
            "images, speech, video) and /label answer 503 labels_not_configured for every "
            "tenant without its own code; set your TC260-PG-20252A provider code"
        )

    # Compile once here: fail fast with a clear message, and warm the on-disk cache so that
    # every worker starts from it.
    from service.runtime import build_snapshot

    try:
        snapshot = build_snapshot(settings)
    except (ValueError, OSError) as exc:
        print(f"aigc-gateway serve: cannot load lexicons: {exc}", file=sys.stderr)
        if demo is not None:
            demo.stop()
        return 2

    fds = descriptors(settings)
    log.info(
        "connection limits",
        extra={
            "open_files_before": fds.before,
            "open_files": fds.limit,
            "reserved_files": fds.reserve,
            "max_connections": fds.max_connections,
            "header_timeout_s": settings.limits.header_timeout_s,
            "max_header_bytes": settings.limits.max_header_bytes,
        },
    )
    common: dict[str, Any] = {
        "log_config": logging_config(settings.log_level),
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": 30,
    }
    port = sock.getsockname()[1]  # the port bound, also for --port 0
    print(
        f"aigc-gateway: serving on http://{_url_host(settings.host)}:{port} "
        f"(lexicon {snapshot.version}, {snapshot.lexicon.term_count} terms, "
        f"workers {settings.workers}, upstream {settings.upstream or 'none'})",
        file=sys.stderr,
        flush=True,
    )
    try:
        if settings.workers == 1:
            from service.app import create_app

            app = create_app(settings, snapshot=snapshot)
            run_server(app, settings, sock, fds.max_connections, **common)
        else:
            del snapshot
            _prepare_multiprocess_metrics(settings)
            _to_env(overrides)
            run_server(
                "service.app:app_from_env",
                settings,
                sock,
                fds.max_connections,
                factory=True,
                **common,
            )
    finally:
        if demo is not None:
            demo.stop()
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
