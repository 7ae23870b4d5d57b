"""One adapter per wire protocol behind the interface of ``base.Adapter``; the route table."""

from __future__ import annotations

from .anthropic_messages import AnthropicMessages
from .base import Adapter, StreamTranslator
from .embeddings import Embeddings
from .media import Images, Speech
from .ollama import OllamaChat, OllamaGenerate
from .openai_chat import OpenAIChat
from .openai_completions import OpenAICompletions
from .openai_responses import OpenAIResponses

__all__ = ["ADAPTERS", "Adapter", "StreamTranslator"]

#: gateway path -> adapter (one shared instance each; adapters hold no state)
ADAPTERS: dict[str, Adapter] = {
    "/v1/chat/completions": OpenAIChat(),
    "/v1/completions": OpenAICompletions(),
    "/v1/responses": OpenAIResponses(),
    "/v1/embeddings": Embeddings(),
    "/v1/images/generations": Images(),
    "/v1/audio/speech": Speech(),
    "/v1/messages": AnthropicMessages(),
    "/api/chat": OllamaChat(),
    "/api/generate": OllamaGenerate(),
}
