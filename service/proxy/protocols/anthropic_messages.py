"""Anthropic Messages (`POST /v1/messages`), streaming and not.

Slots: one per `text` content block (its `text_delta`s) and one per `tool_use` block (its
`input_json_delta`s). `thinking`/`redacted_thinking` blocks, `signature_delta`, `ping`,
`message_start`, usage and unknown events pass through byte-exact: signatures break if their
text changes. A block ends the stream with `content_block_stop` for an open block, then
`message_delta` with `stop_reason: "refusal"` and `message_stop`.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..framing import Frame, sse_event
from ..screen import Screen
from .base import (
    Adapter,
    StreamTranslator,
    TextRef,
    add_text,
    content_parts,
    iter_dicts,
    walk_strings,
)

__all__ = ["AnthropicMessages"]

_STOP = "refusal"


def _tool_result(block: dict, refs: list[TextRef]) -> None:
    content_parts(block, "content", refs, ("text",))


class MessagesTranslator(StreamTranslator):
    def __init__(self, request: dict, screen: Screen) -> None:
        super().__init__(request, screen)
        self.kinds: dict[int, str] = {}  # open block index -> "text" | "tool"
        self.max_index = -1
        self.output_tokens = 0
        self.had_text = False
        # "start": the notice opens the first text block; "end": a text block of its own
        label = screen.label
        self._start_label = label is not None and label.position == "start"

    def on_frame(self, frame: Frame, out: list[bytes]) -> None:
        event = frame.event
        if event in (
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_start",
            "message_delta",
        ):
            obj = self.load(frame)
        else:
            obj = None
        if not isinstance(obj, dict):
            out.append(frame.raw)  # ping, message_stop, error, unknown events
            return
        if event == "message_start":
            msg = obj.get("message")
            if isinstance(msg, dict) and isinstance(msg.get("id"), str):
                self.response_id = msg["id"]
            out.append(frame.raw)
            return
        index = obj.get("index", 0)
        if event == "content_block_start":
            block = obj.get("content_block")
            btype = block.get("type") if isinstance(block, dict) else None
            self.max_index = max(self.max_index, index if isinstance(index, int) else 0)
            if btype == "text":
                self.kinds[index] = "text"
                text = block.get("text")
                if isinstance(text, str) and text:
                    released = self.screen.feed(("b", index), text, labeled=self._start_label)
                    if released is None:
                        return
                    if released != text:
                        block["text"] = released
                        out.append(sse_event(obj, event))
                        return
            elif btype in ("tool_use", "server_tool_use"):
                self.kinds[index] = "tool"
            out.append(frame.raw)
            return
        if event == "content_block_delta":
            delta = obj.get("delta")
            dtype = delta.get("type") if isinstance(delta, dict) else None
            field = {"text_delta": "text", "input_json_delta": "partial_json"}.get(dtype or "")
            value = delta.get(field) if field else None
            if not isinstance(value, str) or not value or index not in self.kinds:
                out.append(frame.raw)
                return
            self.output_tokens += 1
            released = self.screen.feed(
                ("b", index), value, labeled=field == "text" and self._start_label
            )
            if released is None:
                return
            if field == "text" and released:
                self.had_text = True
            if released == value:
                out.append(frame.raw)
            else:
                delta[field] = released
                out.append(sse_event(obj, event))
            return
        if event == "content_block_stop":
            kind = self.kinds.pop(index, None)
            if kind is not None:
                rest = self.screen.flush(("b", index))
                if rest is None:
                    return
                if rest:
                    dtype, field = (
                        ("text_delta", "text")
                        if kind == "text"
                        else ("input_json_delta", "partial_json")
                    )
                    extra = {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": dtype, field: rest},
                    }
                    out.append(sse_event(extra, "content_block_delta"))
            out.append(frame.raw)
            return
        # message_delta: the explicit label "at the end" goes in a text block of its own
        label = self.screen.label
        if label is not None and label.position == "end" and self.had_text and not self.kinds:
            index = self.max_index + 1
            self.max_index = index
            self.screen.labeled = True
            start = {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            }
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": label.notice},
            }
            out.append(sse_event(start, "content_block_start"))
            out.append(sse_event(delta, "content_block_delta"))
            out.append(
                sse_event({"type": "content_block_stop", "index": index}, "content_block_stop")
            )
        out.append(frame.raw)

    def on_end(self, out: list[bytes]) -> None:
        for index in list(self.kinds):
            rest = self.screen.flush(("b", index))
            if rest:
                extra = {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": rest},
                }
                out.append(sse_event(extra, "content_block_delta"))

    def blocked_tail(self) -> bytes:
        out = [
            sse_event({"type": "content_block_stop", "index": i}, "content_block_stop")
            for i in sorted(self.kinds)
        ]
        self.kinds.clear()
        out.append(
            sse_event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": _STOP, "stop_sequence": None},
                    "usage": {"output_tokens": self.output_tokens},
                },
                "message_delta",
            )
        )
        out.append(sse_event({"type": "message_stop"}, "message_stop"))
        return b"".join(out)

    def error_tail(self, code: str, message: str) -> bytes:
        err = {"type": "error", "error": {"type": "api_error", "code": code, "message": message}}
        return sse_event(err, "error")


class AnthropicMessages(Adapter):
    name = "anthropic_messages"

    def input_texts(self, body: dict) -> list[TextRef]:
        refs: list[TextRef] = []
        content_parts(body, "system", refs, ("text",))
        for msg in iter_dicts(body.get("messages")):
            content = msg.get("content")
            if isinstance(content, str):
                add_text(refs, msg, "content")
                continue
            for block in iter_dicts(content):
                btype = block.get("type")
                if btype == "text":
                    add_text(refs, block, "text")
                elif btype == "tool_result":
                    _tool_result(block, refs)
                elif btype == "tool_use":
                    walk_strings(block.get("input"), refs)
        return refs

    def user_id(self, body: dict) -> str | None:
        meta = body.get("metadata")
        user = meta.get("user_id") if isinstance(meta, dict) else None
        return user if isinstance(user, str) else None

    def screen_response(self, body: Any, screen: Screen) -> None:
        if not isinstance(body, dict):
            return
        texts: list[dict] = []
        for block in iter_dicts(body.get("content")):
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                block["text"] = screen.text(block["text"])
                texts.append(block)
            elif block.get("type") == "tool_use" and "input" in block:
                refs: list[TextRef] = []
                walk_strings(block["input"], refs)
                for container, key in refs:
                    container[key] = screen.text(container[key])
        if screen.blocked:
            body["content"] = []
            body["stop_reason"] = _STOP
            return
        if screen.label is not None and texts:
            block = texts[0] if screen.label.position == "start" else texts[-1]
            block["text"] = screen.label_whole(block["text"])

    def translator(self, request: dict, screen: Screen) -> StreamTranslator:
        return MessagesTranslator(request, screen)

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

    def error_body(self, status: int, code: str, message: str) -> bytes:
        etype = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            413: "request_too_large",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        return orjson.dumps(
            {"type": "error", "error": {"type": etype, "code": code, "message": message}}
        )
