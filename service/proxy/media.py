"""Media outputs: generated images, audio and video are labeled before they reach the client.

Every file goes through the one bridge (``service.labeling``, via ``labels.label_media``), so
each ``[labels]`` setting and the tenant's label overrides mean what they mean for ``POST
/label`` and the ``label`` command: producer code, signing, font, image position and text
height, audio cue, size and duration limits, C2PA.

- Images answers: a b64 image is labeled in place. A URL image is fetched only from the
  configured upstream's host, with a size and a time limit, labeled, kept in a small in-memory
  store and served back from the gateway (``GET /v1/aigc/files/{id}``).
- Speech, video downloads (``videos/{id}/content``, ``videos/sync``): the answer's bytes.
- Media payloads inside text answers (chat ``message.audio.data``, data-URL images in content
  parts, Responses image-generation results): labeled where they are. Raw PCM audio has no
  container to carry a label and is refused.
- Video job objects: URLs that lead to the video are rewritten to the gateway's own download
  route (labeled there) or removed, so no unlabeled copy is handed out.

A file that cannot be labeled is never sent unlabeled: the call fails with 502
``label_failed``, the message says why (size or duration limit, format, corrupt file).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

from service.errors import GatewayError, UpstreamError

from .labels import label_media
from .payloads import MEDIA, OPAQUE, in_audio
from .protocols.base import iter_dicts

__all__ = [
    "FileStore",
    "LabelFailed",
    "UrlFetcher",
    "gateway_base",
    "label_download",
    "label_images",
    "label_payloads",
    "label_speech",
    "read_bounded",
    "rewrite_job_urls",
]


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


def _label(
    data: bytes, media_type: str | None, families: tuple[str, ...], plan: Any, produce_id: str
) -> Any:
    """Label ``data``, which must turn out to be of one of ``families`` ("image", ...)."""
    what = families[0] if len(families) == 1 else "file"
    try:
        out = label_media(data, media_type=media_type, plan=plan, produce_id=produce_id)
    except GatewayError as exc:
        if exc.status == 503:  # labels not configured / invalid configuration: say that
            raise
        raise LabelFailed(
            f"The generated {what} could not be labeled ({exc.code}): {exc.message}"
        ) from exc
    except ImportError as exc:
        raise LabelFailed(f"The generated {what} could not be labeled: {exc}") from exc
    if not out.media_type.startswith(tuple(f + "/" for f in families)):
        raise LabelFailed(
            f"The model API returned {out.media_type}, not {' or '.join(families)} content."
        )
    return out


async def _label_async(
    data: bytes, media_type: str | None, families: tuple[str, ...], plan: Any, produce_id: str
) -> Any:
    return await asyncio.to_thread(_label, data, media_type, families, plan, produce_id)


class UrlFetcher:
    """Fetches generated images by URL, only from the configured upstream's host and port,
    within a size and a time limit."""

    def __init__(self, session: Any, upstream: str, max_bytes: int, timeout_s: float) -> None:
        self.session = session
        self.upstream = upstream
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, url: str) -> tuple[bytes, str]:
        if not same_origin(url, self.upstream):
            raise LabelFailed("An image URL outside the configured upstream host is not fetched.")
        limit = self.max_bytes
        try:
            async with asyncio.timeout(self.timeout_s):
                resp = await self.session.get(url, allow_redirects=False)
                try:
                    if resp.status != 200:
                        raise LabelFailed(f"The image URL answered HTTP {resp.status}.")
                    data = await read_bounded(resp, limit, "proxy.media_max_bytes")
                    return data, resp.headers.get("content-type", "")
                finally:
                    resp.release()
        except TimeoutError:
            raise LabelFailed("Fetching the image URL took too long.") from None
        except LabelFailed:
            raise
        except Exception as exc:  # aiohttp.ClientError and friends
            raise LabelFailed(f"Fetching the image URL failed: {type(exc).__name__}.") from exc


def same_origin(url: str, upstream: str) -> bool:
    """``url`` is http(s) on the upstream's own host and port."""
    want, got = urlsplit(upstream), urlsplit(url)
    try:
        return got.scheme in ("http", "https") and (got.hostname, got.port) == (
            want.hostname,
            want.port,
        )
    except ValueError:  # an invalid port
        return False


async def read_bounded(resp: Any, limit: int, setting: str) -> bytes:
    """The body of an aiohttp response, refused (``LabelFailed``) beyond ``limit`` bytes."""
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise LabelFailed(f"The generated file is larger than {limit} bytes ({setting}).")
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise LabelFailed(f"The generated file is larger than {limit} bytes ({setting}).")
        chunks.append(chunk)
    return b"".join(chunks)


Labeled = tuple[str, str, bool]  # (content id, media type, explicit label added)


def _item_id(produce_id: str, index: int, count: int) -> str:
    """One ProduceID per file: the response's for the first, ``<id>-<i>`` for the others."""
    return produce_id if index == 0 or count == 1 else f"{produce_id}-{index}"


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
    items = [
        item
        for item in iter_dicts(body.get("data"))
        if isinstance(item.get("b64_json"), str) or isinstance(item.get("url"), str)
    ]
    done: list[Labeled] = []
    for index, item in enumerate(items):
        pid = _item_id(produce_id, index, len(items))
        if isinstance(item.get("b64_json"), str):
            try:
                raw = base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise LabelFailed("The model API returned an invalid base64 image.") from None
            out = await _label_async(raw, None, ("image",), plan, pid)
            item["b64_json"] = base64.b64encode(out.data).decode("ascii")
        else:
            raw, ctype = await fetch(item["url"])
            mtype = ctype.split(";")[0].strip() or None
            out = await _label_async(raw, mtype, ("image",), plan, pid)
            file_id = files.put(out.data, out.media_type)
            item["url"] = f"{gateway_base}/v1/aigc/files/{file_id}"
        done.append((out.record.produce_id, out.media_type, out.explicit))
    return done


