"""Ollama native API: `POST /api/chat` and `POST /api/generate`, NDJSON streams.

Slots: the `message.content` (chat) or `response` (generate) of every line; `thinking` is
passed through. Tool calls arrive whole, so their argument strings are screened as whole texts.
The final line (`"done": true`) releases what is held; a block ends with a final line
`"done": true, "done_reason": "content_filter"`. Ollama streams unless `"stream": false`.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import orjson

from ..framing import Frame, ndjson_line
from ..screen import Screen
from .base import Adapter, StreamTranslator, TextRef, add_text, iter_dicts, walk_strings

__all__ = ["OllamaChat", "OllamaGenerate"]


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat().replace("+00:00", "Z")


class OllamaTranslator(StreamTranslator):
    framing = "ndjson"

    def __init__(self, request: dict, screen: Screen, chat: bool) -> None:
        super().__init__(request, screen)
        self.chat = chat
        self.model = request.get("model", "")

    def _text_holder(self, obj: dict) -> tuple[dict, str] | None:
        if self.chat:
            msg = obj.get("message")
            return (msg, "content") if isinstance(msg, dict) else None
        return obj, "response"

    def on_frame(self, frame: Frame, out: list[bytes]) -> None:
        obj = self.load(frame)
        if not isinstance(obj, dict) or "error" in obj:
            out.append(frame.raw)
            return
        holder = self._text_holder(obj)
        modified = False
        if holder is not None:
            container, field = holder
            value = container.get(field)
            if isinstance(value, str) and value:
                text = self.screen.feed("text", value, labeled=True)
                if text is None:
                    return
                if text != value:
                    container[field] = text
                    modified = True
            if self.chat:
                for call in iter_dicts(container.get("tool_calls")):
                    refs: list[TextRef] = []
                    walk_strings(call.get("function"), refs)
                    for c, k in refs:
                        text = self.screen.text(c[k])
                        if text is None:
                            return
                        if text != c[k]:
                            c[k] = text
                            modified = True
        if obj.get("done") is True:
            rest = self.screen.flush("text")
            if rest is None:
                return
            if rest:
                if holder is None:
                    obj["message"] = {"role": "assistant", "content": ""}
                    holder = (obj["message"], "content")
                container, field = holder
                container[field] = (container.get(field) or "") + rest
                modified = True
            self.done = True
        out.append(ndjson_line(obj) if modified else frame.raw)

    def on_end(self, out: list[bytes]) -> None:
        rest = self.screen.flush("text")
        if rest:
            out.append(ndjson_line(self._line(rest, done=False)))

    def _line(self, text: str, *, done: bool, reason: str | None = None) -> dict:
        line: dict[str, Any] = {"model": self.model, "created_at": _now()}
        if self.chat:
            line["message"] = {"role": "assistant", "content": text}
        else:
            line["response"] = text
        line["done"] = done
        if reason:
            line["done_reason"] = reason
        return line

    def blocked_tail(self) -> bytes:
        return ndjson_line(self._line("", done=True, reason="content_filter"))

    def error_tail(self, code: str, message: str) -> bytes:
        return ndjson_line({"error": message, "code": code})


class _Ollama(Adapter):
    framing = "ndjson"
    stream_media_type = "application/x-ndjson"
    chat = True

    def is_stream(self, body: dict) -> bool:
        return body.get("stream") is not False

    def labelable(self, body: dict) -> bool:
        return not body.get("format")  # "json" or a JSON schema

    def error_body(self, status: int, code: str, message: str) -> bytes:
        return orjson.dumps({"error": message, "code": code})

    def response_id(self, body: Any) -> str | None:
        return None

    def translator(self, request: dict, screen: Screen) -> StreamTranslator:
        return OllamaTranslator(request, screen, self.chat)

    def refusal(self, request: dict, text: str, response_id: str) -> bytes | None:
        model = request.get("model") or ""

        def line(value: str, done: bool) -> dict:
            obj: dict[str, Any] = {"model": model, "created_at": _now()}
            if self.chat:
                obj["message"] = {"role": "assistant", "content": value}
            else:
                obj["response"] = value
            obj["done"] = done
            if done:
                obj["done_reason"] = "content_filter"
            return obj

        if not self.is_stream(request):
            return orjson.dumps(line(text, True))
        return ndjson_line(line(text, False)) + ndjson_line(line("", True))


class OllamaChat(_Ollama):
    name = "ollama_chat"

    def input_texts(self, body: dict) -> list[TextRef]:
        refs: list[TextRef] = []
        for msg in iter_dicts(body.get("messages")):
            add_text(refs, msg, "content")
            for call in iter_dicts(msg.get("tool_calls")):
                walk_strings(call.get("function"), refs)
        return refs

    def screen_response(self, body: Any, screen: Screen) -> None:
        msg = body.get("message") if isinstance(body, dict) else None
        if not isinstance(msg, dict):
            return
        if isinstance(msg.get("content"), str):
            msg["content"] = screen.text(msg["content"])
        for call in iter_dicts(msg.get("tool_calls")):
            refs: list[TextRef] = []
            walk_strings(call.get("function"), refs)
            for c, k in refs:
                c[k] = screen.text(c[k])
        if screen.blocked:
            body["message"] = {"role": "assistant", "content": ""}
            body["done_reason"] = "content_filter"
        elif isinstance(msg.get("content"), str):
            msg["content"] = screen.label_whole(msg["content"])


class OllamaGenerate(_Ollama):
    name = "ollama_generate"
    chat = False

    def input_texts(self, body: dict) -> list[TextRef]:
        refs: list[TextRef] = []
        add_text(refs, body, "prompt")
        add_text(refs, body, "system")
        add_text(refs, body, "suffix")
        return refs

    def screen_response(self, body: Any, screen: Screen) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("response"), str):
            return
        body["response"] = screen.text(body["response"])
        if screen.blocked:
            body["response"] = ""
            body["done_reason"] = "content_filter"
        else:
            body["response"] = screen.label_whole(body["response"])
