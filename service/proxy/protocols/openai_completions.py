"""OpenAI legacy Completions (`POST /v1/completions`): `prompt` in, `choices[].text` out."""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..framing import sse_event
from ..screen import Screen
from .base import Adapter, StreamTranslator, TextRef, add_text, add_text_or_texts, iter_dicts
from .openai_chat import ChatTranslator

__all__ = ["OpenAICompletions"]


class CompletionsTranslator(ChatTranslator):
    object_name = "text_completion"

    def text_refs(self, choice: dict, index: int) -> list:
        value = choice.get("text")
        if not isinstance(value, str) or not value:
            return []
        return [((index, "text"), choice, "text", True)]

    def flush_into(self, choice: dict, index: int) -> bool:
        rest = self.screen.flush((index, "text"))
        self.finished.add(index)
        if not rest:
            return False
        choice["text"] = (choice.get("text") or "") + rest
        return True

    def stop_choice(self, index: int) -> dict:
        return {"index": index, "text": "", "logprobs": None, "finish_reason": "content_filter"}


class OpenAICompletions(Adapter):
    name = "openai_completions"

    def input_texts(self, body: dict) -> list[TextRef]:
        refs: list[TextRef] = []
        add_text_or_texts(refs, body, "prompt")
        add_text(refs, body, "suffix")
        return refs

    def screen_response(self, body: Any, screen: Screen) -> None:
        choices = list(iter_dicts(body.get("choices"))) if isinstance(body, dict) else []
        for choice in choices:
            if isinstance(choice.get("text"), str):
                choice["text"] = screen.text(choice["text"])
        for choice in choices:
            if screen.blocked:
                choice["text"] = ""
                choice["finish_reason"] = "content_filter"
            elif isinstance(choice.get("text"), str):
                choice["text"] = screen.label_whole(choice["text"])

    def translator(self, request: dict, screen: Screen) -> StreamTranslator:
        return CompletionsTranslator(request, screen)

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
