"""Media outputs: generated images and speech are labeled before they reach the client.

A b64 image is labeled in place. A URL image is fetched only from the configured upstream's
host, with a size and a time limit, labeled, kept in a small in-memory store and served back
from the gateway (`GET /v1/aigc/files/{id}`). A file that cannot be labeled is never sent
unlabeled: the call fails with 502 `label_failed`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
import uuid
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from service.errors import UpstreamError

from .labels import label_media
from .protocols.base import iter_dicts

__all__ = ["FileStore", "label_images", "label_speech"]


class LabelFailed(UpstreamError):
    """The model API's output could not be labeled, so it is not delivered."""

    code = "label_failed"


class FileStore:
    """Labeled files served back by the gateway; bounded by count and age."""

    def __init__(self, max_files: int = 256, ttl_s: float = 3600.0) -> None:
        self.max_files = max_files
        self.ttl_s = ttl_s
        self._files: OrderedDict[str, tuple[float, bytes, str]] = OrderedDict()

    def put(self, data: bytes, media_type: str) -> str:
        file_id = uuid.uuid4().hex
        self._files[file_id] = (time.monotonic(), data, media_type)
        while len(self._files) > self.max_files:
            self._files.popitem(last=False)
        return file_id

    def get(self, file_id: str) -> tuple[bytes, str] | None:
        item = self._files.get(file_id)
        if item is None or time.monotonic() - item[0] > self.ttl_s:
            self._files.pop(file_id, None)
            return None
        return item[1], item[2]


def _label(call: Any, data: bytes, media_type: str | None, family: str) -> Any:
    """Label `data`, which must turn out to be of `family` ("image" or "audio")."""
    from labelers import LabelError

    try:
        out = label_media(data, media_type=media_type, plan=call.plan, produce_id=call.produce_id)
    except (LabelError, ImportError) as exc:
        raise LabelFailed(f"The generated file could not be labeled: {exc}") from exc
    if not out.media_type.startswith(family + "/"):
        raise LabelFailed(f"The model API returned {out.media_type}, not {family} content.")
    return out


def _gateway_base(scope: dict) -> str:
    host = "localhost"
    for name, value in scope.get("headers", []):
        if name == b"host":
            host = value.decode("latin-1")
            break
    return f"{scope.get('scheme', 'http')}://{host}"


async def _fetch(call: Any, url: str) -> tuple[bytes, str]:
    proxy = call.proxy
    base = getattr(call.tenant.upstream, "url", None) or call.runtime.upstream_url or ""
    want, got = urlsplit(base), urlsplit(url)
    if got.scheme not in ("http", "https") or (got.hostname, got.port) != (
        want.hostname,
        want.port,
    ):
        raise LabelFailed("An image URL outside the configured upstream host is not fetched.")
    settings = call.runtime.settings.proxy
    limit = settings.media_max_bytes
    try:
        async with asyncio.timeout(settings.media_timeout_s):
            resp = await proxy.client.session.get(url, allow_redirects=False)
            try:
                if resp.status != 200:
                    raise LabelFailed(f"The image URL answered HTTP {resp.status}.")
                chunks, size = [], 0
                async for chunk in resp.content.iter_chunked(65536):
                    size += len(chunk)
                    if size > limit:
                        raise LabelFailed(f"The image at the URL is larger than {limit} bytes.")
                    chunks.append(chunk)
                return b"".join(chunks), resp.headers.get("content-type", "")
            finally:
                resp.release()
    except TimeoutError:
        raise LabelFailed("Fetching the image URL took too long.") from None
    except LabelFailed:
        raise
    except Exception as exc:  # aiohttp.ClientError and friends
        raise LabelFailed(f"Fetching the image URL failed: {type(exc).__name__}.") from exc


async def label_images(call: Any, body: dict) -> None:
    """Label every image of an images response in place."""
    for item in iter_dicts(body.get("data")):
        if isinstance(item.get("b64_json"), str):
            try:
                raw = base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise LabelFailed("The model API returned an invalid base64 image.") from None
            out = await asyncio.to_thread(_label, call, raw, None, "image")
            item["b64_json"] = base64.b64encode(out.data).decode("ascii")
            call.media_labeled.append((call.produce_id, out.media_type, out.explicit))
        elif isinstance(item.get("url"), str):
            raw, ctype = await _fetch(call, item["url"])
            out = await asyncio.to_thread(_label, call, raw, ctype.split(";")[0] or None, "image")
            file_id = call.proxy.files.put(out.data, out.media_type)
            item["url"] = f"{_gateway_base(call.scope)}/v1/aigc/files/{file_id}"
            call.media_labeled.append((call.produce_id, out.media_type, out.explicit))


async def label_speech(call: Any, data: bytes, ctype: str) -> tuple[bytes, str, bytes]:
    """Label generated speech; returns (bytes, media type, x-aigc-label header value)."""
    from .labels import implicit_header

    out = await asyncio.to_thread(_label, call, data, ctype.split(";")[0] or None, "audio")
    call.media_labeled.append((call.produce_id, out.media_type, out.explicit))
    return out.data, out.media_type, implicit_header(call.plan, call.produce_id)
