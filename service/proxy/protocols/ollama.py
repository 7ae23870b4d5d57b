"""Ollama native API: `POST /api/chat`, `/api/generate` (NDJSON streams) and `/api/embed`.

Slots: ``message.content`` (chat) or ``response`` (generate), the label slot, and
``thinking``; tool calls arrive whole and are screened whole. The final line (``"done":
true``) is the terminal event; what is still held goes out in a line just before it. A block
ends with a final line ``"done": true, "done_reason": "content_filter"``. Ollama streams
unless ``"stream": false``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Hashable
from typing import Any, ClassVar

import orjson

from ..framing import ndjson_line
from ..labels import TextLabel
from ..slots import Slots
from ..stream import Event, Field, StreamProtocol, Unparseable, put_path
from .base import Adapter, expect, last_user_text, list_of_dicts, no_token_ids

__all__ = ["OllamaChat", "OllamaEmbed", "OllamaGenerate"]


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat().replace("+00:00", "Z")


class OllamaStream(StreamProtocol):
    framing = "ndjson"
    strip: ClassVar[dict[str, Any] | None] = {"logprobs": None}

    def __init__(self, request: dict, slots: Slots, chat: bool) -> None:
        super().__init__(request, slots)
        self.chat = chat
        self.model = request.get("model", "")
        self.text = ("message", "content") if chat else ("response",)
        self.thinking = ("message", "thinking") if chat else ("thinking",)

    def check(self, event: Event) -> None:
        obj = event.obj
        holder = obj
        if self.chat and "message" in obj:
            holder = obj["message"]
            if not isinstance(holder, dict):
                raise Unparseable("a line whose message is not an object")
        for field in ("content", "response", "thinking"):
            value = holder.get(field)
            if value is not None and not isinstance(value, str):
                raise Unparseable(f"a line whose {field} is not a string")
        if not isinstance(obj.get("done", False), bool):
            raise Unparseable("a line whose done is not a boolean")

    def merge(self, last: Event, event: Event) -> bool:
        a, b = last.obj, event.obj
        if a.get("done") is not False or b.get("done") is not False or a.keys() != b.keys():
            return False
        if not a.keys() <= {"model", "created_at", "message", "response", "done"}:
            return False
        if self.chat:
            ma, mb = a.get("message"), b.get("message")
            if not isinstance(ma, dict) or not isinstance(mb, dict):
                return False
            if ma.keys() != {"role", "content"} or mb.keys() != ma.keys():
                return False
            if not isinstance(ma["content"], str) or not isinstance(mb["content"], str):
                return False
            ma["content"] += mb["content"]
            return True
        if not isinstance(a.get("response"), str) or not isinstance(b.get("response"), str):
            return False
        a["response"] += b["response"]
        return True

    def classify(self, event: Event, path: tuple) -> Field:
        if path == self.text:
            return Field(path, display=True, label=True)
        if path == self.thinking:
            return Field(path, display=True)
        return Field(None)

    def after(self, event: Event, out: list[bytes], blocked_before: set) -> None:
        obj = event.obj
        self.deltas += 1
        notice = self.slots.owed.pop("*", None)
        if notice:
            put_path(obj, self.text, "")
            _prepend(obj, self.text, notice)
        if "error" in obj or obj.get("done"):
            return
        texts = [_get(obj, self.text), _get(obj, self.thinking)]
        holder = obj.get("message") if self.chat else obj
        if not any(texts) and not (isinstance(holder, dict) and holder.get("tool_calls")):
            if any(t == "" for t in texts):
                event.drop = True

    def is_terminal(self, event: Event) -> bool:
        return event.obj.get("done") is True

    def split(self, event: Event) -> list[Event]:
        """A final line that carries text: the text in a line of its own first."""
        obj = event.obj
        if obj is None or obj.get("done") is not True or "error" in obj:
            return [event]
        line = self._line(False)
        moved = False
        for path in (self.text, self.thinking):
            value = _get(obj, path)
            if isinstance(value, str) and value:
                put_path(line, path, value)
                _put(obj, path, "")
                moved = True
        return [Event(event.name, line), event] if moved else [event]

    def emit(self, key: Hashable, text: str, out: list[bytes]) -> None:
        assert isinstance(key, tuple)
        line = self._line(False)
        put_path(line, key, text)
        notice = self.slots.owed.pop("*", None)
        if notice:
            _prepend(line, self.text, notice)
        out.append(ndjson_line(line))

    def _line(self, done: bool, reason: str | None = None) -> dict:
        line: dict[str, Any] = {"model": self.model, "created_at": _now()}
        if self.chat:
            line["message"] = {"role": "assistant", "content": ""}
        else:
            line["response"] = ""
        line["done"] = done
        if reason:
            line["done_reason"] = reason
        return line

    def flush_all(self, out: list[bytes]) -> None:
        line = self._line(False)
        rests = self.slots.flush_scope("*")
        if self.slots.all_blocked:
            return
        for key, rest in rests:
            put_path(line, key, rest)
        tail = self.slots.end_notice("*")
        if tail:
            put_path(line, self.text, tail)
        if rests or tail:
            out.append(ndjson_line(line))

    def block_tail(self, out: list[bytes]) -> None:
        tail = self.slots.end_notice("*")
        if tail:
            line = self._line(False)
            put_path(line, self.text, tail)
            out.append(ndjson_line(line))
        out.append(ndjson_line(self._line(True, "content_filter")))

    def error_tail(self, code: str, message: str) -> bytes:
        return ndjson_line({"error": message, "code": code})


def _get(obj: dict, path: tuple) -> Any:
    for step in path:
        obj = obj.get(step) if isinstance(obj, dict) else None
    return obj


def _put(obj: dict, path: tuple, text: str) -> None:
    for step in path[:-1]:
        obj = obj[step]
    obj[path[-1]] = text


def _prepend(obj: dict, path: tuple, text: str) -> None:
    for step in path[:-1]:
        obj = obj[step]
    obj[path[-1]] = text + (obj.get(path[-1]) or "")


class _Ollama(Adapter):
    family = "ollama"
    framing = "ndjson"
    stream_media_type = "application/x-ndjson"
    takes_media = True  # images
    chat: ClassVar[bool] = True
    # token log-probabilities (Ollama 0.12+) repeat the output token by token, one line each
    strip: ClassVar[dict[str, Any] | None] = {"logprobs": None}

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "format", str, dict)
        expect(body, "options", dict)

    def is_stream(self, body: dict) -> bool:
        return body.get("stream") is not False

    def labelable(self, body: dict) -> bool:
        return not body.get("format")  # "json" or a JSON schema

    def response_id(self, body: Any) -> str | None:
        return None

    def answer_ok(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        if self.chat:
            return isinstance(body.get("message"), dict) or bool(body.get("error"))
        return isinstance(body.get("response"), str) or bool(body.get("error"))

    def block(self, body: dict, scope: Any) -> None:
        if self.chat:
            body["message"] = {"role": "assistant", "content": ""}
        else:
            body["response"] = ""
        body["done_reason"] = "content_filter"

    def label(self, body: dict, label: TextLabel, blocked: set) -> bool:
        holder, field = (body.get("message"), "content") if self.chat else (body, "response")
        if not isinstance(holder, dict):
            return False
        if isinstance(holder.get(field), str) and holder[field]:
            holder[field] = label.wrap(holder[field])
            return True
        if isinstance(holder.get("thinking"), str) and holder["thinking"]:
            holder[field] = label.notice  # thinking alone: the notice is the answer, as streamed
            return True
        return False

    def stream(self, request: dict, slots: Slots) -> StreamProtocol:
        return OllamaStream(request, slots, self.chat)

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

    def prompt_text(self, body: dict) -> str:
        return last_user_text(body.get("messages"))

    def validate(self, body: dict) -> None:
        super().validate(body)
        for i, msg in enumerate(list_of_dicts(body, "messages")):
            expect(msg, "role", str, where=f"messages[{i}].")
            expect(msg, "content", str, where=f"messages[{i}].")
            list_of_dicts(msg, "tool_calls", f"messages[{i}].")


class OllamaGenerate(_Ollama):
    name = "ollama_generate"
    chat = False

    def validate(self, body: dict) -> None:
        super().validate(body)
        for key in ("prompt", "system", "suffix", "template"):
            expect(body, key, str)
        expect(body, "context", list)
        no_token_ids(body, "context")  # the token ids of an earlier exchange, read as text


class OllamaEmbed(Adapter):
    """`/api/embed` (``input``: a string or a list) and the older `/api/embeddings`."""

    name = "ollama_embed"
    family = "ollama"
    output = "vectors"

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "input", str, list)
        expect(body, "prompt", str)

    def is_stream(self, body: dict) -> bool:
        return False

    def response_id(self, body: Any) -> str | None:
        return None
