"""OpenAI legacy Completions (`POST /v1/completions`): `prompt` in, `choices[].text` out.

Streams like Chat, choice by choice; the text of each choice is its label slot.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any, ClassVar

import orjson

from ..decisions import ALL
from ..framing import sse_event
from ..labels import TextLabel
from ..slots import Slots
from ..stream import Event, Field, StreamProtocol, Unparseable
from .base import Adapter, expect, iter_dicts, no_token_ids
from .openai_chat import ChoicesStream, choice_scope, plain_choice

__all__ = ["OpenAICompletions"]


class CompletionsStream(ChoicesStream):
    object_name = "text_completion"

    def check_choice(self, choice: dict) -> None:
        text = choice.get("text")
        if text is not None and not isinstance(text, str):
            raise Unparseable("a chunk whose choice text is not a string")

    def _classify(self, path: tuple) -> Field:
        scope = choice_scope(path)
        if scope != ALL and len(path) == 3 and path[2] == "text":
            return Field(path, scope, display=True, label=True)
        return Field(None, scope)

    def merge(self, last: Event, event: Event) -> bool:
        a = last.plain if last.plain is not False else plain_choice(last.obj)
        last.plain = a
        b = event.plain = plain_choice(event.obj)
        if (
            a is None
            or b is None
            or a.get("index") != b.get("index")
            or "delta" in a
            or "delta" in b
        ):
            return False
        if not isinstance(a.get("text"), str) or not isinstance(b.get("text"), str):
            return False
        a["text"] += b["text"]
        return True

    def carries_text(self, choice: dict) -> bool:
        return bool(choice.get("text"))

    def text_part(self, choice: dict) -> dict:
        text, choice["text"] = choice["text"], ""
        return {
            "index": choice.get("index", 0),
            "text": text,
            "logprobs": None,
            "finish_reason": None,
        }

    def add_text(self, choice: dict, text: str, front: bool = False) -> None:
        old = choice.get("text") or ""
        choice["text"] = text + old if front else old + text

    def keep(self, choice: dict) -> bool:
        return bool(choice.get("text")) or choice.get("finish_reason") is not None

    def empty_choice(self, index: int, finish: str | None) -> dict:
        return {"index": index, "text": "", "logprobs": None, "finish_reason": finish}


class OpenAICompletions(Adapter):
    name = "openai_completions"
    strip: ClassVar[dict[str, Any] | None] = {"logprobs": None}

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "n", int)
        expect(body, "stream_options", dict)
        expect(body, "prompt", str, list)
        no_token_ids(body, "prompt")
        expect(body, "suffix", str)

    def prompt_text(self, body: dict) -> str:
        prompt = body.get("prompt")
        if isinstance(prompt, list):  # several prompts (token ids are refused)
            return "\n".join(p for p in prompt if isinstance(p, str))
        return prompt if isinstance(prompt, str) else ""

    def scope_of(self, path: tuple) -> Hashable:
        return choice_scope(path)

    def answer_ok(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        choices = body.get("choices")
        if choices is None:
            return bool(body.get("error"))
        return isinstance(choices, list) and all(isinstance(c, dict) for c in choices)

    def block(self, body: dict, scope: Hashable) -> None:
        for choice in iter_dicts(body.get("choices")):
            if scope == ALL or choice.get("index", 0) == scope:
                choice["text"] = ""
                choice["finish_reason"] = "content_filter"

    def label(self, body: dict, label: TextLabel, blocked: set) -> bool:
        placed = False
        for choice in iter_dicts(body.get("choices")):
            if choice.get("index", 0) not in blocked and isinstance(choice.get("text"), str):
                choice["text"] = label.wrap(choice["text"])
                placed = placed or bool(choice["text"])
        return placed

    def stream(self, request: dict, slots: Slots) -> StreamProtocol:
        return CompletionsStream(request, slots)

    def refusal(self, request: dict, text: str, response_id: str) -> bytes | None:
        head = {
            "id": f"cmpl-{response_id}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": request.get("model") or "",
        }
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "content_filter"}
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        if not self.is_stream(request):
            return orjson.dumps({**head, "choices": [choice], "usage": usage})
        opts = request.get("stream_options")
        out = [
            sse_event({**head, "choices": [{**choice, "finish_reason": None}]}),
            sse_event({**head, "choices": [{**choice, "text": ""}]}),
        ]
        if isinstance(opts, dict) and opts.get("include_usage") is True:
            out.append(sse_event({**head, "choices": [], "usage": usage}))
        return b"".join(out) + b"data: [DONE]\n\n"
