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

__all__ = ["FileStore", "UrlFetcher", "gateway_base", "label_images", "label_speech"]


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


def _label(data: bytes, media_type: str | None, family: str, plan: Any, produce_id: str) -> Any:
    """Label `data`, which must turn out to be of `family` ("image" or "audio")."""
    from labelers import LabelError

    try:
        out = label_media(data, media_type=media_type, plan=plan, produce_id=produce_id)
    except (LabelError, ImportError) as exc:
        raise LabelFailed(f"The generated file could not be labeled: {exc}") from exc
    if not out.media_type.startswith(family + "/"):
        raise LabelFailed(f"The model API returned {out.media_type}, not {family} content.")
    return out


class UrlFetcher:
    """Fetches generated images by URL, only from the configured upstream's host and port,
    within a size and a time limit."""

    def __init__(self, session: Any, upstream: str, max_bytes: int, timeout_s: float) -> None:
        self.session = session
        self.upstream = upstream
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, url: str) -> tuple[bytes, str]:
        want, got = urlsplit(self.upstream), urlsplit(url)
        if got.scheme not in ("http", "https") or (got.hostname, got.port) != (
            want.hostname,
            want.port,
        ):
            raise LabelFailed("An image URL outside the configured upstream host is not fetched.")
        limit = self.max_bytes
        try:
            async with asyncio.timeout(self.timeout_s):
                resp = await self.session.get(url, allow_redirects=False)
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


Labeled = tuple[str, str, bool]  # (content id, media type, explicit label added)


async def label_images(
    body: dict,
    *,
    plan: Any,
    produce_id: str,
    files: FileStore,
    gateway_base: str,
    fetch: Any,
) -> list[Labeled]:
    """Label every image of an images response in place; the labeled files, for records.

    ``fetch(url) -> (bytes, content type)`` brings URL results (``UrlFetcher``); they are
    served back from ``{gateway_base}/v1/aigc/files/{id}``.
    """
    done: list[Labeled] = []
    for item in iter_dicts(body.get("data")):
        if isinstance(item.get("b64_json"), str):
            try:
                raw = base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise LabelFailed("The model API returned an invalid base64 image.") from None
            out = await asyncio.to_thread(_label, raw, None, "image", plan, produce_id)
            item["b64_json"] = base64.b64encode(out.data).decode("ascii")
            done.append((produce_id, out.media_type, out.explicit))
        elif isinstance(item.get("url"), str):
            raw, ctype = await fetch(item["url"])
            mtype = ctype.split(";")[0] or None
            out = await asyncio.to_thread(_label, raw, mtype, "image", plan, produce_id)
            file_id = files.put(out.data, out.media_type)
            item["url"] = f"{gateway_base}/v1/aigc/files/{file_id}"
            done.append((produce_id, out.media_type, out.explicit))
    return done


async def label_speech(
    data: bytes, media_type: str, *, plan: Any, produce_id: str
) -> tuple[bytes, str, Labeled]:
    """Label generated speech; returns (bytes, media type, the labeled file for records)."""
    mtype = media_type.split(";")[0] or None
    out = await asyncio.to_thread(_label, data, mtype, "audio", plan, produce_id)
    return out.data, out.media_type, (produce_id, out.media_type, out.explicit)


def gateway_base(scope: dict) -> str:
    """The gateway's own base URL, as the client reached it."""
    host = "localhost"
    for name, value in scope.get("headers", []):
        if name == b"host":
            host = value.decode("latin-1")
            break
    return f"{scope.get('scheme', 'http')}://{host}"
