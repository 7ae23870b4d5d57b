"""Headers: what goes upstream (key injection, hop-by-hop removed) and what comes back.

Upstream answers are always asked for uncompressed (``accept-encoding: identity``): the gateway
must read what it relays. Only rate-limit, request-id and provider headers are relayed back.
"""

from __future__ import annotations

from typing import Any

from multidict import CIMultiDict

__all__ = ["relayed", "upstream_headers", "upstream_url"]

_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
        "expect",
    }
)
_AUTH = frozenset({"authorization", "x-api-key", "api-key"})
_GATEWAY_ONLY = frozenset({"x-aigc-user", "x-request-id"})
_RELAY_PREFIXES = ("x-ratelimit-", "openai-", "anthropic-", "x-upstream-")
_RELAY = frozenset({"retry-after", "request-id"})


def upstream_url(base: str, path: str, query: bytes) -> str:
    url = base.rstrip("/") + path
    return url + "?" + query.decode("latin-1") if query else url


def upstream_headers(
    headers: list[tuple[str, str]],
    *,
    key: str | None,
    strip_auth: bool,
    key_header: str,
    content_type: str | None,
) -> CIMultiDict:
    """The request headers to forward; ``key`` is injected in ``key_header``."""
    out: CIMultiDict = CIMultiDict()
    for name, value in headers:
        if name in _HOP or name in _GATEWAY_ONLY or (strip_auth and name in _AUTH):
            continue
        if name == "content-type" and content_type is not None:
            continue
        out.add(name, value)
    if content_type is not None:
        out["content-type"] = content_type
    if key is not None:
        if key_header == "x-api-key":
            out["x-api-key"] = key
        else:
            out["authorization"] = f"Bearer {key}"
    out["accept-encoding"] = "identity"
    return out


def relayed(resp: Any) -> list[tuple[bytes, bytes]]:
    """The upstream response headers the client gets (the upstream's id renamed)."""
    out: list[tuple[bytes, bytes]] = []
    for name, value in resp.headers.items():
        low = name.lower()
        if low == "x-request-id":
            out.append((b"x-upstream-request-id", value.encode("latin-1")))
        elif low in _RELAY or low.startswith(_RELAY_PREFIXES):
            out.append((low.encode("latin-1"), value.encode("latin-1")))
    return out
