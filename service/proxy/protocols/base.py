"""The small interface every wire-protocol adapter provides, and helpers they share.

An adapter knows, for one API:

- `input_texts(body)`: every caller-controlled text of a request, as (container, key) refs so
  the gateway can mask in place;
- `screen_response(body, screen)`: screen (and label) a whole non-streaming response in place;
- `translator(body, screen)`: a `StreamTranslator` turning upstream stream bytes into client
  bytes, screening the text deltas of each slot and ending a blocked stream the protocol's way;
- `error_body(status, code, message)`: the protocol's own error envelope;
- `refusal(body, text, response_id)`: an upstream-shaped assistant reply saying `text` (whole,
  or the stream bytes when the request streams) for `proxy.block_mode = "refusal"`; the
  gateway runs it through the same output path (screen, labels) as a real reply. None when
  the API has no assistant reply (embeddings, images, speech): the error envelope is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import orjson

from ..framing import Frame, NDJSONParser, SSEParser
from ..screen import Screen

__all__ = ["Adapter", "StreamTranslator", "TextRef", "add_text", "add_text_or_texts", "walk_strings"]

TextRef = tuple[Any, Any]  # (container, key): container[key] is a str


def add_text(refs: list[TextRef], container: Any, key: Any) -> None:
    """Append (container, key) when container[key] is a non-empty string."""
    try:
        value = container[key]
    except (KeyError, IndexError, TypeError):
        return
    if isinstance(value, str) and value:
        refs.append((container, key))


def add_text_or_texts(refs: list[TextRef], body: dict, key: str) -> None:
    """Append ``body[key]`` when it is a string, or each string item when it is a list
    (OpenAI's ``input`` / ``prompt`` fields accept both)."""
    value = body.get(key)
    if isinstance(value, str):
        add_text(refs, body, key)
    elif isinstance(value, list):
        for i in range(len(value)):
            add_text(refs, value, i)


def walk_strings(value: Any, refs: list[TextRef]) -> None:
    """Every string inside a JSON value (dict values and list items) as refs."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str):
                add_text(refs, value, k)
            else:
                walk_strings(v, refs)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, str):
                add_text(refs, value, i)
            else:
                walk_strings(v, refs)


def content_parts(container: dict, key: str, refs: list[TextRef], types: tuple[str, ...]) -> None:
    """A `content` that is a string or a list of typed parts (text parts of `types`)."""
    value = container.get(key)
    if isinstance(value, str):
        add_text(refs, container, key)
    elif isinstance(value, list):
        for part in value:
            if isinstance(part, dict) and part.get("type", "text") in types:
                add_text(refs, part, "text")


def screen_refs(refs: list[TextRef], screen: Screen) -> bool:
    """Screen every ref in place; False when the screen blocked."""
    for container, key in refs:
        out = screen.text(container[key])
        if out is None:
            return False
        if out is not container[key]:
            container[key] = out
    return True


class StreamTranslator:
    """Upstream stream bytes in, client bytes out; subclasses handle one frame at a time."""

    framing: ClassVar[str] = "sse"

    def __init__(self, request: dict, screen: Screen) -> None:
        self.request = request
        self.screen = screen
        self.parser: SSEParser | NDJSONParser = (
            NDJSONParser() if self.framing == "ndjson" else SSEParser()
        )
        self.done = False  # no more upstream bytes are wanted (blocked or terminal event)
        self.response_id: str | None = None
        self.frames_in = 0

    def feed(self, chunk: bytes) -> bytes:
        if self.done:
            return b""
        return self._frames(self.parser.feed(chunk))

    def close(self) -> bytes:
        """Upstream ended: deliver a trailing frame and release anything still held."""
        if self.done:
            return b""
        out = self._frames(self.parser.close())
        if self.done:
            return out
        tail: list[bytes] = []
        self.on_end(tail)
        if self.screen.blocked:
            self.done = True
            return out + self.blocked_tail()
        return out + b"".join(tail)

    def _frames(self, frames: list[Frame]) -> bytes:
        out: list[bytes] = []
        for frame in frames:
            self.frames_in += 1
            self.on_frame(frame, out)
            if self.screen.blocked:
                self.done = True
                out.append(self.blocked_tail())
                break
        return b"".join(out)

    @staticmethod
    def load(frame: Frame) -> Any:
        """The frame's JSON payload, or None when it is not JSON (passed through as is)."""
        if frame.data is None:
            return None
        try:
            return orjson.loads(frame.data)
        except orjson.JSONDecodeError:
            return None

    # -- per protocol ----------------------------------------------------------------------

    def on_frame(self, frame: Frame, out: list[bytes]) -> None:
        raise NotImplementedError

    def on_end(self, out: list[bytes]) -> None:
        """Upstream ended without the protocol's terminal event."""

    def blocked_tail(self) -> bytes:
        """Bytes that end a blocked stream the protocol's way."""
        raise NotImplementedError

    def error_tail(self, code: str, message: str) -> bytes:
        """Bytes that end the stream after a transport failure, in the protocol's shape."""
        raise NotImplementedError


class Adapter:
    """One wire protocol; subclasses override what differs."""

    name: ClassVar[str] = ""
    framing: ClassVar[str] = "sse"  # "sse" | "ndjson"
    stream_media_type: ClassVar[str] = "text/event-stream"

    def is_stream(self, body: dict) -> bool:
        return body.get("stream") is True

    def input_texts(self, body: dict) -> list[TextRef]:
        return []

    def user_id(self, body: dict) -> str | None:
        user = body.get("user")
        return user if isinstance(user, str) else None

    def model(self, body: dict) -> str | None:
        model = body.get("model")
        return model if isinstance(model, str) else None

    def labelable(self, body: dict) -> bool:
        """False for JSON mode / structured output, where a notice would break the format."""
        return True

    def screen_response(self, body: Any, screen: Screen) -> None:
        """Screen a whole response in place (no-op for input-only APIs)."""

    def response_id(self, body: Any) -> str | None:
        if isinstance(body, dict):
            rid = body.get("id")
            return rid if isinstance(rid, str) else None
        return None

    def translator(self, request: dict, screen: Screen) -> StreamTranslator:
        raise NotImplementedError

    def refusal(self, request: dict, text: str, response_id: str) -> bytes | None:
        """A reply saying ``text`` in this API's response (or stream) shape; None: no reply."""
        return None

    def error_body(self, status: int, code: str, message: str) -> bytes:
        return orjson.dumps(
            {
                "error": {
                    "message": message,
                    "type": _openai_type(status),
                    "param": None,
                    "code": code,
                }
            }
        )


def _openai_type(status: int) -> str:
    if status == 400:
        return "invalid_request_error"
    if status in (401, 403):
        return "authentication_error" if status == 401 else "permission_error"
    if status == 429:
        return "rate_limit_error"
    return "api_error" if status >= 500 else "invalid_request_error"


def iter_dicts(value: Any) -> Iterator[dict]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item
