"""OpenAI Embeddings (`POST /v1/embeddings`): the input is screened; vectors pass as they are."""

from __future__ import annotations

from ..screen import Screen
from .base import Adapter, TextRef, add_text_or_texts

__all__ = ["Embeddings"]


class Embeddings(Adapter):
    name = "embeddings"

    def is_stream(self, body: dict) -> bool:
        return False

    def input_texts(self, body: dict) -> list[TextRef]:
        refs: list[TextRef] = []
        add_text_or_texts(refs, body, "input")
        return refs

    def screen_response(self, body: object, screen: Screen) -> None:
        """Embeddings carry no text back: nothing to screen or label."""
