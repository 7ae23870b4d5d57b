"""OpenAI image generation and speech: prompts screened, media outputs labeled.

`/v1/images/generations` screens `prompt` and each result's `revised_prompt`; the images
themselves are labeled by ``service.proxy.media`` (b64 results in place, URL results fetched
from the upstream host only and served back from the gateway). `/v1/audio/speech` screens
`input`; the audio bytes are labeled before they reach the client.
"""

from __future__ import annotations

from typing import Any

from ..screen import Screen
from .base import Adapter, TextRef, add_text, iter_dicts

__all__ = ["Images", "Speech"]


class Images(Adapter):
    name = "images"

    def is_stream(self, body: dict) -> bool:
        return False

    def input_texts(self, body: dict) -> list[TextRef]:
        refs: list[TextRef] = []
        add_text(refs, body, "prompt")
        return refs

    def screen_response(self, body: Any, screen: Screen) -> None:
        if not isinstance(body, dict):
            return
        for item in iter_dicts(body.get("data")):
            if isinstance(item.get("revised_prompt"), str):
                item["revised_prompt"] = screen.text(item["revised_prompt"])
        if screen.blocked:
            body["data"] = []


class Speech(Adapter):
    name = "speech"

    def is_stream(self, body: dict) -> bool:
        return False

    def input_texts(self, body: dict) -> list[TextRef]:
        refs: list[TextRef] = []
        add_text(refs, body, "input")
        add_text(refs, body, "instructions")
        return refs
