"""Guard backends, one module per wire format, behind ``base.Backend``."""

from __future__ import annotations

from .base import Backend, BadGuardResponse
from .llamaguard import LlamaGuard
from .openai_moderation import OpenAIModeration
from .qwen3guard import Qwen3Guard
from .webhook import Webhook

__all__ = ["Backend", "BadGuardResponse", "backend_for"]

_BACKENDS: dict[str, Backend] = {
    b.name: b for b in (Qwen3Guard(), LlamaGuard(), OpenAIModeration(), Webhook())
}


def backend_for(name: str) -> Backend:
    """The backend for a ``[classifier] backend`` name; ``KeyError`` for an unknown one."""
    return _BACKENDS[name]
