"""OpenAI Responses API (`POST /v1/responses`), streaming and not.

Every ``*.delta`` event is a slot (output text, refusal, function-call arguments decoded as
JSON, reasoning summaries, any future delta type), keyed by its type and its output/content/
summary index; every other event is screened whole. Snapshots (``*.done``, finished items,
``response.completed``) are rewritten to exactly the text that was streamed. Events are
renumbered (``sequence_number`` stays consecutive). A block ends with ``response.incomplete``,
``incomplete_details.reason: "content_filter"``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Hashable
from typing import Any, ClassVar

import orjson

from ..framing import sse_event
from ..labels import TextLabel
from ..slots import Slots
from ..stream import Event, Field, StreamProtocol, Unparseable
from .base import Adapter, expect, iter_dicts, last_user_text, list_of_dicts

__all__ = ["OpenAIResponses"]

_TEXT = "response.output_text.delta"
_REFUSAL = "response.refusal.delta"
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_JSON_DELTAS = frozenset(
    {"response.function_call_arguments.delta", "response.mcp_call_arguments.delta"}
)
_DONE_FIELDS = ("text", "refusal", "arguments", "transcript", "input")
_PLAIN_DELTA = frozenset(
    {
        "type",
        "sequence_number",
        "item_id",
        "output_index",
        "content_index",
        "summary_index",
        "delta",
        "logprobs",
        "obfuscation",
    }
)
_WHERE = ("item_id", "output_index", "content_index", "summary_index")
_ADDED = frozenset(
    {
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_summary_part.added",
    }
)
# item part -> the delta type that streamed it
_PART_DELTA = {
    "output_text": ("response.output_text.delta", "text"),
    "refusal": ("response.refusal.delta", "refusal"),
    "reasoning_text": ("response.reasoning_text.delta", "text"),
}


def wants_json(body: dict) -> bool:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def _key(kind: str, obj: dict) -> tuple:
    return (
        kind,
        obj.get("output_index", 0),
        obj.get("content_index", obj.get("summary_index", 0)),
    )


def _image_tool(body: dict) -> bool:
    tools = body.get("tools")
    return isinstance(tools, list) and any(
        isinstance(t, dict) and t.get("type") == "image_generation" for t in tools
    )


def _has_image_generation(kind: str, obj: dict) -> bool:
    if kind.startswith("response.image_generation_call."):
        return True
    items = [obj.get("item")]
    response = obj.get("response")
    if isinstance(response, dict) and isinstance(response.get("output"), list):
        items += response["output"]
    return any(isinstance(i, dict) and i.get("type") == "image_generation_call" for i in items)


class ResponsesStream(StreamProtocol):
    strip: ClassVar[dict[str, Any] | None] = {"logprobs": []}

    def __init__(self, request: dict, slots: Slots) -> None:
        super().__init__(request, slots)
        self.seq = 0
        self.response: dict[str, Any] = {}
        self.items: dict[int, dict] = {}
        self.claimed: set[tuple] = set()
        self.json_mode = wants_json(request)
        # generated images stream only when the image_generation tool was asked for (and so
        # only with labels off: a labeled gateway refuses such requests)
        self.images_ok = _image_tool(request)
        self.where: dict[tuple, dict] = {}  # slot key -> the ids of its delta events

    def check(self, event: Event) -> None:
        obj = event.obj
        kind = obj.get("type")
        if not isinstance(kind, str):
            raise Unparseable("an event without a type")
        if kind.endswith(".delta") and not isinstance(obj.get("delta"), str | dict | None):
            raise Unparseable(f"a {kind} whose delta is not a string")
        for key in ("output_index", "content_index", "summary_index"):
            value = obj.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise Unparseable(f"a {kind} whose {key} is not an integer")
        if not self.images_ok and _has_image_generation(kind, obj):
            raise Unparseable("streamed generated images the request did not ask for")
        if kind in ("response.created", "response.in_progress"):
            resp = obj.get("response")
            if isinstance(resp, dict) and resp.get("output"):
                # items arrive as output_item.added; SDKs would join deltas to these
                raise Unparseable(f"a {kind} whose response already has output")

    def merge(self, last: Event, event: Event) -> bool:
        a, b = last.obj, event.obj
        kind = a.get("type")
        if (
            kind != b.get("type")
            or not isinstance(kind, str)
            or not kind.endswith(".delta")
            or not a.keys() <= _PLAIN_DELTA
            or a.keys() != b.keys()
            or any(
                a.get(k) != b.get(k)
                for k in ("item_id", "output_index", "content_index", "summary_index")
            )
            or not isinstance(a.get("delta"), str)
            or not isinstance(b.get("delta"), str)
        ):
            return False
        a["delta"] += b["delta"]
        return True

    def classify(self, event: Event, path: tuple) -> Field:
        if path in self.claimed:
            return Field(None, skip=True)
        kind = event.obj.get("type", "")
        if path == ("delta",) and kind.endswith(".delta"):
            key = _key(kind, event.obj)
            if key not in self.where:
                self.where[key] = {k: v for k, v in event.obj.items() if k in _WHERE}
            return self._slot(kind, key)
        if kind in _ADDED:
            key = self._added_key(kind, event.obj, path)
            if key is not None:
                return self._slot(key[0], key)
        return Field(None)

    def _added_key(self, kind: str, obj: dict, path: tuple) -> tuple | None:
        """The slot a part's first text belongs to (``*.added`` snapshots may carry text the
        deltas then continue: clients join them), with its delta events' ids; else None."""
        oi = obj.get("output_index", 0)
        if kind == "response.output_item.added":
            if len(path) != 4 or path[:2] not in (("item", "content"), ("item", "summary")):
                return None
            item = obj["item"]
            parts = item.get(path[1])
            ci = next(
                (
                    i
                    for i, p in enumerate(parts or ())
                    if isinstance(p, dict)
                    and (p["index"] if p.get("index").__class__ is int else i) == path[2]
                ),
                None,
            )
            if ci is None:
                return None
            part, where = parts[ci], {"item_id": item.get("id"), "output_index": oi}
        elif len(path) == 2 and path[0] == "part" and isinstance(obj.get("part"), dict):
            part, ci = obj["part"], obj.get("content_index", obj.get("summary_index", 0))
            where = {k: v for k, v in obj.items() if k in _WHERE}
        else:
            return None
        if kind == "response.reasoning_summary_part.added" or path[1] == "summary":
            dkind, field = "response.reasoning_summary_text.delta", "text"
            where["summary_index"] = ci
        else:
            dkind, field = _PART_DELTA.get(part.get("type"), (None, None))
            where["content_index"] = ci
        if dkind is None or path[-1] != field or not isinstance(ci, int):
            return None
        key = (dkind, oi, ci)
        self.where.setdefault(key, {k: v for k, v in where.items() if v is not None})
        return key

    def _slot(self, kind: str, key: tuple) -> Field:
        text = kind == _TEXT
        json = kind in _JSON_DELTAS or (text and self.json_mode)
        shown = text or kind == _REFUSAL  # a refusal alone is displayed: the notice goes on it
        # parts of one kind are read as one text (``output_text`` joins them)
        return Field(key, display=shown, label=shown, json=json, chain=None if json else kind)

    # -- snapshots ----------------------------------------------------------------------------

    def _released(self, kind: str, oi: int, ci: int) -> str | None:
        return self.slots.released((kind, oi, ci))

    def _rewrite_item(self, index: int, item: dict, path: tuple) -> None:
        """Put the streamed text into a finished item (claiming the fields it rewrote)."""
        itype = item.get("type")
        if itype == "message" or itype == "reasoning":
            for ci, part in enumerate(iter_dicts(item.get("content"))):
                kind, field = _PART_DELTA.get(part.get("type"), (None, None))
                text = self._released(kind, index, ci) if kind else None
                if text is not None and field in part:
                    part[field] = text
                    self.claimed.add(path + ("content", ci, field))
            for si, part in enumerate(iter_dicts(item.get("summary"))):
                text = self._released("response.reasoning_summary_text.delta", index, si)
                if text is not None:
                    part["text"] = text
                    self.claimed.add(path + ("summary", si, "text"))
        elif itype in ("function_call", "mcp_call", "custom_tool_call"):
            kinds = ("response.function_call_arguments.delta", "response.mcp_call_arguments.delta")
            for kind in kinds:
                text = self._released(kind, index, 0)
                if text is not None and "arguments" in item:
                    item["arguments"] = text
                    self.claimed.add(path + ("arguments",))

    def before(self, event: Event) -> None:
        obj = event.obj
        kind = obj.get("type", "")
        self.claimed = set()
        if kind in ("response.created", "response.in_progress"):
            resp = obj.get("response")
            if isinstance(resp, dict):
                rid = resp.get("id")
                self.response_id = rid if isinstance(rid, str) else self.response_id
        elif kind.endswith(".done") and kind[:-5] + ".delta" in self._kinds():
            key = _key(kind[:-5] + ".delta", obj)
            rest = self.slots.flush(key)
            if self.slots.all_blocked:
                return
            if rest:
                extra = {
                    k: obj[k] for k in ("item_id", "output_index", "content_index") if k in obj
                }
                if "summary_index" in obj:
                    extra["summary_index"] = obj["summary_index"]
                self.pending.append({"type": kind[:-5] + ".delta", **extra, "delta": rest})
            if kind == "response.output_text.done":
                tail = self.slots.end_notice("*")
                if tail:
                    self.slots.slots[key].parts.append(tail)
                    self.pending.append(
                        {
                            "type": _TEXT,
                            **{k: obj[k] for k in obj if k.endswith(("_id", "_index"))},
                            "delta": tail,
                        }
                    )
            released = self.slots.released(key)
            for field in _DONE_FIELDS:
                if field in obj and released is not None:
                    obj[field] = released
                    self.claimed.add((field,))
                    break
        elif kind == "response.content_part.done":
            part = obj.get("part")
            if isinstance(part, dict):
                dkind, field = _PART_DELTA.get(part.get("type"), (None, None))
                if dkind:
                    text = self.slots.released(_key(dkind, obj))
                    if text is not None:
                        part[field] = text
                        self.claimed.add(("part", field))
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = obj.get("item")
            index = obj.get("output_index", 0)
            if isinstance(item, dict):
                if kind.endswith("done"):
                    self._rewrite_item(index, item, ("item",))
        elif kind in _TERMINAL:
            resp = obj.get("response")
            if isinstance(resp, dict):
                for index, item in enumerate(iter_dicts(resp.get("output"))):
                    self._rewrite_item(index, item, ("response", "output", index))

    def _kinds(self) -> set[str]:
        return {k[0] for k in self.slots.slots if isinstance(k, tuple)}

    # -- rendering ----------------------------------------------------------------------------

    pending: list[dict]

    def render(self, event: Event) -> bytes:
        out = [self._render(extra) for extra in self.pending]
        self.pending = []
        out.append(self._render(event.obj))
        return b"".join(out)

    def _render(self, obj: dict) -> bytes:
        obj["sequence_number"] = self.seq
        self.seq += 1
        return sse_event(obj, obj.get("type"))

    def after(self, event: Event, out: list[bytes], blocked_before: set) -> None:
        kind = event.obj.get("type", "")
        # snapshots for the block ending, kept as screened (never as the upstream sent them)
        if kind in ("response.created", "response.in_progress"):
            resp = event.obj.get("response")
            if isinstance(resp, dict):
                self.response = copy.deepcopy(resp)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = event.obj.get("item")
            if isinstance(item, dict):
                self.items[event.obj.get("output_index", 0)] = copy.deepcopy(item)
        if kind.endswith(".delta") and event.obj.get("delta") == "":
            event.drop = True
            out[:0] = [self._render(extra) for extra in self.pending]
            self.pending = []

    def is_terminal(self, event: Event) -> bool:
        return event.obj.get("type") in _TERMINAL

    def closing(self, event: Event) -> list[Hashable]:
        """``*.done`` events end the slots of their output (content or summary) index; their
        snapshots must hold the text released before them."""
        obj = event.obj
        kind = obj.get("type", "")
        if kind in _TERMINAL:
            return self.slots.keys()
        if not kind.endswith(".done"):
            return []
        oi = obj.get("output_index", 0)
        part = obj.get("content_index", obj.get("summary_index"))
        return [
            k
            for k in self.slots.keys()
            if isinstance(k, tuple) and k[1] == oi and (part is None or k[2] == part)
        ]

    def emit(self, key: Hashable, text: str, out: list[bytes]) -> None:
        assert isinstance(key, tuple)
        kind = key[0]
        out.append(self._render({"type": kind, **self.where.get(key, {}), "delta": text}))

    def flush_all(self, out: list[bytes]) -> None:
        for key in self.slots.keys():
            rest = self.slots.flush(key)
            if rest and not self.slots.all_blocked:
                kind, oi, ci = key
                index = "summary_index" if "summary" in kind else "content_index"
                out.append(
                    self._render({"type": kind, "output_index": oi, index: ci, "delta": rest})
                )
        for extra in self.pending:
            out.append(self._render(extra))
        self.pending = []

    def block_tail(self, out: list[bytes]) -> None:
        notice = self.slots.end_notice("*")  # "end" labels close what was shown, also here
        texts = [k for k in self.slots.keys() if k[0] == _TEXT]
        if notice and texts:
            kind, oi, ci = texts[-1]
            self.slots.slots[texts[-1]].parts.append(notice)
            out.append(
                self._render(
                    {"type": kind, "output_index": oi, "content_index": ci, "delta": notice}
                )
            )
        resp = dict(self.response) if self.response else {"id": "resp_aigc", "object": "response"}
        resp["status"] = "incomplete"
        resp["incomplete_details"] = {"reason": "content_filter"}
        output = []
        for index in sorted(self.items):
            item = copy.deepcopy(self.items[index])
            self._rewrite_item(index, item, ())
            if item.get("type") == "message":
                parts = item.get("content")
                if not isinstance(parts, list):
                    parts = item["content"] = []
                for kind, oi, ci in self.slots.keys():
                    if kind != _TEXT or oi != index:
                        continue
                    while len(parts) <= ci:
                        parts.append({"type": "output_text", "text": "", "annotations": []})
                    if isinstance(parts[ci], dict):
                        parts[ci]["text"] = self.slots.released((kind, oi, ci)) or ""
            item["status"] = "incomplete"
            output.append(item)
        resp["output"] = output
        out.append(self._render({"type": "response.incomplete", "response": resp}))

    def error_tail(self, code: str, message: str) -> bytes:
        err = {"type": "error", "code": code, "message": message, "param": None}
        return self._render(err)


