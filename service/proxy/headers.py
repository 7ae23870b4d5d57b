"""Headers: what goes upstream (key injection, hop-by-hop removed) and what comes back.

Upstream answers are always asked for uncompressed (``accept-encoding: identity``): the gateway
must read what it relays. Only rate-limit, request-id and provider headers are relayed back, and
only values that are plain ASCII tokens the lexicon does not match: a header is a channel to the
client too, and no legitimate value of these headers is percent-encoded or non-ASCII.
"""

from __future__ import annotations

import re
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
# Visible ASCII and spaces, without "%" (an escape could spell any text) or "\\".
_TOKEN = re.compile(r"[ -$&-\[\]-~]*")


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


def relayed(resp: Any, lexicon: Any = None) -> list[tuple[bytes, bytes]]:
    """The upstream response headers the client gets (the upstream's id renamed): those whose
    value is a plain token and, with a ``lexicon``, none of whose terms it carries."""
    names: list[str] = []
    values: list[str] = []
    for name, value in resp.headers.items():
        low = name.lower()
        if low == "x-request-id":
            low = "x-upstream-request-id"
        elif low not in _RELAY and not low.startswith(_RELAY_PREFIXES):
            continue
        if _TOKEN.fullmatch(value):
            names.append(low)
            values.append(value)
    if values and lexicon is not None:
        names, values = _unmatched(lexicon, names, values)
    return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in zip(names, values, strict=True)]


def _unmatched(lexicon: Any, names: list[str], values: list[str]) -> tuple[list, list]:
    """The headers of which no lexicon match touches the value (one scan of them all)."""
    joined = "\n".join(values)
    matches = lexicon.scan(joined)
    if not matches:
        return names, values
    ends = []  # offset just past each value in ``joined``
    for value in values:
        ends.append((ends[-1] + 1 if ends else 0) + len(value))
    hit = set()
    for m in matches:
        first = next(i for i, end in enumerate(ends) if m.start < end)
        last = next(i for i, end in enumerate(ends) if m.end <= end)
        hit.update(range(first, last + 1))
    keep = [i for i in range(len(values)) if i not in hit]
    return [names[i] for i in keep], [values[i] for i in keep]
