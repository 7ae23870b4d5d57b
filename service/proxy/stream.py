"""The streaming relay: upstream stream bytes in, screened client bytes out.

Shared by every protocol (SSE or NDJSON); a ``StreamProtocol`` subclass says what its events
mean. For every frame:

1. it must parse: an SSE event whose every line is a known field, with JSON data (or the
   protocol's own sentinel, ``[DONE]``); an NDJSON line of JSON; the protocol's strict type
   checks on the fields it rewrites. Anything else ends the stream the protocol's way with an
   error event: nothing the gateway did not parse is relayed;
2. every string of the event is screened: the generic walker finds them (non-text keys
   excepted); the protocol classifies each as a streamed *slot* (its own scanner, hold-back,
   per choice and per field), or a whole text screened at once;
3. the event is rendered again from what was screened (never relayed raw), unless hold-back
   emptied it (no empty deltas);
4. a block ends its scope (a choice, or the whole answer) the protocol's way; the terminal
   event, or the ending after a block or an error, is kept in ``final`` so the caller can make
   the records durable before the client receives the end of its answer.

With a stream guard (``guards.StreamGuard``, the classifier's ``hold``/``async`` modes) the
relay also:

5. ends the slots a *closing* event ends (``closing``: a finished choice, a content block's
   stop, a ``*.done`` snapshot, the terminal event) before that event is handled, so the
   guard classifies their last text; a closing event that also carries text is first
   ``split`` in two. While verdicts on those slots are still to come (``guard.must_wait``)
   the relay *stalls*: the event and everything after it wait in ``queue``; the caller calls
   ``resume()`` again whenever a verdict arrives;
6. ``released()``: text the guard lets out between upstream chunks goes out in events of its
   own (``emit``), and scopes an unsafe verdict ends are ended the protocol's way, like a
   lexicon block.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Any, ClassVar

import orjson

from .decisions import ALL, Decisions
from .framing import Frame, NDJSONParser, SSEParser, ndjson_line, sse_event
from .payloads import unreadable
from .slots import Slots
from .walker import NON_TEXT, Walk

__all__ = ["Event", "Field", "StreamProtocol", "StreamRelay", "Unparseable", "put_path"]

PING = b": ping\n\n"
_NONE: frozenset = frozenset()


class Unparseable(Exception):
    """An upstream frame the gateway cannot parse: the stream ends with an error."""


class Event:
    """One parsed upstream event: SSE event name and JSON object (None: the done sentinel)."""

    __slots__ = ("name", "obj", "drop", "sentinel", "pre", "plain", "gate")

    def __init__(self, name: str | None, obj: Any, sentinel: bytes | None = None) -> None:
        self.name = name
        self.obj = obj
        self.drop = False  # not sent (emptied by hold-back, or of a blocked choice)
        self.sentinel = sentinel
        self.pre: list[bytes] = []  # bytes the protocol sends before this event
        self.plain: Any = False  # the protocol's merge memo (False: not computed)
        self.gate: tuple[list[Hashable], bool] | None = None  # guard: (slots it ends, final)


class _Bad:
    """A frame that did not parse: the stream fails once the events before it are handled."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Field:
    """How the protocol treats one string of an event."""

    __slots__ = ("key", "scope", "display", "label", "json", "skip", "chain")

    def __init__(
        self,
        key: Hashable | None,
        scope: Hashable = ALL,
        *,
        display: bool = False,
        label: bool = False,
        json: bool = False,
        skip: bool = False,
        chain: Hashable | None = None,
    ) -> None:
        self.key = key  # slot key; None: a whole text screened at once
        self.scope = scope
        self.display = display
        self.label = label
        self.json = json
        self.skip = skip  # already screened: text the gateway released itself (snapshots)
        self.chain = chain  # slots a reader joins (two text blocks): scanned as one text


def put_path(obj: Any, path: tuple, text: str) -> None:
    """Append ``text`` to the string at ``path`` in ``obj``, creating what is missing.

    Integer path items address list elements by their ``index`` field (choices, tool calls),
    so flushed text lands in the right choice and tool call.
    """
    node = obj
    for i, step in enumerate(path):
        last = i == len(path) - 1
        nxt = None if last else path[i + 1]
        if isinstance(step, int) and isinstance(node, list):
            found = next((x for x in node if isinstance(x, dict) and x.get("index") == step), None)
            if found is None:
                found = {"index": step}
                node.append(found)
            node = found
            continue
        if last:
            node[step] = (node.get(step) or "") + text
            return
        child = node.get(step)
        if not isinstance(child, dict | list):
            child = [] if isinstance(nxt, int) else {}
            node[step] = child
        node = child


