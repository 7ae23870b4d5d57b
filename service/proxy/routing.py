"""Canonical routing: a request path -> its gateway route.

The path is canonicalised before anything is matched, and the canonical path is what the
upstream receives, so the upstream serves exactly what was screened:

- percent-escapes decoded once (invalid UTF-8 or control characters: 400 ``invalid_path``),
- empty segments (``//``) and a trailing slash dropped, ``.``/``..`` segments resolved,
- matched case-insensitively (fixed segments are forwarded in lower case, names and ids keep
  their case).

Route kinds:

- ``protocol``: a wire protocol the gateway understands (an adapter in ``protocols``), at its
  own path behind any of the common prefixes (``/v1``, Azure ``/openai/deployments/<name>``,
  ``/v1/deployments/<name>``, ``/openai/v1``, ``/api/v1``, ``/compatible-mode/v1`` ...);
- ``no_text``: the documented allow-list of routes that carry no text (model lists, Ollama
  tags), relayed unscreened;
- ``generic``: everything else under a gateway namespace, screened both ways by the generic
  text walker (``proxy.passthrough = "refuse"`` refuses them instead);
- ``service``: the gateway's own routes under those namespaces (``/v1/moderations``...).

Refused outright (403 ``unscreenable_route``): the Realtime API over HTTP (``realtime/...``:
WebRTC calls and the ephemeral keys, ``client_secrets``, ``sessions``, with which a client
talks to the model API directly, where the gateway sees nothing) and the parts of an Uploads
API file (a term split over two parts is in neither; upload through ``files``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from service.errors import BadRequest, Forbidden

from .protocols import Adapter, by_name
from .walker import ident

__all__ = ["Route", "canonical_segments", "resolve"]


class InvalidPath(BadRequest):
    """The request path cannot be canonicalised."""

    code = "invalid_path"


class UnscreenableRoute(Forbidden):
    """A route whose text the gateway cannot see whole (it is refused, not relayed)."""

    code = "unscreenable_route"


@dataclass(frozen=True, slots=True)
class Route:
    kind: str  # "protocol" | "generic" | "no_text" | "service"
    path: str  # canonical path, percent-encoded for the wire
    family: str  # "openai" | "anthropic" | "ollama": error envelope and key header
    adapter: Adapter | None = None
    takes_media: bool = False  # media parts/payloads in requests are accepted
    template: str = ""  # a stable name for metrics


# Prefixes (lower case; "*" is one name segment, e.g. an Azure deployment) per family.
_OPENAI_PREFIXES = (
    "v1",
    "openai",
    "openai/v1",
    "openai/deployments/*",
    "v1/deployments/*",
    "deployments/*",
    "api/v1",  # OpenRouter
    "api/v3",  # Volcengine Ark
    "api/paas/v4",  # Zhipu
    "compatible-mode/v1",  # DashScope
    "v1beta/openai",  # Gemini
)
_ANTHROPIC_PREFIXES = ("v1", "anthropic/v1", "api/anthropic/v1")
_OLLAMA_PREFIXES = ("", "ollama")

# adapter name -> the path its metrics are labeled with
_TEMPLATES = {
    "openai_chat": "/v1/chat/completions",
    "images": "/v1/images/generations",
    "image_edits": "/v1/images/edits",
    "speech": "/v1/audio/speech",
    "openai_completions": "/v1/completions",
    "openai_responses": "/v1/responses",
    "embeddings": "/v1/embeddings",
    "anthropic_messages": "/v1/messages",
    "ollama_chat": "/api/chat",
    "ollama_generate": "/api/generate",
    "ollama_embed": "/api/embed",
    "videos": "/v1/videos",
    "video_jobs": "/v1/videos/{id}",
    "video_sync": "/v1/videos/sync",
    "video_content": "/v1/videos/{id}/content",
}

# tail -> adapter name, per family; longer tails are tried first
_TAILS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("chat/completions", "openai_chat", _OPENAI_PREFIXES, "openai"),
    ("images/generations", "images", _OPENAI_PREFIXES, "openai"),
    ("images/edits", "image_edits", _OPENAI_PREFIXES, "openai"),
    ("images/variations", "image_edits", _OPENAI_PREFIXES, "openai"),
    ("audio/speech", "speech", _OPENAI_PREFIXES, "openai"),
    ("completions", "openai_completions", _OPENAI_PREFIXES, "openai"),
    ("responses", "openai_responses", _OPENAI_PREFIXES, "openai"),
    ("embeddings", "embeddings", _OPENAI_PREFIXES, "openai"),
    ("messages", "anthropic_messages", _ANTHROPIC_PREFIXES, "anthropic"),
    ("api/chat", "ollama_chat", _OLLAMA_PREFIXES, "ollama"),
    ("api/generate", "ollama_generate", _OLLAMA_PREFIXES, "ollama"),
    ("api/embed", "ollama_embed", _OLLAMA_PREFIXES, "ollama"),
    ("api/embeddings", "ollama_embed", _OLLAMA_PREFIXES, "ollama"),
)

# Video generation (OpenAI Videos API shape): (methods, tail, adapter name), first match wins;
# "*" is an id, forwarded as sent. Other video paths (DELETE, characters) stay generic.
_VIDEO = (
    (("POST",), "videos", "videos"),
    (("POST",), "videos/generations", "videos"),  # vLLM-Omni before /v1/videos
    (("POST",), "videos/edits", "videos"),
    (("POST",), "videos/extensions", "videos"),
    (("POST",), "videos/sync", "video_sync"),  # vLLM-Omni: the video is the answer
    (("POST",), "videos/*/remix", "videos"),
    (("GET", "HEAD"), "videos", "video_jobs"),
    (("GET", "HEAD"), "videos/*", "video_jobs"),
    (("GET",), "videos/*/content", "video_content"),  # HEAD: generic (no body to label)
)

# Generic routes whose requests may carry media files (multipart uploads).
_MEDIA_TAILS = ("audio/transcriptions", "audio/translations", "files")

# The allow-list: GET/HEAD routes that carry no text, relayed unscreened. File contents are
# NOT here: a batch output file is JSONL full of model text, so downloads are screened (JSON,
# JSONL and text) and only binary media passes.
_NO_TEXT = (
    ("models", _OPENAI_PREFIXES),
    ("models/*", _OPENAI_PREFIXES),
    ("api/tags", _OLLAMA_PREFIXES),
    ("api/ps", _OLLAMA_PREFIXES),
    ("api/version", _OLLAMA_PREFIXES),
)

# The service's own routes inside the gateway namespaces (handled by the app, not proxied).
_SERVICE = ("v1/moderations", "v1/aigc/files/*")

_NAMESPACES = frozenset(
    p.split("/")[0] for p in _OPENAI_PREFIXES + _ANTHROPIC_PREFIXES + _OLLAMA_PREFIXES if p
) | {"api"}
_SAFE = "!$&'()*+,;=:@-._~"


def canonical_segments(raw_path: bytes | str) -> list[str]:
    """The path's segments after percent-decoding, dropping empty and resolving dot segments."""
    if isinstance(raw_path, str):
        raw_path = raw_path.encode("utf-8")
    try:
        path = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPath("The request path is not valid UTF-8 after percent-decoding.") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise InvalidPath("The request path contains control characters.")
    out: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return out


