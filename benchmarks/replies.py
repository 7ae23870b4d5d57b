"""Read model API replies: text, blocks, errors and AI-content labels (OpenAI, Anthropic, Ollama).

Used by the load generator on every reply; tolerant of what different gateways send.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "Reading",
    "event_json",
    "has_explicit_label",
    "http_error",
    "implicit_label",
    "inspect_reply",
    "read_reply",
]

# Explicit notice: "AI"/"人工智能" near "生成"/"合成" (e.g. "本内容由人工智能生成", "AI生成").
_EXPLICIT = re.compile(
    r"(?:AI|人工智能)[^\n]{0,24}?(?:生成|合成)|(?:生成|合成)[^\n]{0,8}?(?:AI|人工智能)"
)
# Ollama's normal final done_reason values; anything else (e.g. a gateway's content_filter)
# counts as a block.
_OLLAMA_DONE_OK = {"stop", "length", "load", "unload"}


def event_json(event: bytes, api: str) -> Any:
    """The JSON of one SSE event (OpenAI, Anthropic) or NDJSON line (Ollama); None if empty."""
    if api == "ollama":
        return orjson.loads(event) if event.strip() else None
    data = [line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:")]
    if not data or data == [b"[DONE]"]:
        return None
    return orjson.loads(b"\n".join(data))


def has_explicit_label(text: str) -> bool:
    """True if ``text`` carries an explicit AI notice ("AI"/"人工智能" near "生成"/"合成")."""
    return _EXPLICIT.search(text) is not None


def implicit_label(headers: Any, name: str | None) -> bool:
    """An implicit-label response header: ``name`` if given, else any header whose name holds
    "label" (x-aigc-label, x-ai-label, ...) or whose value holds a GB 45438 record."""
    if name:
        return name in headers
    for key, value in headers.items():
        if "label" in key.lower() or "ProduceID" in value or "ContentProducer" in value:
            return True
    return False


def inspect_reply(api: str, obj: Any) -> tuple[str, str | None, str | None]:
    """(text, block code, error code) of one stream event or a whole non-stream reply."""
    if not isinstance(obj, dict):
        return "", None, None
    if api == "openai":
        if isinstance(obj.get("error"), dict):
            err = obj["error"]
            return "", None, f"stream_error:{err.get('code') or err.get('type') or 'unknown'}"
        text, block = [], None
        for choice in obj.get("choices") or ():
            part = choice.get("delta") or choice.get("message") or {}
            if isinstance(part.get("content"), str):
                text.append(part["content"])
            if part.get("refusal"):
                block = "refusal"
            if choice.get("finish_reason") == "content_filter":
                block = "finish_reason:content_filter"
        return "".join(text), block, None
    if api == "anthropic":
        kind = obj.get("type")
        if kind == "content_block_delta":
            return obj.get("delta", {}).get("text", "") or "", None, None
        if kind == "error":
            return "", None, f"stream_error:{obj.get('error', {}).get('type', 'unknown')}"
        stop = (
            (obj.get("delta") or {}).get("stop_reason")
            if kind == "message_delta"
            else (obj.get("stop_reason") if kind == "message" else None)
        )
        text = ""
        if kind == "message":
            text = "".join(
                b.get("text", "") for b in obj.get("content") or () if isinstance(b, dict)
            )
        return text, ("stop_reason:refusal" if stop == "refusal" else None), None
    if "error" in obj:
        return "", None, f"stream_error:{str(obj['error'])[:40]}"
    message = obj.get("message")
    text = message.get("content", "") if isinstance(message, dict) else obj.get("response", "")
    block = None
    if obj.get("done") and obj.get("done_reason", "stop") not in _OLLAMA_DONE_OK:
        block = f"done_reason:{obj.get('done_reason')}"
    return text if isinstance(text, str) else "", block, None


def http_error(status: int, body: bytes) -> tuple[str | None, str | None]:
    """(block code, error code) of a non-200 reply."""
    if b"content_policy_violation" in body:
        return f"http_{status}:content_policy_violation", None
    code = None
    with contextlib.suppress(orjson.JSONDecodeError):
        obj = orjson.loads(body)
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict):
            code = err.get("code") or err.get("type")
    return None, f"http_{status}" + (f":{code}" if code else "")


@dataclass
class Reading:
    """What one reply said: its text, a block or error code, and when its text arrived."""

    text: str = ""
    block: str | None = None
    error: str | None = None
    first: float | None = None  # arrival of the first body read carrying text (streams)
    gaps: list[float] = field(default_factory=list)  # between successive reads carrying text


def read_reply(
    api: str, status: int, chunks: list[tuple[float, bytes]], *, stream: bool
) -> Reading:
    """Read a whole reply from its body pieces ``(arrival time, bytes)``.

    Events are cut from the reassembled bytes, so an event or a UTF-8 character split across
    reads is decoded whole. Raises ``orjson.JSONDecodeError`` for a body that is not JSON.
    """
    out = Reading()
    if status != 200:
        out.block, out.error = http_error(status, b"".join(c for _, c in chunks))
        return out
    if not stream:
        out.text, out.block, out.error = inspect_reply(
            api, orjson.loads(b"".join(c for _, c in chunks))
        )
        return out
    sep = b"\n" if api == "ollama" else b"\n\n"
    texts: list[str] = []
    buf = b""
    last = None

    def take(event: bytes) -> bool:
        text, block, error = inspect_reply(api, event_json(event, api))
        out.block, out.error = out.block or block, out.error or error
        if text:
            texts.append(text)
        return bool(text)

    for arrived, chunk in chunks:
        buf += chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        *events, buf = buf.split(sep)
        if any([take(event) for event in events]):  # a list: every event is read
            if last is not None:
                out.gaps.append(arrived - last)
            out.first = arrived if out.first is None else out.first
            last = arrived
    if buf.strip():
        take(buf)
    out.text = "".join(texts)
    return out
