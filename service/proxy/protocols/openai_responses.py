"""OpenAI Responses API (`POST /v1/responses`), streaming and not.

Slots: per (output_index, content_index) the `output_text` and `refusal` deltas, and per
output_index the function-call `arguments`. Because the gateway may hold text back and insert
the released rest as an extra delta, every event's `sequence_number` is renumbered; events not
rewritten keep their bytes while the numbering still agrees. The `*.done` events, the finished
items and `response.completed` carry exactly the text that was streamed. A block ends with
`response.incomplete`, `incomplete_details.reason: "content_filter"`.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import orjson

from ..framing import Frame, sse_event
from ..screen import Screen
from .base import Adapter, StreamTranslator, TextRef, add_text, content_parts, iter_dicts

__all__ = ["OpenAIResponses"]

# event type -> (slot kind, field carrying the delta)
_DELTAS = {
    "response.output_text.delta": ("t", "delta"),
    "response.refusal.delta": ("r", "delta"),
    "response.function_call_arguments.delta": ("f", "delta"),
}
_DONES = {
    "response.output_text.done": ("t", "text", "response.output_text.delta"),
    "response.refusal.done": ("r", "refusal", "response.refusal.delta"),
    "response.function_call_arguments.done": (
        "f",
        "arguments",
        "response.function_call_arguments.delta",
    ),
}
_TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def _key(kind: str, obj: dict) -> tuple:
    if kind == "f":
        return ("f", obj.get("output_index", 0))
    return (kind, obj.get("output_index", 0), obj.get("content_index", 0))


def wants_json(body: dict) -> bool:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


class ResponsesTranslator(StreamTranslator):
    def __init__(self, request: dict, screen: Screen) -> None:
        super().__init__(request, screen)
        self.seq = 0
        self.response: dict[str, Any] = {}
        self.items: dict[int, dict] = {}

    def _emit(self, obj: dict, frame: Frame | None, modified: bool, out: list[bytes]) -> None:
        if "sequence_number" in obj or frame is None:
            if obj.get("sequence_number") != self.seq:
                obj["sequence_number"] = self.seq
                modified = True
            self.seq += 1
        if modified or frame is None:
            out.append(sse_event(obj, obj.get("type")))
        else:
            out.append(frame.raw)

    def _rewrite_item(self, index: int, item: dict) -> None:
        if item.get("type") == "message":
            for ci, part in enumerate(iter_dicts(item.get("content"))):
                kind, field = (
                    ("t", "text") if part.get("type") == "output_text" else ("r", "refusal")
                )
                text = self.screen.released((kind, index, ci))
                if text is not None and field in part:
                    part[field] = text
        elif item.get("type") == "function_call":
            text = self.screen.released(("f", index))
            if text is not None:
                item["arguments"] = text

    def on_frame(self, frame: Frame, out: list[bytes]) -> None:
        obj = self.load(frame)
        if not isinstance(obj, dict):
            out.append(frame.raw)
            return
        kind_type = obj.get("type")
        modified = False
        if kind_type in ("response.created", "response.in_progress"):
            resp = obj.get("response")
            if isinstance(resp, dict):
                self.response = resp
                rid = resp.get("id")
                self.response_id = rid if isinstance(rid, str) else self.response_id
        elif kind_type in _DELTAS:
            kind, field = _DELTAS[kind_type]
            value = obj.get(field)
            if isinstance(value, str) and value:
                text = self.screen.feed(_key(kind, obj), value, labeled=kind == "t")
                if text is None:
                    return
                if text != value:
                    obj[field] = text
                    modified = True
        elif kind_type in _DONES:
            kind, field, delta_type = _DONES[kind_type]
            key = _key(kind, obj)
            rest = self.screen.flush(key)
            if rest is None:
                return
            if rest:
                extra = {
                    k: obj[k] for k in ("item_id", "output_index", "content_index") if k in obj
                }
                extra = {"type": delta_type, "sequence_number": 0, **extra, "delta": rest}
                self._emit(extra, None, True, out)
            released = self.screen.released(key)
            if released is not None and obj.get(field) != released:
                obj[field] = released
                modified = True
        elif kind_type == "response.content_part.done":
            part = obj.get("part")
            if isinstance(part, dict):
                kind, field = (
                    ("t", "text") if part.get("type") == "output_text" else ("r", "refusal")
                )
                text = self.screen.released(_key(kind, obj))
                if text is not None and part.get(field) != text:
                    part[field] = text
                    modified = True
        elif kind_type in ("response.output_item.added", "response.output_item.done"):
            item = obj.get("item")
            if isinstance(item, dict):
                index = obj.get("output_index", 0)
                self.items[index] = copy.deepcopy(item)
                if kind_type.endswith("done"):
                    self._rewrite_item(index, item)
                    modified = True
        elif kind_type in _TERMINAL:
            resp = obj.get("response")
            if isinstance(resp, dict):
                for index, item in enumerate(iter_dicts(resp.get("output"))):
                    self._rewrite_item(index, item)
                modified = True
            self.done = True
        self._emit(obj, frame, modified, out)

    def blocked_tail(self) -> bytes:
        resp = dict(self.response) if self.response else {"id": "resp_aigc", "object": "response"}
        resp["status"] = "incomplete"
        resp["incomplete_details"] = {"reason": "content_filter"}
        output = []
        for index in sorted(self.items):
            item = copy.deepcopy(self.items[index])
            self._rewrite_item(index, item)
            if item.get("type") == "message":
                for ci, part in enumerate(iter_dicts(item.get("content"))):
                    if part.get("type") == "output_text" and not part.get("text"):
                        part["text"] = self.screen.released(("t", index, ci)) or ""
            item["status"] = "incomplete"
            output.append(item)
        resp["output"] = output
        out: list[bytes] = []
        self._emit(
            {"type": "response.incomplete", "sequence_number": 0, "response": resp}, None, True, out
        )
        return b"".join(out)

    def error_tail(self, code: str, message: str) -> bytes:
        out: list[bytes] = []
        err = {
            "type": "error",
            "sequence_number": 0,
            "code": code,
            "message": message,
            "param": None,
        }
        self._emit(err, None, True, out)
        return b"".join(out)


class OpenAIResponses(Adapter):
    name = "openai_responses"

    def input_texts(self, body: dict) -> list[TextRef]:
        refs: list[TextRef] = []
        add_text(refs, body, "instructions")
        inp = body.get("input")
        if isinstance(inp, str):
            add_text(refs, body, "input")
        for item in iter_dicts(inp):
            content_parts(item, "content", refs, ("input_text", "output_text", "text"))
            add_text(refs, item, "output")  # function_call_output
            add_text(refs, item, "arguments")
        return refs

    def labelable(self, body: dict) -> bool:
        return not wants_json(body)

    def screen_response(self, body: Any, screen: Screen) -> None:
        if not isinstance(body, dict):
            return
        texts: list[TextRef] = []
        for item in iter_dicts(body.get("output")):
            if item.get("type") == "message":
                for part in iter_dicts(item.get("content")):
                    field = "text" if part.get("type") == "output_text" else "refusal"
                    if isinstance(part.get(field), str):
                        part[field] = screen.text(part[field])
                        if field == "text":
                            texts.append((part, "text"))
            elif item.get("type") == "function_call" and isinstance(item.get("arguments"), str):
                item["arguments"] = screen.text(item["arguments"])
        if screen.blocked:
            body["status"] = "incomplete"
            body["incomplete_details"] = {"reason": "content_filter"}
            body["output"] = []
            return
        if screen.label is not None and texts:
            container, key = texts[0] if screen.label.position == "start" else texts[-1]
            container[key] = screen.label_whole(container[key])

    def translator(self, request: dict, screen: Screen) -> StreamTranslator:
        return ResponsesTranslator(request, screen)

    def refusal(self, request: dict, text: str, response_id: str) -> bytes | None:
        # gateways.md §7: a guard stop is `incomplete`, reason "content_filter"
        rid, mid = f"resp_{response_id}", f"msg_{response_id}"
        part = {"type": "output_text", "text": text, "annotations": []}
        item = {
            "type": "message",
            "id": mid,
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
        usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        done = {
            "id": rid,
            "object": "response",
            "created_at": int(time.time()),
            "status": "incomplete",
            "incomplete_details": {"reason": "content_filter"},
            "error": None,
            "model": request.get("model") or "",
            "output": [item],
            "usage": usage,
        }
        if not self.is_stream(request):
            return orjson.dumps(done)
        start = {
            **done,
            "status": "in_progress",
            "incomplete_details": None,
            "output": [],
            "usage": None,
        }
        at = {"item_id": mid, "output_index": 0, "content_index": 0}
        events: list[tuple[str, dict]] = [
            ("response.created", {"response": start}),
            ("response.in_progress", {"response": start}),
            (
                "response.output_item.added",
                {"output_index": 0, "item": {**item, "status": "in_progress", "content": []}},
            ),
            ("response.content_part.added", {**at, "part": {**part, "text": ""}}),
            ("response.output_text.delta", {**at, "delta": text}),
            ("response.output_text.done", {**at, "text": text}),
            ("response.content_part.done", {**at, "part": part}),
            ("response.output_item.done", {"output_index": 0, "item": item}),
            ("response.incomplete", {"response": done}),
        ]
        return b"".join(
            sse_event({"type": kind, **fields, "sequence_number": n}, kind)
            for n, (kind, fields) in enumerate(events)
        )
