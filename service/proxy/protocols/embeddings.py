"""OpenAI Embeddings (`POST /v1/embeddings`): the input is screened; vectors carry no text."""

from __future__ import annotations

from .base import Adapter, expect

__all__ = ["Embeddings"]


class Embeddings(Adapter):
    name = "embeddings"
    output = "vectors"

    def validate(self, body: dict) -> None:
        super().validate(body)
        expect(body, "input", str, list)

    def is_stream(self, body: dict) -> bool:
        return False
