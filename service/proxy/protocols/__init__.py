"""One adapter per wire protocol behind the interface of ``base.Adapter``."""

from __future__ import annotations

from .anthropic_messages import AnthropicMessages
from .base import Adapter, InvalidRequest, error_body
from .embeddings import Embeddings
from .media import ImageEdits, Images, Speech, VideoContent, VideoJobs, Videos, VideoSync
from .ollama import OllamaChat, OllamaEmbed, OllamaGenerate
from .openai_chat import OpenAIChat
from .openai_completions import OpenAICompletions
from .openai_responses import OpenAIResponses

__all__ = ["ADAPTERS", "Adapter", "InvalidRequest", "by_name", "error_body"]

#: adapter name -> the one shared instance (adapters hold no per-request state)
ADAPTERS: dict[str, Adapter] = {
    a.name: a
    for a in (
        OpenAIChat(),
        OpenAICompletions(),
        OpenAIResponses(),
        Embeddings(),
        Images(),
        ImageEdits(),
        Speech(),
        Videos(),
        VideoJobs(),
        VideoSync(),
        VideoContent(),
        AnthropicMessages(),
        OllamaChat(),
        OllamaGenerate(),
        OllamaEmbed(),
    )
}


def by_name(name: str) -> Adapter:
    return ADAPTERS[name]