class StreamProtocol:
    """What one protocol's stream events mean; one instance per request (it keeps state)."""

    framing: ClassVar[str] = "sse"
    sentinel: ClassVar[bytes | None] = None  # e.g. b"[DONE]"
    non_text: ClassVar[dict] = NON_TEXT
    strip: ClassVar[dict[str, Any] | None] = None

    def __init__(self, request: dict, slots: Slots) -> None:
        self.request = request
        self.slots = slots
        self.response_id: str | None = None
        self.deltas = 0

    # -- parsing ------------------------------------------------------------------------------

    def parse(self, frame: Frame) -> Event | None:
        """The frame as an event; None for a comment; raises ``Unparseable``."""
        if frame.bad:
            raise Unparseable("a line the gateway does not understand")
        data = frame.data
        if data is None:
            if frame.event is not None or (self.framing == "sse" and frame.raw.strip()[:1] != b":"):
                if frame.raw.strip():
                    raise Unparseable("an event without data")
            return None
        if self.sentinel is not None and data == self.sentinel:
            return Event(frame.event, None, data)
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise Unparseable("data that is not JSON") from None
        if not isinstance(obj, dict):
            raise Unparseable("data that is not a JSON object")
        return Event(frame.event, obj)

    def check(self, event: Event) -> None:
        """Strict types of the fields this protocol rewrites; raise ``Unparseable``."""

    # -- per event ----------------------------------------------------------------------------

    def scope_of(self, path: tuple) -> Hashable:
        """The scope of a string at ``path`` (what a block there ends)."""
        return ALL

    def classify(self, event: Event, path: tuple) -> Field:
        """A string at ``path``: by default a streamed slot of its own (event name + path)."""
        return Field((event.name, path), self.scope_of(path))

    def before(self, event: Event) -> None:
        """Before screening (ids, snapshots of released text)."""

    def after(self, event: Event, out: list[bytes], blocked_before: set) -> None:
        """After screening: prune emptied parts, place owed notices, end finished scopes."""

    def is_terminal(self, event: Event) -> bool:
        return False

    def merge(self, last: Event, event: Event) -> bool:
        """Fold ``event`` into ``last`` when both are plain text deltas of the same field
        (one read often holds many); True when merged."""
        return False

    def render(self, event: Event) -> bytes:
        if event.sentinel is not None:
            head = b"event: " + event.name.encode() + b"\n" if event.name else b""
            return head + b"data: " + event.sentinel + b"\n\n"
        if self.framing == "ndjson":
            return ndjson_line(event.obj)
        return sse_event(event.obj, event.name)

    # -- endings ------------------------------------------------------------------------------

    def end_scope(self, scope: Hashable, out: list[bytes]) -> None:
        """A block ended one scope (a choice) while others go on."""

    def flush_all(self, out: list[bytes]) -> None:
        """Before the terminal event (or at the end of the upstream): release held text."""

    def block_tail(self, out: list[bytes]) -> None:
        """End the whole stream after a block, the protocol's way."""
        raise NotImplementedError

    def error_tail(self, code: str, message: str) -> bytes:
        raise NotImplementedError

    def scopes_open(self) -> bool:
        """False once every scope is blocked (the upstream can be cut)."""
        return not self.slots.all_blocked

    # -- guard (``guards.StreamGuard``) --------------------------------------------------------

    def closing(self, event: Event) -> list[Hashable]:
        """The slot keys ``event`` ends (their last text must go out before it): every slot
        for the terminal event; protocols add what ends a slot mid-stream."""
        return self.slots.keys() if self.is_terminal(event) else []

    def split(self, event: Event) -> list[Event]:
        """A closing event that also carries slot text, as [its text, the closing event]."""
        return [event]

    def emit(self, key: Hashable, text: str, out: list[bytes]) -> None:
        """Send ``text`` of slot ``key`` now, in an event of its own."""
        raise NotImplementedError


