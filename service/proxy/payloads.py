"""Encoded payloads inside strings and bodies: data URLs, base64 and raw files, by content.

A payload is judged by what its bytes are, never by what it claims to be:

- ``TEXT``: text without control characters (plain text, JSON, JSONL, SVG, CSV ...) in UTF-8,
  UTF-16/32 with a byte order mark, the declared charset, GB18030 (GBK, GB2312) or Big5
  (``decode_text``): screened like any text, and re-encoded in its own encoding when masked;
- ``MEDIA``: an image, audio or video file (magic numbers, via ``filetype``): the media path;
- ``DOCUMENT``: a file that holds text the gateway cannot read (PDF, Office, archives,
  executables ...): refused, as no document text reader is installed;
- ``OPAQUE``: other bytes (encrypted blobs, raw PCM, text in an encoding not recognised):
  refused, except raw audio under an ``audio`` object where media is accepted.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

import filetype

__all__ = [
    "DOCUMENT",
    "JSONL_TYPES",
    "MEDIA",
    "OPAQUE",
    "TEXT",
    "Payload",
    "Sniffed",
    "decode_string",
    "decode_text",
    "in_audio",
    "named_text",
    "sniff",
    "text_runs",
    "unreadable",
    "unreadable_kind",
]

TEXT, MEDIA, DOCUMENT, OPAQUE = "text", "media", "document", "opaque"

_DATA_URL = re.compile(
    r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,",
    re.IGNORECASE,
)
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+={0,2}")
# C0 controls but tab and line ends, DEL and the C1 controls: never in text (UTF-8 bytes read
# as Latin-1 are full of C1 controls, which keeps that misreading out)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CHARSET = re.compile(r";\s*charset=\"?([\w.:-]+)", re.IGNORECASE)
#: encodings tried after UTF-8 and the declared one: Chinese text files are often in these.
#: Big5 is tried last, so undeclared Big5 that is also valid GB18030 is read as GB18030 (the
#: same bytes cannot be both); declare ``charset=big5`` to have it read right.
_FALLBACKS = ("gb18030", "big5")

#: media types of JSON Lines bodies (``x-jsonl``, ``jsonlines``: batch results files)
JSONL_TYPES = frozenset(
    {
        "application/jsonl",
        "application/x-jsonl",
        "application/jsonlines",
        "application/x-jsonlines",
        "application/x-ndjson",
        "application/json-seq",
    }
)

#: keys whose string values are base64 payloads by convention (image/audio/file data)
B64_KEYS = frozenset({"b64_json", "data", "file_data", "image", "images", "audio", "bytes"})
#: a base64-looking string this long under any other key is decoded and judged too
LONG_B64 = 256
_MIN_B64 = 64


#: file names a server reads as text whatever the bytes (OpenAI file search and batch go by
#: the extension)
_TEXT_SUFFIXES = frozenset(
    "txt text md markdown rst json jsonl ndjson csv tsv xml html htm yaml yml toml ini log "
    "srt vtt tex py js ts java c cc cpp h hpp cs go rb php sh rs kt swift sql css".split()
)


def named_text(filename: str | None, content_type: str | None) -> bool:
    """Whether a file's name or declared type says text (a server may read it as text)."""
    mtype = (content_type or "").split(";")[0].strip().lower()
    if mtype.startswith("text/") or "json" in mtype or mtype.endswith("xml"):
        return True
    suffix = (filename or "").rsplit(".", 1)
    return len(suffix) == 2 and suffix[1].strip().lower() in _TEXT_SUFFIXES


def in_audio(path: tuple) -> bool:
    """Whether a payload found at ``path`` sits in an audio object (raw PCM may be there)."""
    return len(path) >= 2 and path[-2] in ("audio", "input_audio", "output_audio")


def unreadable(path: tuple, payload: Payload) -> bool:
    """Whether a payload found at ``path`` cannot pass, in a request or an answer."""
    return unreadable_kind(payload.kind, in_audio(path))


