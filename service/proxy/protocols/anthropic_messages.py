"""Anthropic Messages (`POST /v1/messages`), streaming and not.

One slot per content block: ``text`` blocks (``text_delta``, the label slot), ``tool_use``
blocks (``input_json_delta``, decoded as JSON) and ``thinking`` blocks (``thinking_delta``:
screened too; masking a term there invalidates the block's signature, which is the price of
not showing the term). ``signature_delta`` is a non-text key; every other event is screened
whole. A block ends the stream with ``content_block_stop`` for an open block, then
``message_delta`` with ``stop_reason: "refusal"`` and ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import orjson

from ..decisions import ALL
from ..framing import sse_event
from ..labels import TextLabel
from ..slots import Slots
from ..stream import Event, Field, StreamProtocol, Unparseable
from .base import Adapter, expect, iter_dicts, last_user_text, list_of_dicts

__all__ = ["AnthropicMessages"]

_STOP = "refusal"
# block type -> (delta type, delta field) its streamed text arrives in
_DELTAS = {
    "text": ("text_delta", "text"),
    "tool_use": ("input_json_delta", "partial_json"),
    "server_tool_use": ("input_json_delta", "partial_json"),
    "thinking": ("thinking_delta", "thinking"),
}
_FIELDS = ("text", "partial_json", "thinking")
_KIND_OF = {"text": "text", "partial_json": "tool_use", "thinking": "thinking"}


class MessagesStream(StreamProtocol):
    def __init__(self, request: dict, slots: Slots) -> None:
        super().__init__(request, slots)
        self.kinds: dict[int, str] = {}  # open block index -> block type
        self.open: set[int] = set()  # indexes of every open block, of any type
        self.max_index = -1

    def check(self, event: Event) -> None:
        obj = event.obj
        kind = obj.get("type")
        if not isinstance(kind, str):
            raise Unparseable("an event without a type")
        index = obj.get("index")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise Unparseable(f"a {kind} whose index is not an integer")
        if kind == "content_block_delta":
            delta = obj.get("delta")
            if not isinstance(delta, dict) or not isinstance(delta.get("type"), str):
                raise Unparseable("a content_block_delta without a typed delta")
            for field in _FIELDS:
                value = delta.get(field)
                if value is not None and not isinstance(value, str):
                    raise Unparseable(f"a content_block_delta whose {field} is not a string")
        elif kind == "content_block_start" and not isinstance(obj.get("content_block"), dict):
            raise Unparseable("a content_block_start without a content block")
        elif kind == "message_start":
            msg = obj.get("message")
            if isinstance(msg, dict) and msg.get("content"):
                # blocks arrive as content_block_start; SDKs would join text here to theirs
                raise Unparseable("a message_start whose message already has content")

    def merge(self, last: Event, event: Event) -> bool:
        a, b = last.obj, event.obj
        if a.get("type") != "content_block_delta" or b.get("type") != "content_block_delta":
            return False
        if (
            a.keys() != {"type", "index", "delta"}
            or b.keys() != a.keys()
            or a["index"] != b["index"]
        ):
            return False
        da, db = a["delta"], b["delta"]
        if da.keys() != db.keys() or da.get("type") != db.get("type") or len(da) != 2:
            return False
        field = _DELTAS.get(self.kinds.get(a["index"], ""), (None, None))[1]
        if (
            field is None
            or not isinstance(da.get(field), str)
            or not isinstance(db.get(field), str)
        ):
            return False
        da[field] += db[field]
        return True

    def classify(self, event: Event, path: tuple) -> Field:
        kind = event.obj.get("type")
        index = event.obj.get("index", 0)
        if len(path) == 2 and (
            (kind == "content_block_delta" and path[0] == "delta")
            or (kind == "content_block_start" and path[0] == "content_block")
        ):
            field = path[1]
            btype = self.kinds.get(index)
            if btype is not None and _DELTAS[btype][1] == field:
                text = field == "text"
                json = field == "partial_json"
                chain = None if json else btype  # text blocks are read as one text
                return Field(("b", index), display=text, label=text, json=json, chain=chain)
        return Field(None)

    def before(self, event: Event) -> None:
        obj = event.obj
        kind = obj.get("type")
        index = obj.get("index", 0)
        if kind == "message_start":
            msg = obj.get("message")
            if isinstance(msg, dict) and isinstance(msg.get("id"), str):
                self.response_id = msg["id"]
        elif kind == "content_block_start":
            btype = obj["content_block"].get("type")
            self.max_index = max(self.max_index, index)
            self.open.add(index)
            if btype in _DELTAS:
                self.kinds[index] = "tool_use" if btype == "server_tool_use" else btype
        elif kind == "content_block_delta":
            self._delta_fits(index, obj["delta"])
        elif kind == "content_block_stop":
            self.open.discard(index)

    def _delta_fits(self, index: int, delta: dict) -> None:
        """A delta's text must belong to an open block of its kind: text streamed into a
        block that is not open, or of another kind, would be read by clients that print
        every delta, unscanned as a stream. A block of a type the gateway does not know
        takes the kind of its first text delta."""
        if index not in self.open:
            raise Unparseable(f"a content_block_delta for block {index}, which is not open")
        for field, btype in _KIND_OF.items():
            if delta.get(field) is None:
                continue
            known = self.kinds.setdefault(index, btype)
            if _DELTAS[known][1] != field:
                raise Unparseable(f"a {delta.get('type')} in a {known} block")

    def after(self, event: Event, out: list[bytes], blocked_before: set) -> None:
        obj = event.obj
        kind = obj.get("type")
        if kind == "content_block_delta":
            self.deltas += 1
            delta = obj["delta"]
            field = _DELTAS.get(self.kinds.get(obj.get("index", 0), ""), (None, None))[1]
            if field and delta.get(field) == "":
                event.drop = True
        elif kind == "content_block_stop":
            self._close(obj.get("index", 0), event.pre)
        elif kind == "message_delta":
            self._end_label(event.pre)

    def _close(self, index: int, out: list[bytes]) -> None:
        """A block ends: what its slot still holds goes out first."""
        btype = self.kinds.pop(index, None)
        if btype is None:
            return
        rest = self.slots.flush(("b", index))
        if rest:
            dtype, field = _DELTAS[btype]
            extra = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": dtype, field: rest},
            }
            out.append(sse_event(extra, "content_block_delta"))

    def _end_label(self, out: list[bytes]) -> None:
        """The ``end`` notice is a text block of its own after the last block."""
        if self.kinds:
            return
        notice = self.slots.end_notice(ALL)
        if not notice:
            return
        self.max_index += 1
        index = self.max_index
        start = {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "text", "text": ""},
        }
        delta = {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": notice},
        }
        out.append(sse_event(start, "content_block_start"))
        out.append(sse_event(delta, "content_block_delta"))
        out.append(sse_event({"type": "content_block_stop", "index": index}, "content_block_stop"))

    def is_terminal(self, event: Event) -> bool:
        return event.obj.get("type") == "message_stop"

    def closing(self, event: Event) -> list[Hashable]:
        kind = event.obj.get("type")
        if kind == "message_stop":
            return self.slots.keys()
        if kind == "content_block_stop":
            key = ("b", event.obj.get("index", 0))
            return [key] if key in self.slots.slots else []
        return []

    def emit(self, key: Hashable, text: str, out: list[bytes]) -> None:
        assert isinstance(key, tuple)
        index = key[1]
        btype = self.kinds.get(index)
        if btype is None:
            return  # the block was closed: nothing of it goes out any more
        dtype, field = _DELTAS[btype]
        delta = {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": dtype, field: text},
        }
        out.append(sse_event(delta, "content_block_delta"))

    def flush_all(self, out: list[bytes]) -> None:
        for index in sorted(self.kinds):
            if self.slots.all_blocked:
                return
            self._close(index, out)
            out.append(
                sse_event({"type": "content_block_stop", "index": index}, "content_block_stop")
            )

    def block_tail(self, out: list[bytes]) -> None:
        for index in sorted(self.kinds):
            out.append(
                sse_event({"type": "content_block_stop", "index": index}, "content_block_stop")
            )
        self.kinds.clear()
        self._end_label(out)
        out.append(
            sse_event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": _STOP, "stop_sequence": None},
                    "usage": {"output_tokens": self.deltas},
                },
                "message_delta",
            )
        )
        out.append(sse_event({"type": "message_stop"}, "message_stop"))

    def error_tail(self, code: str, message: str) -> bytes:
        err = {"type": "error", "error": {"type": "api_error", "code": code, "message": message}}
        return sse_event(err, "error")


class AnthropicMessages(Adapter):
    name = "anthropic_messages"
    family = "anthropic"
    takes_media = True  # image and document blocks

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "metadata", dict)
        list_of_dicts(body, "tools")
        system = expect(body, "system", str, list)
        if isinstance(system, list):
            for j, block in enumerate(list_of_dicts(body, "system")):
                expect(block, "text", str, where=f"system[{j}].")
        for i, msg in enumerate(list_of_dicts(body, "messages")):
            where = f"messages[{i}]."
            expect(msg, "role", str, where=where)
            content = expect(msg, "content", str, list, where=where)
            if isinstance(content, list):
                for j, block in enumerate(list_of_dicts(msg, "content", where)):
                    at = f"{where}content[{j}]."
                    expect(block, "type", str, where=at)
                    expect(block, "text", str, where=at)
                    expect(block, "content", str, list, where=at)

    def prompt_text(self, body: dict) -> str:
        return last_user_text(body.get("messages"))  # text blocks (not tool results)

    def user_id(self, body: dict) -> str | None:
        meta = body.get("metadata")
        user = meta.get("user_id") if isinstance(meta, dict) else None
        return user if isinstance(user, str) else None

    def answer_ok(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        content = body.get("content")
        if content is None:
            return body.get("type") == "error"
        return isinstance(content, list) and all(isinstance(b, dict) for b in content)

    def block(self, body: dict, scope: Any) -> None:
        body["content"] = []
        body["stop_reason"] = _STOP

    def label(self, body: dict, label: TextLabel, blocked: set) -> bool:
        texts = [
            b
            for b in iter_dicts(body.get("content"))
            if b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        if not texts:
            return False
        block = texts[0] if label.position == "start" else texts[-1]
        block["text"] = label.wrap(block["text"])
        return bool(block["text"])

    def stream(self, request: dict, slots: Slots) -> StreamProtocol:
        return MessagesStream(request, slots)

    def refusal(self, request: dict, text: str, response_id: str) -> bytes | None:
        message = {
            "id": f"msg_{response_id}",
            "type": "message",
            "role": "assistant",
            "model": request.get("model") or "",
            "content": [{"type": "text", "text": text}],
            "stop_reason": _STOP,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        if not self.is_stream(request):
            return orjson.dumps(message)
        start = {**message, "content": [], "stop_reason": None}
        events: list[tuple[str, dict]] = [
            ("message_start", {"message": start}),
            ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}}),
            ("content_block_stop", {"index": 0}),
            (
                "message_delta",
                {
                    "delta": {"stop_reason": _STOP, "stop_sequence": None},
                    "usage": {"output_tokens": 0},
                },
            ),
            ("message_stop", {}),
        ]
        return b"".join(sse_event({"type": kind, **fields}, kind) for kind, fields in events)
