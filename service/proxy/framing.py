"""Incremental framing of upstream byte streams: Server-Sent Events and NDJSON.

Frames are found at the byte level (their separators are ASCII), so a multi-byte UTF-8
character split across network reads is reassembled before any JSON is decoded. A frame keeps
its raw bytes (for tests and diagnostics); the relay never sends them: every event is
rendered again from what was parsed and screened.
"""

from __future__ import annotations

import re

import orjson

__all__ = ["Frame", "NDJSONParser", "SSEParser", "ndjson_line", "sse_event"]

_SSE_SEP = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class Frame:
    """One SSE event or NDJSON line: raw bytes, event name (SSE) and data payload.

    ``bad`` marks an SSE event with a line that is not a ``data``/``event``/``id``/``retry``
    field or a comment: the gateway did not understand it, so it is never relayed.
    """

    __slots__ = ("raw", "event", "data", "bad")

    def __init__(self, raw: bytes, event: str | None, data: bytes | None, bad: bool = False):
        self.raw = raw
        self.event = event
        self.data = data
        self.bad = bad

    def __repr__(self) -> str:
        return f"Frame(event={self.event!r}, data={self.data!r})"


_NAME = re.compile(rb"[\w.:/@+\-]{0,256}", re.ASCII)


def _parse_sse_block(block: bytes) -> tuple[str | None, bytes | None, bool]:
    if block[:6] == b"data: " and b"\n" not in block and b"\r" not in block:
        return None, block[6:], False  # the common one-line event
    event: str | None = None
    data: list[bytes] = []
    bad = False
    for line in block.splitlines():
        if not line or line[:1] == b":":
            continue
        name, colon, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event" and _NAME.fullmatch(value):
            event = value.decode("ascii")
        elif name not in (b"id", b"retry") or not colon or not _NAME.fullmatch(value):
            bad = True  # an unknown field, or a name/id that is not identifier-shaped
    return event, (b"\n".join(data) if data else None), bad


class SSEParser:
    """Split a byte stream into SSE events; `feed` may be called with any split of the bytes."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[Frame]:
        buf = self._buf + chunk if self._buf else chunk
        frames: list[Frame] = []
        pos = 0
        plain = b"\r" not in buf  # the common case: "\n" line ends only
        while True:
            if plain:
                start = buf.find(b"\n\n", pos)
                if start < 0:
                    break
                end = start + 2
                if buf.startswith(b"data: ", pos) and buf.find(b"\n", pos, start) < 0:
                    # the common one-line event (``_parse_sse_block``'s first case), inline
                    frames.append(Frame(buf[pos:end], None, buf[pos + 6 : start]))
                    pos = end
                    continue
            else:
                m = _SSE_SEP.search(buf, pos)
                if m is None:
                    break
                start, end = m.start(), m.end()
            event, data, bad = _parse_sse_block(buf[pos:start])
            frames.append(Frame(buf[pos:end], event, data, bad))
            pos = end
        self._buf = buf[pos:]
        return frames

    def close(self) -> list[Frame]:
        """End of stream: a last event without its blank line is still delivered."""
        rest, self._buf = self._buf, b""
        if not rest.strip():
            return [Frame(rest, None, None)] if rest else []
        event, data, bad = _parse_sse_block(rest)
        return [Frame(rest, event, data, bad)]


class NDJSONParser:
    """Split a byte stream into lines (one JSON document each)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[Frame]:
        buf = self._buf + chunk if self._buf else chunk
        frames: list[Frame] = []
        pos = 0
        while True:
            i = buf.find(b"\n", pos)
            if i < 0:
                break
            line = buf[pos : i + 1]
            stripped = line.strip()
            frames.append(Frame(line, None, stripped or None))
            pos = i + 1
        self._buf = buf[pos:]
        return frames

    def close(self) -> list[Frame]:
        rest, self._buf = self._buf, b""
        if not rest:
            return []
        return [Frame(rest, None, rest.strip() or None)]


def sse_event(obj: object, event: str | None = None) -> bytes:
    """Render one SSE event carrying `obj` as JSON."""
    body = b"data: " + orjson.dumps(obj) + b"\n\n"
    if event is not None:
        return b"event: " + event.encode() + b"\n" + body
    return body


def ndjson_line(obj: object) -> bytes:
    return orjson.dumps(obj) + b"\n"