def unreadable_kind(kind: str, audio: bool) -> bool:
    """Whether bytes of ``kind`` cannot pass: a document, or bytes of no known kind outside an
    audio object (``audio``: where raw PCM may be)."""
    return kind == DOCUMENT or kind == OPAQUE and not audio


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a media type (a header or a data URL's parameters)."""
    m = _CHARSET.search(content_type or "")
    return m.group(1) if m else None


def _read(data: bytes, codec: str) -> str | None:
    try:
        text = data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
    return None if _CONTROL.search(text) else text


def decode_text(data: bytes, declared: str | None = None) -> tuple[str, str] | None:
    """``(text, codec)`` when ``data`` is text without control characters, else None: UTF-32/16
    when a byte order mark says so; else UTF-8 or the ``declared`` charset, and when the two
    read the bytes as different texts, None (the reader may take either: not screenable);
    else GB18030, Big5."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        tried: tuple[str, ...] = ("utf-32",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        tried = ("utf-16",)
    else:
        utf8 = _read(data, "utf-8")
        other = _read(data, declared) if declared else None
        if other is not None and utf8 is not None and other != utf8:
            return None
        if utf8 is not None:
            return utf8, "utf-8"
        if other is not None:
            return other, declared  # type: ignore[return-value]
        tried = _FALLBACKS
    for codec in tried:
        text = _read(data, codec)
        if text is not None:
            return text, codec
    return None


_NOT_TEXT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd"
_RUN = re.compile(rf"[^{_NOT_TEXT}]{{8,}}|[^\x00-\x7f{_NOT_TEXT}]{{2,}}")


def text_runs(data: bytes) -> str:
    """The runs of text in binary bytes (UTF-8 without control characters: 8 characters or
    more, or 2 non-ASCII ones, a Chinese word), one per line, as ``strings`` finds them:
    metadata, and text behind a media file's magic number (40 to 70 ms per MB)."""
    return "\n".join(_RUN.findall(data.decode("utf-8", "replace")))


@dataclass(slots=True, frozen=True)
class Sniffed:
    """What raw bytes are: their kind, media type and, for ``TEXT``, the text and its codec."""

    kind: str
    media_type: str
    text: str | None = None
    codec: str | None = None


def sniff(data: bytes, declared: str | None = None) -> Sniffed:
    """What ``data`` is, judged by content (``declared``: a charset), decoded once when text."""
    guess = filetype.guess(data[:8192]) if data else None
    if guess is not None:
        mime = guess.mime
        if mime.startswith(("image/", "audio/", "video/")):
            return Sniffed(MEDIA, mime)
        return Sniffed(DOCUMENT, mime)
    decoded = decode_text(data, declared)
    if decoded is not None:
        return Sniffed(TEXT, "text/plain", *decoded)
    return Sniffed(OPAQUE, "application/octet-stream")


@dataclass(slots=True)
class Payload:
    """A string holding an encoded payload: its kind, media type and (TEXT) decoded text."""

    kind: str
    media_type: str
    text: str | None
    encode: object  # Callable[[str], str]: the string again, carrying new text
    declared: str = ""  # the media type a data URL states (it may disagree with the bytes)

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

    def encoder(codec: str) -> object:
        return lambda text: prefix + enc(text.encode(codec)).decode("ascii")

    return encoder


def _judge(raw: bytes, encoder: object, mime: str | None = None, params: str = "") -> Payload:
    """The payload of ``raw``; ``encoder(codec)`` makes the function that writes text back."""
    found = sniff(raw, charset_of(params))
    if found.kind != TEXT:
        return Payload(found.kind, found.media_type, None, None, mime or "")
    return Payload(TEXT, mime or found.media_type, found.text, encoder(found.codec), mime or "")  # type: ignore[operator]


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
            return _judge(
                decoded[0], _b64encoder(decoded[1], head), m.group("mime"), m.group("params")
            )

        def encoder(codec: str) -> object:
            return lambda text: head + quote(text.encode(codec), safe="")

        return _judge(unquote_to_bytes(body), encoder, m.group("mime"), m.group("params"))
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