class OpenAIResponses(Adapter):
    name = "openai_responses"
    takes_media = True
    strip: ClassVar[dict[str, Any] | None] = {"logprobs": []}

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "instructions", str)
        expect(body, "text", dict)
        list_of_dicts(body, "tools")
        inp = expect(body, "input", str, list)
        if isinstance(inp, list):
            for i, item in enumerate(list_of_dicts(body, "input")):
                where = f"input[{i}]."
                expect(item, "type", str, where=where)
                expect(item, "arguments", str, where=where)
                content = expect(item, "content", str, list, where=where)
                if isinstance(content, list):
                    for j, part in enumerate(list_of_dicts(item, "content", where)):
                        expect(part, "type", str, where=f"{where}content[{j}].")
                        expect(part, "text", str, where=f"{where}content[{j}].")

    def labelable(self, body: dict) -> bool:
        return not wants_json(body)

    def streamed_media(self, body: dict) -> str | None:
        """Streamed generated images (the image_generation tool) cannot be labeled."""
        if self.is_stream(body) and _image_tool(body):
            return "images (the image_generation tool)"
        return None

    def prompt_text(self, body: dict) -> str:
        inp = body.get("input")
        if isinstance(inp, str):
            return inp
        return last_user_text(inp, ("input_text", "text"))

    def answer_ok(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        output = body.get("output")
        if output is None:
            return bool(body.get("error"))
        return isinstance(output, list) and all(isinstance(i, dict) for i in output)

    def block(self, body: dict, scope: Hashable) -> None:
        body["status"] = "incomplete"
        body["incomplete_details"] = {"reason": "content_filter"}
        body["output"] = []
        if "output_text" in body:
            body["output_text"] = ""

    def label(self, body: dict, label: TextLabel, blocked: set) -> bool:
        # output text carries the notice; a refusal alone is displayed text too
        for kind, field in (("output_text", "text"), ("refusal", "refusal")):
            parts = [
                part
                for item in iter_dicts(body.get("output"))
                if item.get("type") == "message"
                for part in iter_dicts(item.get("content"))
                if part.get("type") == kind and isinstance(part.get(field), str)
            ]
            if parts:
                part = parts[0] if label.position == "start" else parts[-1]
                part[field] = label.wrap(part[field])
                return bool(part[field])
        return False

    def stream(self, request: dict, slots: Slots) -> StreamProtocol:
        proto = ResponsesStream(request, slots)
        proto.pending = []
        return proto

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
