"""The one small interface every guard backend implements: build a request, parse an answer.

A backend is pure: no I/O, no state. ``GuardClient`` does the HTTP (timeouts, retries, the
circuit breaker, the cache) the same way for all of them, so a backend is only its wire
format::

    class Backend(Protocol):
        name: str
        def request(self, item: GuardInput, model: str) -> tuple[str, dict]: ...
        def parse(self, payload: Any, item: GuardInput) -> GuardResult: ...

``request`` returns the path to append to the configured ``url`` ("" for the URL itself) and
the JSON body. ``parse`` gets the decoded JSON of a 2xx answer and raises ``BadGuardResponse``
when it is not what the format promises. Messages never quote the answer (it may echo the
text being classified, which must not reach the logs).
"""

from __future__ import annotations

from typing import Any, Protocol

from ..verdict import GuardInput, GuardResult

__all__ = ["Backend", "BadGuardResponse", "chat_content", "chat_request"]


class BadGuardResponse(ValueError):
    """The guard answered, but not in its documented format."""


class Backend(Protocol):
    name: str

    def request(self, item: GuardInput, model: str) -> tuple[str, dict[str, Any]]: ...

    def parse(self, payload: Any, item: GuardInput) -> GuardResult: ...


def chat_request(item: GuardInput, model: str, max_tokens: int = 64) -> tuple[str, dict[str, Any]]:
    """``POST {url}/chat/completions`` for a guard model served behind an OpenAI-compatible API.

    The model's own chat template (applied by vLLM, SGLang or Ollama) turns the conversation
    into the guard prompt: a prompt is classified as the only user turn; an output as the
    assistant turn answering ``item.prompt`` (an empty user turn when the prompt is unknown).
    """
    if item.direction == "output":
        messages = [
            {"role": "user", "content": item.prompt or ""},
            {"role": "assistant", "content": item.text},
        ]
    else:
        messages = [{"role": "user", "content": item.text}]
    body = {
        "model": model,
        "messages": messages,
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": False,
    }
    return "/chat/completions", body


def chat_content(payload: Any) -> str:
    """``choices[0].message.content`` of a chat completion, or ``BadGuardResponse``."""
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise BadGuardResponse("not a chat completion (no choices[0].message.content)") from None
    if not isinstance(content, str) or not content.strip():
        raise BadGuardResponse("the chat completion has no text content")
    return content
