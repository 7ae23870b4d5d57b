"""Structured JSON logs with request ids.

``RequestLogMiddleware`` (pure ASGI) gives every request an id (a sane incoming
``x-request-id`` is kept, else a new one), returns it as ``x-request-id``, puts it on
``scope["state"]["request_id"]`` and in a context variable so every log line of the request
carries it, and writes one access line when the response is done. Only method, path (no query
string), status, timing, tenant and client address are logged: never headers, keys or bodies.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from service.metrics import Metrics

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "aigc_request_id", default=None
)
access_log = logging.getLogger("aigc_gateway.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def logging_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict (also given to uvicorn) with JSON output."""
    lvl = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "service.logs.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "aigc_gateway": {"handlers": ["default"], "level": lvl, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": lvl, "propagate": False},
            "uvicorn.error": {"level": lvl},
            # our own access line replaces uvicorn's (which logs the query string)
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure_logging(level: str = "info") -> None:
    import logging.config

    logging.config.dictConfig(logging_config(level))


class RequestLogMiddleware:
    """Request id, access log line and request metrics, as pure ASGI (streams untouched)."""

    def __init__(self, app: Any, metrics: Metrics | None = None, access: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.access = access

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = incoming if incoming and _SANE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        status = 500
        started = time.perf_counter()
        header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if self.metrics is not None:
                self.metrics.observe_request(template, scope["method"], status, seconds)
            if self.access:
                state = scope.get("state", {})
                client = scope.get("client")
                access_log.info(
                    "request",
                    extra={
                        "request_id": rid,
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "tenant": state.get("tenant_id"),
                        "client": client[0] if client else None,
                    },
                )
            request_id_var.reset(token)