class StreamRelay:
    """Feed upstream bytes, get client bytes; ``final`` holds the ending (see module doc)."""

    def __init__(self, protocol: StreamProtocol, decisions: Decisions) -> None:
        self.protocol = protocol
        self.decisions = decisions
        self.guard = protocol.slots.guard
        self.parser = NDJSONParser() if protocol.framing == "ndjson" else SSEParser()
        self.finished = False  # no more upstream bytes are wanted
        self.cut = False  # close the upstream connection (block or error)
        self.final = b""  # the ending, sent after the records
        self.error: str | None = None
        self.queue: deque[Event | _Bad] = deque()  # parsed, not handled yet (a stall)
        self.stalled = False  # waiting for the guard's verdicts (``resume``)
        self._eof = Event(None, None)  # queued when the upstream ends: it ends every slot

    def feed(self, chunk: bytes) -> bytes:
        if self.finished:
            return b""
        out: list[bytes] = []
        self._enqueue(self.parser.feed(chunk), out)
        self._run(out)
        return b"".join(out)

    def close(self) -> bytes:
        """The upstream ended: a trailing frame, then whatever is still held."""
        if self.finished:
            return b""
        out: list[bytes] = []
        self._enqueue(self.parser.close(), out)
        self.queue.append(self._eof)
        self._run(out)
        return b"".join(out)

    def resume(self) -> bytes:
        """After a verdict, while stalled: what it released, then the queued events (stalled
        again when verdicts must still come first)."""
        self.stalled = False
        out: list[bytes] = []
        if not self._guard_out(out):
            self._run(out)
        return b"".join(out)

    def released(self) -> bytes:
        """Between upstream chunks, after a verdict: the text it released, or the cut."""
        if self.finished or self.stalled:
            return b""
        out: list[bytes] = []
        self._guard_out(out)
        return b"".join(out)

    def fail(self, code: str, message: str) -> None:
        """The upstream transport failed mid-stream."""
        if not self.finished:
            self.finished = self.cut = True
            self.error = code
            self.final = self.protocol.error_tail(code, message)
            self.queue.clear()

    def _ending(self, tail: list[bytes]) -> None:
        self.finished = True
        self.queue.clear()
        if self.decisions.blocked:
            self.cut = True
            self.protocol.block_tail(tail)
        self.final = b"".join(tail)

    def _enqueue(self, frames: list[Frame], out: list[bytes]) -> None:
        """Parse one read's frames up to the first one that does not parse (queued as
        ``_Bad``); adjacent plain deltas are merged (one scan, one frame)."""
        proto = self.protocol
        queue = self.queue
        fresh = 0  # events of this read (merging stays within one read)
        for frame in frames:
            try:
                event = proto.parse(frame)
                if event is None:
                    if not fresh and not queue:
                        out.append(PING)
                    continue
                proto.check(event)
            except Unparseable as exc:
                queue.append(_Bad(str(exc)))
                return
            if fresh and proto.merge(queue[-1], event):  # type: ignore[arg-type]
                continue
            parts = proto.split(event) if self.guard is not None else (event,)
            queue.extend(parts)
            fresh += len(parts)

    def _run(self, out: list[bytes]) -> None:
        """Handle queued events until the queue is empty, the stream ends, or a stall."""
        queue = self.queue
        while queue and not self.finished:
            event = queue[0]
            if isinstance(event, _Bad):
                self.fail("upstream_invalid_stream", f"The model API sent {event.reason}.")
                return
            if self.guard is not None and not self._gate(event, out):
                self.stalled = True
                return
            queue.popleft()
            if event is self._eof:
                tail: list[bytes] = []
                self.protocol.flush_all(tail)
                self._ending(tail)
                return
            self._handle(event, out)

    def _gate(self, event: Event, out: list[bytes]) -> bool:
        """Before a closing event: end its slots for the guard (their lexicon rests go out
        first); False while the guard must still judge text of them."""
        guard = self.guard
        assert guard is not None
        if event.gate is None:
            eof = event is self._eof
            final = eof or self.protocol.is_terminal(event)
            keys = self.protocol.slots.keys() if eof else self.protocol.closing(event)
            event.gate = (keys, final)
            if keys:
                blocked_before = self._blocked_now()
                slots = self.protocol.slots
                for key in keys:
                    rest = slots.flush(key)  # idempotent: the event's own flush finds nothing
                    if rest:
                        self.protocol.emit(key, rest, out)
                    guard.end(key)
                if self._scopes_ended(blocked_before, out):
                    return True  # the stream ended (the queue is cleared)
        keys, final = event.gate
        return not guard.must_wait(keys, final)

    def _guard_out(self, out: list[bytes]) -> bool:
        """Text the guard released, then the scopes its unsafe verdicts end; True when that
        ended the stream."""
        guard = self.guard
        if guard is None or self.finished:
            return self.finished
        proto = self.protocol
        for key, text in proto.slots.guard_released():
            proto.emit(key, text, out)
        cut = guard.cut()
        if not cut:
            return False
        blocked_before = self._blocked_now()
        for scope in cut:
            proto.slots.block(scope)
        return self._scopes_ended(blocked_before, out)

    def _blocked_now(self) -> set:
        d = self.decisions
        return d.blocked_scopes.copy() if d.blocked_scopes else _NONE

    def _scopes_ended(self, blocked_before: set, out: list[bytes]) -> bool:
        """End the scopes blocked since ``blocked_before``; True when the stream ended."""
        decisions = self.decisions
        if not decisions.blocked:
            if len(decisions.blocked_scopes) == len(blocked_before):
                return False
            for scope in decisions.blocked_scopes - blocked_before:
                self.protocol.end_scope(scope, out)
            if self.protocol.scopes_open():
                return False
            decisions.blocked = True
        tail: list[bytes] = []
        self._ending(tail)
        return True

    def _handle(self, event: Event, out: list[bytes]) -> None:
        proto = self.protocol
        decisions = self.decisions
        blocked_before = self._blocked_now()
        try:
            proto.before(event)
            if event.obj is not None:
                self._screen(event)
        except Unparseable as exc:
            self.fail("upstream_invalid_stream", f"The model API sent {exc}.")
            return
        terminal = proto.is_terminal(event)
        if terminal and not decisions.blocked:
            tail: list[bytes] = []
            proto.flush_all(tail)
            if not decisions.blocked:
                tail.extend(event.pre)
                tail.append(proto.render(event))
                self.finished = True
                self.queue.clear()
                self.final = b"".join(tail)
                return
            out.extend(tail)
        elif not terminal:
            pending: list[bytes] = []
            proto.after(event, pending, blocked_before)
            out.extend(event.pre)
            if not event.drop:
                out.append(proto.render(event))
            out.extend(pending)
        self._scopes_ended(blocked_before, out)  # a blocked terminal event: the block's ending

    def _screen(self, event: Event) -> None:
        proto = self.protocol
        walk = Walk(proto.non_text, proto.strip, opens=False)
        walk.add(event.obj)
        if walk.too_deep:
            raise Unparseable("JSON nested too deep to screen")
        slots = proto.slots
        whole: Walk | None = None  # texts screened at once, JSON and payloads opened
        scopes: dict[int, Hashable] = {}
        for ref in walk.refs:
            field = Field(None, proto.scope_of(ref.path)) if ref.is_key else None
            if field is None:
                field = proto.classify(event, ref.path)
            if field.skip:
                continue
            if field.key is None:
                if whole is None:
                    whole = Walk(proto.non_text)
                if slots.blocked(field.scope):
                    walk.set(ref, "")
                elif ref.is_key:
                    whole.refs.append(ref)
                    scopes[id(ref)] = field.scope
                else:
                    start = len(whole.refs)
                    whole.add_string(ref.container, ref.key, ref.path)
                    for inner in whole.refs[start:]:
                        scopes[id(inner)] = field.scope
                continue
            if ref.text and slots.ended(field.key):
                raise Unparseable("text for a field that had already ended")
            released = slots.feed(
                field.key,
                field.scope,
                ref.text,
                display=field.display,
                label=field.label,
                json=field.json,
                where=ref.path,
                chain=field.chain,
            )
            if released != ref.text:
                walk.set(ref, released)
        walk.apply()
        if whole is None:
            return
        if whole.too_deep:
            raise Unparseable("text nested too deep to screen")
        for path, payload, _, _ in whole.payloads:
            if unreadable(path, payload):
                raise Unparseable(f"a {payload.media_type} file the gateway cannot read")
        if whole.refs:
            self.decisions.screen_walk(whole, lambda r: scopes[id(r)])
