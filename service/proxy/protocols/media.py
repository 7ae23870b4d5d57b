"""OpenAI image generation/edits and speech: prompts screened, media outputs labeled.

`/v1/images/generations` (JSON) and `/v1/images/edits` / `/variations` (multipart, with the
source images) answer with images: ``revised_prompt`` is screened, the images themselves are
labeled by ``service.proxy.media``. `/v1/audio/speech` answers with audio bytes, labeled
before they reach the client.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from .base import Adapter, expect

__all__ = ["ImageEdits", "Images", "Speech"]


class Images(Adapter):
    name = "images"
    output = "image"

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "prompt", str)

    def is_stream(self, body: dict) -> bool:
        return False

    def answer_ok(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        data = body.get("data")
        return (data is None and bool(body.get("error"))) or isinstance(data, list)

    def block(self, body: dict, scope: Hashable) -> None:
        body["data"] = []


class ImageEdits(Images):
    name = "image_edits"
    takes_media = True  # the images to edit


class Speech(Adapter):
    name = "speech"
    output = "audio"

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "input", str)
        expect(body, "instructions", str)

    def is_stream(self, body: dict) -> bool:
        return False
