"""Streams of routes without an adapter (Assistants runs, vendor extensions ...).

Nothing is relayed unscreened: every string of every event is screened. Strings of delta
events (an event name or ``type``/``object`` ending in ``delta`` or ``chunk``) are slots
of their own by event and JSON path, with hold-back; strings of other events are screened
whole. A block or a frame the gateway cannot parse ends the stream with an error event in the
route family's shape.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from .framing import ndjson_line, sse_event
from .protocols import error_body
from .slots import Slots
from .stream import Event, Field, StreamProtocol, put_path
from .walker import NON_TEXT

__all__ = ["GenericStream"]

_DELTA_ENDINGS = ("delta", "chunk")


def _scalars(obj: dict) -> dict[str, Any]:
    """The event fields a flushed rest may repeat: numbers and non-text identifiers."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, bool | int | float):
            out[k] = v
        elif isinstance(v, str):
            shape = NON_TEXT.get(k)
            if shape is not None and shape(v):
                out[k] = v
    return out


class GenericStream(StreamProtocol):
    sentinel = b"[DONE]"

    def __init__(self, request: Any, slots: Slots, family: str, framing: str) -> None:
        super().__init__(request if isinstance(request, dict) else {}, slots)
        self.family = family
        self.framing = framing  # type: ignore[misc]
        self.templates: dict[Hashable, tuple[str | None, dict]] = {}
        self.touched: list[Hashable] = []

    def classify(self, event: Event, path: tuple) -> Field:
        if self.framing == "ndjson":
            return Field(None)
        obj = event.obj
        kind = event.name or obj.get("type") or obj.get("object") or ""
        if isinstance(kind, str) and kind.endswith(_DELTA_ENDINGS):
            key = (kind, path)
            self.touched.append(key)
            return Field(key)
        return Field(None)

    def after(self, event: Event, out: list[bytes], blocked_before: set) -> None:
        for key in self.touched:
            self.templates[key] = (event.name, _scalars(event.obj))
        self.touched = []

    def is_terminal(self, event: Event) -> bool:
        return event.sentinel is not None or event.name == "done"

    def flush_all(self, out: list[bytes]) -> None:
        for key in self.slots.keys():
            rest = self.slots.flush(key)
            if self.slots.all_blocked:
                return
            if rest:
                self.emit(key, rest, out)

    def emit(self, key: Hashable, text: str, out: list[bytes]) -> None:
        """``text`` of a slot in an event built from the last event of its field."""
        assert isinstance(key, tuple)
        name, template = self.templates.get(key, (None, {}))
        obj = dict(template)
        put_path(obj, key[1], text)
        out.append(sse_event(obj, name))

    def _error(self, code: str, message: str) -> bytes:
        body = error_body(self.family, 400, code, message)
        if self.framing == "ndjson":
            return body + b"\n"
        return b"event: error\ndata: " + body + b"\n\n"

    def block_tail(self, out: list[bytes]) -> None:
        out.append(
            self._error("content_policy_violation", "The answer was blocked by the content policy.")
        )

    def error_tail(self, code: str, message: str) -> bytes:
        return self._error(code, message)

    def render(self, event: Event) -> bytes:
        if event.sentinel is not None:
            head = b"event: " + event.name.encode() + b"\n" if event.name else b""
            return head + b"data: " + event.sentinel + b"\n\n"
        if self.framing == "ndjson":
            return ndjson_line(event.obj)
        return sse_event(event.obj, event.name)
