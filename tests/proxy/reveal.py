"""An independent reader: does a body (or stream) reveal a term, however it is encoded?

Written apart from the gateway's walker (stdlib ``json``, ``base64``, ``urllib``): it reads
raw bytes, every JSON document (whole bodies, SSE ``data:`` lines, NDJSON/JSONL lines), JSON
inside strings, data URLs and base64, and multipart parts, and reports whether the term can
be read anywhere. Streams are also read as their concatenated text per field, so a term split
across deltas is found.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = ["reveals", "stream_texts"]

_B64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")


def _every_pair(pairs: list[tuple[str, Any]]) -> list[Any]:
    """An object as the flat list of its keys and values: a key named twice keeps both
    values (``json`` alone keeps the last, as the gateway's parser does)."""
    return [x for pair in pairs for x in pair]


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_every_pair)


def _strings(value: Any, depth: int = 0) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(str(k))
            out += _strings(v, depth)
    elif isinstance(value, list):
        for v in value:
            out += _strings(v, depth)
    elif isinstance(value, str):
        out.append(value)
        if depth < 40:
            out += _decoded(value, depth + 1)
    return out


def _decoded(text: str, depth: int) -> list[str]:
    out: list[str] = []
    stripped = text.strip()
    try:
        inner = _loads(stripped)
    except ValueError:
        inner = None
    if isinstance(inner, dict | list | str) and inner != text:
        out += _strings(inner, depth)
    for line in stripped.splitlines():
        try:
            out += _strings(_loads(line), depth)
        except ValueError:
            pass
    raw: bytes | None = None
    if stripped.startswith("data:") and "," in stripped:
        head, _, body = stripped.partition(",")
        try:
            raw = base64.b64decode(body) if head.endswith(";base64") else unquote_to_bytes(body)
        except (binascii.Error, ValueError):
            raw = None
    elif len(stripped) >= 8 and _B64.match(stripped):
        try:
            raw = base64.b64decode(stripped + "=" * (-len(stripped) % 4), altchars=b"-_")
        except (binascii.Error, ValueError):
            raw = None
    if raw:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return out
        out.append(text)
        out += _decoded(text, depth)
    return out


def _documents(data: bytes, loads: Any = json.loads) -> list[Any]:
    docs: list[Any] = []
    text = data.decode("utf-8", "replace")
    try:
        docs.append(loads(text))
        return docs
    except ValueError:
        pass
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("data:"):
            line = line[5:].strip()
        try:
            docs.append(loads(line))
        except ValueError:
            continue
    return docs


def stream_texts(data: bytes) -> dict[str, str]:
    """Every string field of every streamed document, concatenated per JSON path."""
    out: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            index = value.get("index")
            for k, v in value.items():
                walk(v, f"{path}/{k}")
            if isinstance(index, int):
                pass
        elif isinstance(value, list):
            for i, v in enumerate(value):
                key = v.get("index", i) if isinstance(v, dict) else i
                walk(v, f"{path}/#{key}")
        elif isinstance(value, str):
            out[path] = out.get(path, "") + value

    for doc in _documents(data):
        if isinstance(doc, dict):
            idx = doc.get("index", doc.get("output_index", ""))
            walk(doc, f"{doc.get('type', '')}{idx}")
    return out


def reveals(data: bytes, term: str) -> bool:
    """True when ``term`` can be read in ``data`` in any of the ways above."""
    if term.encode("utf-8") in data:
        return True
    texts: list[str] = []
    for doc in _documents(data, _loads):
        texts += _strings(doc)
    for text in stream_texts(data).values():
        texts += _strings(text)  # the field itself, and the JSON or payloads inside it
    for chunk in re.split(rb"--[-\w]+\r?\n", data):  # multipart parts, roughly
        try:
            texts.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    return any(term in t for t in texts)
