"""Streams of routes without an adapter (Assistants runs, vendor extensions ...).

Nothing is relayed unscreened: every string of every event is screened. Strings of delta
events (an event name or ``type``/``object`` ending in ``delta`` or ``chunk``) are slots
of their own by event and JSON path, with hold-back; strings of other events are screened
whole, and also read one after the other per event name and JSON path (vendor streams such
as DashScope's or Gemini's carry each new piece of text in a plain event): such an event is
held, whole, while a term could still run from it into the next one, and goes out masked
where a term across events was masked (a blocked one ends the stream). Delta events go the
same way after their slots (with what the slots released), so every event's strings are
read in the order the client gets them, per JSON path whatever the event's name. A block or a frame
the gateway cannot parse ends the stream with an error event in the route family's shape.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Any

from .decisions import ALL
from .framing import ndjson_line, sse_event
from .protocols import error_body
from .slots import Slots
from .stream import Event, Field, StreamProtocol, put_path
from .walker import NON_TEXT, Walk, path_text

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


class _Held:
    """A plain event held until every string of it is released by its path's scanner."""

    __slots__ = ("event", "segments", "waiting")

    def __init__(self, event: Event) -> None:
        self.event = event
        self.segments: list[_Segment] = []
        self.waiting = 0  # segments not wholly released yet


class _Segment:
    """One string of a held event: where it goes back, and its released (masked) text."""

    __slots__ = ("held", "container", "key", "remaining", "parts")

    def __init__(self, held: _Held, container: Any, key: Any, size: int) -> None:
        self.held = held
        self.container = container
        self.key = key
        self.remaining = size
        self.parts: list[str] = []


class _Reading:
    """The strings of one event name and JSON path, read as one text."""

    __slots__ = ("scanner", "segments", "fed")

    def __init__(self, scanner: Any) -> None:
        self.scanner = scanner
        self.segments: deque[_Segment] = deque()
        self.fed = 0  # characters read so far (a hit's stream position)


class GenericStream(StreamProtocol):
    sentinel = b"[DONE]"

    def __init__(self, request: Any, slots: Slots, family: str, framing: str) -> None:
        super().__init__(request if isinstance(request, dict) else {}, slots)
        self.family = family
        self.framing = framing  # type: ignore[misc]
        self.templates: dict[Hashable, tuple[str | None, dict]] = {}
        self.touched: list[Hashable] = []
        self.readings: dict[Hashable, _Reading] = {}
        self.queue: deque[_Held | bytes] = deque()  # events not sent yet, in order

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
        if self.slots.all_blocked:
            return
        event.drop = True  # sent from the queue, in order
        self._hold(event)
        self._send(out)

    def _hold(self, event: Event) -> None:
        """Feed the strings of an event (as its slots released them) to the readings of
        their JSON paths; hold it until they are released."""
        held = _Held(event)
        self.queue.append(held)
        walk = Walk(self.non_text, self.strip, opens=False)
        walk.add(event.obj)
        for ref in walk.refs:
            if ref.is_key or not ref.text:
                continue
            key = ref.path  # whatever the event's name: clients read a field by its path
            reading = self.readings.get(key)
            if reading is None:
                reading = self.readings[key] = _Reading(self.slots.decisions.scanner())
            segment = _Segment(held, ref.container, ref.key, len(ref.text))
            held.segments.append(segment)
            held.waiting += 1
            reading.segments.append(segment)
            if not self._read(reading, ref.path, reading.scanner.feed, ref.text):
                return

    def _read(self, reading: _Reading, path: tuple, step: Any, *text: str) -> bool:
        """One scanner step; its released text goes to the held strings, in order. False
        when a term across events blocks (the stream ends)."""
        decisions = self.slots.decisions
        position = reading.fed
        reading.fed += sum(len(t) for t in text)
        try:
            result = step(*text)
        except Exception as exc:  # noqa: BLE001 - a scanner fault is a screening failure
            if not decisions.fail(exc):
                self.slots.block(ALL)
                return False
            result = None
        if result is not None and result.matches:
            if decisions.record(result.matches, path_text(path), position):
                self.slots.block(ALL)
                return False
        released = result.text if result is not None else "".join(text)
        segments = reading.segments
        while segments and (released or not segments[0].remaining):
            segment = segments[0]
            take = released[: segment.remaining]
            released = released[len(take) :]
            segment.parts.append(take)
            segment.remaining -= len(take)
            if not segment.remaining:
                segments.popleft()
                segment.held.waiting -= 1
        return True

    def _send(self, out: list[bytes]) -> None:
        """Events at the head of the queue whose strings are all released go out."""
        queue = self.queue
        while queue:
            head = queue[0]
            if isinstance(head, bytes):
                out.append(queue.popleft())
                continue
            if head.waiting:
                return
            queue.popleft()
            for segment in head.segments:
                segment.container[segment.key] = "".join(segment.parts)
            out.append(self.render(head.event))

    def is_terminal(self, event: Event) -> bool:
        return event.sentinel is not None or event.name == "done"

    def flush_all(self, out: list[bytes]) -> None:
        for key in self.slots.keys():
            rest = self.slots.flush(key)
            if self.slots.all_blocked:
                return
            if rest:
                self.emit(key, rest, out)
        for path, reading in self.readings.items():
            if self.slots.all_blocked or not self._read(reading, path, reading.scanner.flush):
                return
        self._send(out)

    def emit(self, key: Hashable, text: str, out: list[bytes]) -> None:
        """``text`` of a slot in an event built from the last event of its field (read
        with the other events, in order)."""
        assert isinstance(key, tuple)
        if self.slots.all_blocked:
            return
        name, template = self.templates.get(key, (None, {}))
        obj = dict(template)
        put_path(obj, key[1], text)
        self._hold(Event(name, obj))
        self._send(out)

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