async def label_speech(
    data: bytes, media_type: str, *, plan: Any, produce_id: str
) -> tuple[bytes, str, Labeled]:
    """Label generated speech; returns (bytes, media type, the labeled file for records)."""
    out = await label_download(data, media_type, plan=plan, produce_id=produce_id,
                               families=("audio",))
    return out.data, out.media_type, (out.record.produce_id, out.media_type, out.explicit)


async def label_download(
    data: bytes,
    media_type: str,
    *,
    plan: Any,
    produce_id: str,
    families: tuple[str, ...] = ("video", "image"),
) -> Any:
    """Label a generated file delivered as the answer's body (speech, a video download, its
    thumbnail or spritesheet); returns the ``labelers.LabeledFile``."""
    mtype = media_type.split(";")[0].strip() or None
    return await _label_async(data, mtype, families, plan, produce_id)


# -- media payloads inside text answers -------------------------------------------------------


def _decode(value: str) -> tuple[bytes, Callable[[bytes, str], str]] | None:
    """The bytes of a data URL or base64 string, and how to write new bytes back the same way."""
    if value[:5].lower() == "data:":
        head, comma, body = value.partition(",")
        if not comma:
            return None
        if not head.lower().endswith(";base64"):
            return unquote_to_bytes(body), lambda data, mtype: f"data:{mtype},{quote(data)}"
        decoded = _b64(body)
        if decoded is None:
            return None
        raw, enc = decoded
        return raw, lambda data, mtype: f"data:{mtype};base64,{enc(data).decode('ascii')}"
    decoded = _b64(value)
    if decoded is None:
        return None
    raw, enc = decoded
    return raw, lambda data, mtype: enc(data).decode("ascii")


def _b64(value: str) -> tuple[bytes, Callable[[bytes], bytes]] | None:
    urlsafe = "-" in value or "_" in value
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(value), base64.urlsafe_b64encode
        return base64.b64decode(value, validate=True), base64.b64encode
    except (binascii.Error, ValueError):
        return None


async def label_payloads(
    payloads: Iterable[tuple[tuple, Any, Any, Any]], *, plan: Any, produce_id: str
) -> list[Labeled]:
    """Label every media payload the walker found in a text answer, where it is.

    ``payloads``: ``Walk.payloads`` (path, ``payloads.Payload``, container, key). Images, audio
    and video (judged by content) are labeled through the bridge and written back in their
    encoding (data URL or base64); bytes under an ``audio`` object that are no audio file (raw
    PCM, e.g. chat audio with ``format: "pcm16"``) cannot carry a label and are refused.
    """
    found = []
    for path, payload, container, key in payloads:
        if payload.kind == MEDIA:
            found.append((container, key))
        elif payload.kind == OPAQUE and in_audio(path):
            raise LabelFailed(
                "The model API returned raw PCM audio, which cannot carry a GB 45438 label; "
                "ask for a container format (wav, mp3, flac, opus)."
            )
    done: list[Labeled] = []
    for index, (container, key) in enumerate(found):
        decoded = _decode(container[key])
        if decoded is None:  # the walker judged it media, so it decodes; never pass it raw
            raise LabelFailed("The model API returned a media payload the gateway cannot read.")
        raw, encode = decoded
        pid = _item_id(produce_id, index, len(found))
        out = await _label_async(raw, None, ("image", "audio", "video"), plan, pid)
        container[key] = encode(out.data, out.media_type)
        done.append((out.record.produce_id, out.media_type, out.explicit))
    return done


# -- video job objects ----------------------------------------------------------------------

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_CONTENT = re.compile(r"(?:^|/)videos/[^/]+/content$", re.IGNORECASE)


def rewrite_job_urls(value: Any, *, upstream: str, gateway_base: str) -> None:
    """Video job objects: no URL may lead to an unlabeled copy of the video.

    An absolute URL to the upstream's own download route (``.../videos/{id}/content``, e.g.
    OpenRouter's ``unsigned_urls``) is rewritten to the same path on the gateway, which labels
    the download; any other absolute URL (signed storage links, e.g. OpenRouter's ``urls``) is
    removed (``null`` in an object, dropped from a list). Relative URLs resolve against the
    gateway already.
    """
    if isinstance(value, dict):
        for key, item in list(value.items()):
            if isinstance(item, str) and _URL.fullmatch(item):
                value[key] = _gateway_url(item, upstream, gateway_base)
            else:
                rewrite_job_urls(item, upstream=upstream, gateway_base=gateway_base)
    elif isinstance(value, list):
        kept = []
        for item in value:
            if isinstance(item, str) and _URL.fullmatch(item):
                item = _gateway_url(item, upstream, gateway_base)
                if item is None:
                    continue
            else:
                rewrite_job_urls(item, upstream=upstream, gateway_base=gateway_base)
            kept.append(item)
        value[:] = kept


def _gateway_url(url: str, upstream: str, gateway_base: str) -> str | None:
    parts = urlsplit(url)
    if not same_origin(url, upstream) or not _CONTENT.search(parts.path.rstrip("/")):
        return None
    path, base = parts.path, urlsplit(upstream).path.rstrip("/")
    if base and path.startswith(base + "/"):
        path = path[len(base) :]  # the gateway adds the upstream's base path when forwarding
    return gateway_base + path + (f"?{parts.query}" if parts.query else "")


def gateway_base(scope: dict) -> str:
    """The gateway's own base URL, as the client reached it."""
    host = "localhost"
    for name, value in scope.get("headers", []):
        if name == b"host":
            host = value.decode("latin-1")
            break
    return f"{scope.get('scheme', 'http')}://{host}"
