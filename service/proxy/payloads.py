"""Encoded payloads inside strings and bodies: data URLs, base64 and raw files, by content.

A payload is judged by what its bytes are, never by what it claims to be:

- ``TEXT``: valid UTF-8 without control bytes (plain text, JSON, JSONL, SVG, CSV ...): screened
  like any text, and re-encoded when masked;
- ``MEDIA``: an image, audio or video file (magic numbers, via ``filetype``): the media path;
- ``DOCUMENT``: a file that holds text the gateway cannot read (PDF, Office, archives,
  executables ...): refused, as no document text reader is installed;
- ``OPAQUE``: other bytes (encrypted blobs, raw PCM): carried only where media is accepted.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

import filetype

__all__ = [
    "DOCUMENT",
    "MEDIA",
    "OPAQUE",
    "TEXT",
    "Payload",
    "decode_string",
    "kind_of",
]

TEXT, MEDIA, DOCUMENT, OPAQUE = "text", "media", "document", "opaque"

_DATA_URL = re.compile(
    r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,",
    re.IGNORECASE,
)
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+={0,2}")
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

#: keys whose string values are base64 payloads by convention (image/audio/file data)
B64_KEYS = frozenset({"b64_json", "data", "file_data", "image", "images", "audio", "bytes"})
#: a base64-looking string this long under any other key is decoded and judged too
LONG_B64 = 256
_MIN_B64 = 64


def kind_of(data: bytes) -> tuple[str, str]:
    """``(kind, media type)`` of raw bytes, judged by content."""
    guess = filetype.guess(data[:8192]) if data else None
    if guess is not None:
        mime = guess.mime
        if mime.startswith(("image/", "audio/", "video/")):
            return MEDIA, mime
        return DOCUMENT, mime
    if not _CONTROL.search(data):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return TEXT, "text/plain"
    return OPAQUE, "application/octet-stream"


@dataclass(slots=True)
class Payload:
    """A string holding an encoded payload: its kind, media type and (TEXT) decoded text."""

    kind: str
    media_type: str
    text: str | None
    encode: object  # Callable[[str], str]: the string again, carrying new text

    def reencode(self, text: str) -> str:
        return self.encode(text)  # type: ignore[operator]


def _b64decode(value: str) -> tuple[bytes, bool] | None:
    """Strict base64 (standard or URL-safe alphabet); None when ``value`` is not base64."""
    if len(value) % 4 or not _B64.fullmatch(value):
        return None
    urlsafe = "-" in value or "_" in value
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(value), True
        return base64.b64decode(value, validate=True), False
    except (binascii.Error, ValueError):
        return None


def _b64encoder(urlsafe: bool, prefix: str = "") -> object:
    enc = base64.urlsafe_b64encode if urlsafe else base64.b64encode

    def encode(text: str) -> str:
        return prefix + enc(text.encode("utf-8")).decode("ascii")

    return encode


def _judge(raw: bytes, encode: object, declared: str | None = None) -> Payload:
    kind, mime = kind_of(raw)
    text = raw.decode("utf-8") if kind == TEXT else None
    return Payload(kind, declared if kind == TEXT and declared else mime, text, encode)


def decode_string(value: str, key: object) -> Payload | None:
    """The payload a JSON string carries, or None when it is plain text.

    Data URLs are always decoded; base64 under a ``B64_KEYS`` key from 64 characters, and any
    base64-looking string from ``LONG_B64`` characters. An undecodable "payload" is plain text.
    """
    if value[:5].lower() == "data:":
        m = _DATA_URL.match(value)
        if m is None:
            return None
        head, body = value[: m.end()], value[m.end() :]
        if m.group("b64"):
            decoded = _b64decode(body)
            if decoded is None:
                return None
            return _judge(decoded[0], _b64encoder(decoded[1], head), m.group("mime"))

        def encode(text: str) -> str:
            return head + quote(text, safe="")

        return _judge(unquote_to_bytes(body), encode, m.group("mime"))
    n = len(value)
    if n < _MIN_B64 or (n < LONG_B64 and key not in B64_KEYS):
        return None
    decoded = _b64decode(value)
    if decoded is None:
        return None
    payload = _judge(decoded[0], _b64encoder(decoded[1]))
    if payload.kind == OPAQUE and key not in B64_KEYS:
        return None  # a long token or digest, not a payload: screened as the text it is
    return payload
