"""OpenAI Chat Completions (`POST /v1/chat/completions`), streaming and not.

Slots: per choice the `content`, `refusal` and `reasoning_content` deltas, and per (choice,
tool-call index) the concatenated function `arguments`. A blocked stream ends with
`finish_reason: "content_filter"` for each open choice, the usage chunk when the caller asked
for `stream_options.include_usage`, and `data: [DONE]`.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import orjson

from ..framing import Frame, sse_event
from ..screen import Screen
from .base import Adapter, StreamTranslator, TextRef, add_text, content_parts, iter_dicts

__all__ = ["OpenAIChat", "ChatTranslator"]

_TEXT_FIELDS = ("content", "refusal", "reasoning_content")
_DONE = b"data: [DONE]\n\n"


def wants_json(body: dict) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


class ChatTranslator(StreamTranslator):
    object_name: ClassVar[str] = "chat.completion.chunk"

    def __init__(self, request: dict, screen: Screen) -> None:
        super().__init__(request, screen)
        opts = request.get("stream_options")
        self.include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
        self.template: dict[str, Any] = {}
        self.choices: dict[int, set] = {}  # choice index -> slot keys
        self.finished: set[int] = set()
        self.deltas = 0
        self.usage: Any = None

    # -- per choice text -------------------------------------------------------------------
    #
    # All frames of one network read are screened together: the texts of one slot in that
    # read are fed to its scanner in one call, the released text goes into the slot's last
    # frame of the read and its earlier frames carry "". The client receives the same bytes
    # at the same moment, with a fraction of the scanner calls under load.

    def text_refs(self, choice: dict, index: int) -> list[tuple[Any, dict, str, bool]]:
        """(slot key, container, field, labeled) of every text in one choice delta."""
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return []
        refs = []
        for field in _TEXT_FIELDS:
            value = delta.get(field)
            if isinstance(value, str) and value:
                refs.append(((index, field), delta, field, field == "content"))
        for call in iter_dicts(delta.get("tool_calls")):
            fn = call.get("function")
            args = fn.get("arguments") if isinstance(fn, dict) else None
            if isinstance(args, str) and args:
                refs.append(((index, "tool", call.get("index", 0)), fn, "arguments", False))
        return refs

    def _flush_choice(self, choice: dict, index: int) -> bool:
        """Release what a finished choice still holds into its final delta."""
        modified = False
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = choice["delta"] = {}
        for key in sorted(self.choices.get(index, ()), key=repr):
            rest = self.screen.flush(key)
            if rest is None:
                return False
            if not rest:
                continue
            modified = True
            if key[1] == "tool":
                calls = delta.get("tool_calls")
                if not isinstance(calls, list):
                    calls = delta["tool_calls"] = []
                for call in iter_dicts(calls):
                    if call.get("index", 0) == key[2]:
                        fn = call.setdefault("function", {})
                        fn["arguments"] = (fn.get("arguments") or "") + rest
                        break
                else:
                    calls.append({"index": key[2], "function": {"arguments": rest}})
            else:
                delta[key[1]] = (delta.get(key[1]) or "") + rest
        self.finished.add(index)
        return modified

    def flush_into(self, choice: dict, index: int) -> bool:
        return self._flush_choice(choice, index)

    # -- frames ----------------------------------------------------------------------------

    def _frames(self, frames: list[Frame]) -> bytes:
        items: list[list] = []  # [raw bytes | None, obj | None, modified, pending refs]
        pending: dict[Any, list] = {}  # slot key -> [(item, container, field)], texts, labeled

        def commit(keys: list) -> bool:
            for key in keys:
                refs, texts, labeled = pending.pop(key)
                released = self.screen.feed(key, "".join(texts), labeled=labeled)
                if released is None:
                    # keep the safe text before the blocking term, in the slot's first frame
                    item, container, field = refs[0]
                    container[field] = self.screen.safe_before_block
                    item[2] = True
                    item[3] -= 1
                    return False
                last = len(refs) - 1
                for n, (item, container, field) in enumerate(refs):
                    value = released if n == last else ""
                    if container[field] != value:
                        container[field] = value
                        item[2] = True
                    item[3] -= 1
            return True

        def emit(upto: int | None = None) -> bytes:
            out = []
            for raw, obj, modified, _ in items[:upto]:
                out.append(sse_event(obj) if modified else raw)
            return b"".join(out)

        def blocked() -> bytes:
            self.done = True
            cut = next((n for n, item in enumerate(items) if item[3]), len(items))
            return emit(cut) + self.blocked_tail()

        for frame in frames:
            self.frames_in += 1
            if frame.data == b"[DONE]":
                if not commit(list(pending)):
                    return blocked()
                tail: list[bytes] = []
                self._flush_open(tail)
                if self.screen.blocked:
                    return blocked()
                items.extend([b, None, False, 0] for b in tail)
                items.append([frame.raw, None, False, 0])
                self.done = True
                break
            obj = self.load(frame)
            if not isinstance(obj, dict) or "error" in obj:
                items.append([frame.raw, None, False, 0])  # pings, upstream errors, unknown
                continue
            if not self.template:
                self.template = {k: obj[k] for k in ("id", "created", "model") if k in obj}
                rid = obj.get("id")
                self.response_id = rid if isinstance(rid, str) else None
            if obj.get("usage"):
                self.usage = obj["usage"]
            choices = obj.get("choices")
            item = [frame.raw, obj, False, 0]
            items.append(item)
            if not isinstance(choices, list) or not choices:
                continue
            for choice in iter_dicts(choices):
                index = choice.get("index", 0)
                keys = self.choices.setdefault(index, set())
                self.deltas += 1
                for key, container, field, labeled in self.text_refs(choice, index):
                    keys.add(key)
                    slot = pending.setdefault(key, [[], [], labeled])
                    slot[0].append((item, container, field))
                    slot[1].append(container[field])
                    item[3] += 1
                if choice.get("finish_reason"):
                    if not commit([k for k in pending if k[0] == index]):
                        return blocked()
                    if self.flush_into(choice, index):
                        item[2] = True
                    if self.screen.blocked:
                        return blocked()
        if not commit(list(pending)):
            return blocked()
        return emit()

    def _flush_open(self, out: list[bytes]) -> None:
        for index in sorted(set(self.choices) - self.finished):
            choice: dict[str, Any] = {"index": index, "delta": {}, "finish_reason": None}
            if self.flush_into(choice, index):
                out.append(sse_event(self._chunk([choice])))
            if self.screen.blocked:
                return

    def on_end(self, out: list[bytes]) -> None:
        self._flush_open(out)

    def _chunk(self, choices: list) -> dict:
        chunk = {
            "id": self.template.get("id", "chatcmpl-aigc"),
            "object": self.object_name,
            "created": self.template.get("created", int(time.time())),
            "model": self.template.get("model", self.request.get("model", "")),
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def stop_choice(self, index: int) -> dict:
        return {"index": index, "delta": {}, "logprobs": None, "finish_reason": "content_filter"}

    def blocked_tail(self) -> bytes:
        out = []
        for index in sorted(set(self.choices or {0: None}) - self.finished):
            out.append(sse_event(self._chunk([self.stop_choice(index)])))
        if self.include_usage:
            usage = self.usage or {
                "prompt_tokens": 0,
                "completion_tokens": self.deltas,
                "total_tokens": self.deltas,
            }
            chunk = self._chunk([])
            chunk["usage"] = usage
            out.append(sse_event(chunk))
        out.append(_DONE)
        return b"".join(out)

    def error_tail(self, code: str, message: str) -> bytes:
        err = {"error": {"message": message, "type": "api_error", "param": None, "code": code}}
        return sse_event(err)


class OpenAIChat(Adapter):
    name = "openai_chat"

    def input_texts(self, body: dict) -> list[TextRef]:
        refs: list[TextRef] = []
        for msg in iter_dicts(body.get("messages")):
            content_parts(msg, "content", refs, ("text", "input_text"))
            add_text(refs, msg, "refusal")
            for call in iter_dicts(msg.get("tool_calls")):
                fn = call.get("function")
                if isinstance(fn, dict):
                    add_text(refs, fn, "arguments")
        return refs

    def labelable(self, body: dict) -> bool:
        return not wants_json(body)

    def screen_response(self, body: Any, screen: Screen) -> None:
        choices = list(iter_dicts(body.get("choices"))) if isinstance(body, dict) else []
        for choice in choices:
            msg = choice.get("message")
            if not isinstance(msg, dict):
                continue
            for field in _TEXT_FIELDS:
                if isinstance(msg.get(field), str):
                    msg[field] = screen.text(msg[field])
            for call in iter_dicts(msg.get("tool_calls")):
                fn = call.get("function")
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    fn["arguments"] = screen.text(fn["arguments"])
        if screen.blocked:
            for choice in choices:
                msg = choice.get("message")
                if isinstance(msg, dict):
                    msg["content"] = ""
                    msg.pop("tool_calls", None)
                    for field in ("refusal", "reasoning_content"):
                        if field in msg:
                            msg[field] = None
                choice["finish_reason"] = "content_filter"
            return
        if screen.label is not None:
            for choice in choices:
                msg = choice.get("message")
                if isinstance(msg, dict) and isinstance(msg.get("content"), str):
                    msg["content"] = screen.label_whole(msg["content"])

    def translator(self, request: dict, screen: Screen) -> StreamTranslator:
        return ChatTranslator(request, screen)

    def refusal(self, request: dict, text: str, response_id: str) -> bytes | None:
        head = {
            "id": f"chatcmpl-{response_id}",
            "created": int(time.time()),
            "model": request.get("model") or "",
        }
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        if not self.is_stream(request):
            message = {"role": "assistant", "content": text, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None}
            choice["finish_reason"] = "content_filter"
            return orjson.dumps(
                {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        opts = request.get("stream_options")
        with_usage = isinstance(opts, dict) and opts.get("include_usage") is True
        chunk = {**head, "object": "chat.completion.chunk"}
        if with_usage:
            chunk["usage"] = None

        def choice(delta: dict, finish: str | None) -> bytes:
            c = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return sse_event({**chunk, "choices": [c]})

        out = [
            choice({"role": "assistant", "content": ""}, None),
            choice({"content": text}, None),
            choice({}, "content_filter"),
        ]
        if with_usage:
            out.append(sse_event({**chunk, "choices": [], "usage": usage}))
        return b"".join(out) + _DONE