def _wire(segments: list[str]) -> str:
    return "/" + "/".join(quote(s, safe=_SAFE) for s in segments)


def _match(pattern: str, segs: list[str]) -> bool:
    parts = pattern.split("/") if pattern else []
    if len(parts) != len(segs):
        return False
    return all(p == "*" or p == s for p, s in zip(parts, segs, strict=True))


def _ends_with(segs: list[str], tail: str, prefixes: tuple[str, ...]) -> int:
    """Length of the prefix when ``segs`` is one of ``prefixes`` + ``tail``, else -1."""
    parts = tail.split("/")
    n = len(segs) - len(parts)
    if n < 0 or not _match(tail, segs[n:]):
        return -1
    return n if any(_match(p, segs[:n]) for p in prefixes) else -1


def _family(low: list[str]) -> str:
    if low[0] == "anthropic" or low[:2] == ["v1", "messages"] or low[:2] == ["api", "anthropic"]:
        return "anthropic"
    if low[0] == "ollama" or (low[0] == "api" and low[1:2] and low[1] not in ("v1", "v3", "paas")):
        return "ollama"
    return "openai"


def classify(method: str, segments: list[str]) -> Route | None:
    """The route of a canonical path; None when the path is not the gateway's."""
    low = [s.lower() for s in segments]
    if not low or low[0] not in _NAMESPACES:
        return None
    for pattern in _SERVICE:
        if _match(pattern, low):
            return Route("service", "/" + "/".join(low[:2] + segments[2:]), "openai")
    if "realtime" in low or "realtimeapi" in low:
        raise UnscreenableRoute(
            "The Realtime API is not available through the gateway: its calls and ephemeral "
            "keys let the client talk to the model API directly, unscreened."
        )
    if _ends_with(low, "uploads/*/parts", _OPENAI_PREFIXES) >= 0:
        raise UnscreenableRoute(
            "A file uploaded in parts cannot be screened whole (a term split over two parts "
            "is in neither); upload it through the files route."
        )
    if method == "POST":
        for tail, name, prefixes, family in _TAILS:
            n = _ends_with(low, tail, prefixes)
            if n >= 0:
                # fixed segments in lower case, names (deployments) as sent
                pattern = _prefix_for(low[:n], prefixes).split("/") if n else []
                fixed = [
                    s if p == "*" else s.lower() for p, s in zip(pattern, segments[:n], strict=True)
                ]
                adapter = by_name(name)
                return Route(
                    "protocol",
                    _wire(fixed + low[n:]),
                    family,
                    adapter,
                    adapter.takes_media,
                    _TEMPLATES[name],
                )
    for methods, tail, name in _VIDEO:
        n = _ends_with(low, tail, _OPENAI_PREFIXES) if method in methods else -1
        if n >= 0:
            pattern = (_prefix_for(low[:n], _OPENAI_PREFIXES) + "/" + tail).strip("/").split("/")
            fixed = [s if p == "*" else s.lower() for p, s in zip(pattern, segments, strict=True)]
            adapter = by_name(name)
            return Route(
                "protocol", _wire(fixed), "openai", adapter, adapter.takes_media, _TEMPLATES[name]
            )
    if method in ("GET", "HEAD"):
        for tail, prefixes in _NO_TEXT:
            parts = tail.split("/")
            n = len(low) - len(parts)
            if n >= 0 and _match(tail, low[n:]) and any(_match(p, low[:n]) for p in prefixes):
                if all(ident(s) for s in segments):  # a model id, not text: else screened
                    return Route(
                        "no_text", _wire(segments), _family(low), template="gateway:no_text"
                    )
    media = any(_ends_with(low, tail, _OPENAI_PREFIXES) >= 0 for tail in _MEDIA_TAILS)
    return Route("generic", _wire(segments), _family(low), None, media, "gateway:generic")


def _prefix_for(segs: list[str], prefixes: tuple[str, ...]) -> str:
    for p in prefixes:
        if _match(p, segs):
            return p
    return ""


_CACHE: dict[tuple[str, bytes], Route | None] = {}


def resolve(method: str, raw_path: bytes) -> Route | None:
    """``classify`` of the canonicalised path, memoised per (method, raw path)."""
    key = (method, raw_path)
    try:
        return _CACHE[key]
    except KeyError:
        pass
    route = classify(method, canonical_segments(raw_path))
    if len(_CACHE) > 4096:
        _CACHE.clear()
    _CACHE[key] = route
    return route
