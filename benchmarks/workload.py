"""What a load test sends and where: settings, target checks, prompt sets, request bodies.

``LoadConfig`` describes one load level; ``load_prompts`` reads a JSONL prompt set;
``build_body``/``build_headers`` encode a prompt for the OpenAI, Anthropic or Ollama API.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

__all__ = [
    "API_PATHS",
    "DEFAULT_PROMPTS",
    "LoadConfig",
    "LoadError",
    "build_body",
    "build_headers",
    "check_target",
    "endpoint_url",
    "load_prompts",
]

API_PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "ollama": "/api/chat"}
DEFAULT_PROMPTS = Path(__file__).parent / "data" / "prompts.jsonl"
MAX_DURATION = 24 * 3600.0
MAX_REQUESTS = 100_000_000


class LoadError(ValueError):
    """Bad load-test input (target, prompts, options): the message says what to fix."""


# --------------------------------------------------------------------------- configuration


@dataclass
class LoadConfig:
    """One load level. Exactly one of ``concurrency`` (closed loop) or ``rate`` (open loop)."""

    target: str
    api: str = "openai"
    stream: bool = False
    concurrency: int | None = None  # 1 when ``rate`` is not given either
    rate: float | None = None
    duration: float | None = 10.0
    requests: int | None = None
    prompts: list[list[dict[str, Any]]] = field(default_factory=list)
    api_key: str | None = None
    model: str = "demo-model"
    max_tokens: int = 256
    timeout: float = 60.0
    max_inflight: int = 1024
    warmup: float = 0.0
    path: str | None = None
    label_header: str | None = None
    allow_remote: bool = False
    engine: str = "auto"  # "raw" (httptools, plain http), "aiohttp", or "auto": raw for http
    start_at: float | None = None  # wall-clock time.time() to start at (several processes)

    def __post_init__(self) -> None:
        if self.concurrency is None and self.rate is None:
            self.concurrency = 1

    def validate(self) -> None:
        """Raise ``LoadError`` for out-of-range or contradictory settings."""
        if self.api not in API_PATHS:
            raise LoadError(f"--api must be one of {', '.join(API_PATHS)}")
        if (self.concurrency is None) == (self.rate is None):
            raise LoadError("give exactly one of --concurrency and --rate")
        if self.concurrency is not None and not 1 <= self.concurrency <= 100_000:
            raise LoadError("--concurrency must be between 1 and 100000")
        if self.rate is not None and not 0 < self.rate <= 1_000_000:
            raise LoadError("--rate must be > 0 and at most 1000000 requests/s")
        if self.duration is None and self.requests is None:
            raise LoadError("give --duration or --requests (the run must be bounded)")
        if self.duration is not None and not 0 < self.duration <= MAX_DURATION:
            raise LoadError(f"--duration must be > 0 and at most {MAX_DURATION:.0f} s")
        if self.requests is not None and not 1 <= self.requests <= MAX_REQUESTS:
            raise LoadError(f"--requests must be between 1 and {MAX_REQUESTS}")
        if not 0 < self.timeout <= 3600 or self.warmup < 0 or self.max_inflight < 1:
            raise LoadError("--timeout must be in (0, 3600], --warmup >= 0, --max-inflight >= 1")
        if not self.prompts:
            raise LoadError("no prompts to send")
        if self.engine not in ("auto", "raw", "aiohttp"):
            raise LoadError("--engine must be auto, raw or aiohttp")
        if self.engine == "raw" and not self.url.startswith("http://"):
            raise LoadError("--engine raw speaks plain http only; use aiohttp for https")
        check_target(self.url, allow_remote=self.allow_remote)

    @property
    def url(self) -> str:
        return endpoint_url(self.target, self.api, self.path)

    @property
    def level(self) -> str:
        return f"c={self.concurrency}" if self.rate is None else f"rate={self.rate:g}/s"

    @property
    def resolved_engine(self) -> str:
        if self.engine == "auto":
            return "raw" if self.url.startswith("http://") else "aiohttp"
        return self.engine


def endpoint_url(target: str, api: str, path: str | None = None) -> str:
    """The request URL: ``target`` is a base URL (``http://host:port`` or ``.../v1``)."""
    try:
        parts = urlsplit(target)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError as exc:
        raise LoadError(f"--target {target!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadError(f"--target must be an http(s) URL with a host, got {target!r}")
    base = target.rstrip("/")
    if path:
        return base + "/" + path.lstrip("/")
    endpoint = API_PATHS[api]
    if base.endswith(endpoint):
        return base
    if base.endswith("/v1") and endpoint.startswith("/v1/"):
        base = base[: -len("/v1")]
    return base + endpoint


def check_target(url: str, *, allow_remote: bool) -> None:
    """Refuse a target that is not a loopback address unless ``allow_remote``.

    Every address the host name resolves to must be loopback, so a name that points
    elsewhere cannot slip through.
    """
    host = urlsplit(url).hostname
    if not host:
        raise LoadError(f"target {url!r} has no host")
    if allow_remote:
        return
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise LoadError(f"cannot resolve target host {host!r}: {exc}") from None
    addresses = {info[4][0] for info in infos}
    remote = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback)
    if remote:
        raise LoadError(
            f"target {host} resolves to non-loopback address {', '.join(remote)}; "
            "load-testing another machine needs --allow-remote (make sure you may)"
        )


def load_prompts(path: str | os.PathLike[str] | None = None) -> list[list[dict[str, Any]]]:
    """Read a JSONL prompt set: one ``{"messages": [...]}`` or ``{"prompt": "..."}`` a line.

    Returns chat message lists. Blank lines and lines starting with ``#`` are skipped; other
    keys (such as ``"expect"``) are ignored. ``None`` is the bundled mixed set.
    """
    file = Path(path) if path is not None else DEFAULT_PROMPTS
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot read prompts file {file}: {exc}") from None
    prompts = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{file}:{number}"
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise LoadError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(item, dict):
            raise LoadError(f"{where}: each line must be a JSON object")
        if "messages" in item:
            messages = item["messages"]
            if not (
                isinstance(messages, list)
                and messages
                and all(isinstance(m, dict) and "role" in m and "content" in m for m in messages)
            ):
                raise LoadError(
                    f"{where}: 'messages' must be a non-empty list of {{role, content}}"
                )
        elif isinstance(item.get("prompt"), str):
            messages = [{"role": "user", "content": item["prompt"]}]
        else:
            raise LoadError(f"{where}: needs 'messages' (list) or 'prompt' (string)")
        prompts.append(messages)
    if not prompts:
        raise LoadError(f"{file}: no prompts")
    return prompts


# --------------------------------------------------------------------------- request bodies


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def build_body(cfg: LoadConfig, messages: list[dict[str, Any]]) -> bytes:
    """The request body for ``cfg.api`` (pre-encoded once per prompt)."""
    if cfg.api == "openai":
        body: dict[str, Any] = {"model": cfg.model, "messages": messages, "stream": cfg.stream}
        if cfg.stream:
            body["stream_options"] = {"include_usage": True}
    elif cfg.api == "anthropic":
        system = "\n".join(_text(m["content"]) for m in messages if m["role"] == "system")
        turns = [m for m in messages if m["role"] != "system"]
        body = {
            "model": cfg.model,
            "max_tokens": cfg.max_tokens,
            "messages": turns,
            "stream": cfg.stream,
        }
        if system:
            body["system"] = system
    else:
        body = {
            "model": cfg.model,
            "messages": [{**m, "content": _text(m["content"])} for m in messages],
            "stream": cfg.stream,
        }
    return orjson.dumps(body)


def build_headers(cfg: LoadConfig) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if cfg.api == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
        if cfg.api_key:
            headers["x-api-key"] = cfg.api_key
    elif cfg.api_key:
        headers["Authorization"] = f"Bearer {cfg.api_key}"
    return headers
