"""Qwen3Guard-Gen behind an OpenAI-compatible chat endpoint.

Output format (Qwen3Guard model card / README, "Quick Start"): prompt moderation answers ::

    Safety: Unsafe
    Categories: Violent

and response moderation adds a third line ``Refusal: Yes`` or ``Refusal: No``. Safety is one of
``Safe``, ``Unsafe``, ``Controversial``; categories (comma-separated, ``None`` when safe) are
``Violent``, ``Non-violent Illegal Acts``, ``Sexual Content or Sexual Acts``, ``PII``,
``Suicide & Self-Harm``, ``Unethical Acts``, ``Politically Sensitive Topics``,
``Copyright Violation`` and, for prompts only, ``Jailbreak``.
"""

from __future__ import annotations

import re
from typing import Any

from ..verdict import GuardInput, GuardResult
from .base import BadGuardResponse, chat_content, chat_request

__all__ = ["Qwen3Guard"]

_SAFETY = re.compile(r"Safety:\s*(Safe|Unsafe|Controversial)\b", re.IGNORECASE)
_CATEGORIES = re.compile(r"Categories:[ \t]*([^\n]*)", re.IGNORECASE)
_REFUSAL = re.compile(r"Refusal:\s*(Yes|No)\b", re.IGNORECASE)


class Qwen3Guard:
    name = "qwen3guard"

    def request(self, item: GuardInput, model: str) -> tuple[str, dict[str, Any]]:
        return chat_request(item, model)

    def parse(self, payload: Any, item: GuardInput) -> GuardResult:
        content = chat_content(payload)
        found = _SAFETY.search(content)
        if found is None:
            raise BadGuardResponse("no 'Safety: Safe|Unsafe|Controversial' line")
        safety = found.group(1).lower()
        labels: tuple[str, ...] = ()
        cats = _CATEGORIES.search(content)
        if cats is not None:
            parts = (p.strip() for p in cats.group(1).split(","))
            labels = tuple(p for p in parts if p and p.lower() != "none")
        refusal = _REFUSAL.search(content)
        return GuardResult(
            safety=safety,  # type: ignore[arg-type]
            labels=labels,
            refusal=None if refusal is None else refusal.group(1).lower() == "yes",
        )
