"""An OpenAI-compatible ``POST {url}/moderations`` endpoint (OpenAI, or a compatible server).

Request ``{"model", "input": text}``; answer ``{"results": [{"flagged", "categories":
{name: bool}, "category_scores": {name: float}, ...}]}`` with OpenAI's category names
(``harassment``, ``hate``, ``illicit``, ``self-harm``, ``sexual``, ``violence`` and their
sub-categories). Scores must be numbers in [0, 1].
"""

from __future__ import annotations

import math
from typing import Any

from ..verdict import GuardInput, GuardResult
from .base import BadGuardResponse

__all__ = ["OpenAIModeration"]


class OpenAIModeration:
    name = "openai-moderation"

    def request(self, item: GuardInput, model: str) -> tuple[str, dict[str, Any]]:
        return "/moderations", {"model": model, "input": item.text}

    def parse(self, payload: Any, item: GuardInput) -> GuardResult:
        try:
            result = payload["results"][0]
        except (KeyError, IndexError, TypeError):
            raise BadGuardResponse("no results[0] in the moderation answer") from None
        if not isinstance(result, dict):
            raise BadGuardResponse("results[0] is not an object")
        categories = result.get("categories")
        scores = result.get("category_scores")
        flagged = result.get("flagged")
        if not isinstance(categories, dict) or not isinstance(scores, dict):
            raise BadGuardResponse("categories / category_scores missing")
        if not isinstance(flagged, bool):
            raise BadGuardResponse("'flagged' is not a boolean")
        clean: dict[str, float] = {}
        for name, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadGuardResponse("a category score is not a number")
            if math.isnan(value) or not 0.0 <= value <= 1.0:
                raise BadGuardResponse("a category score is outside [0, 1]")
            clean[str(name)] = float(value)
        for value in categories.values():
            if value is not None and not isinstance(value, bool):
                raise BadGuardResponse("a category flag is not a boolean")
        labels = tuple(str(name) for name, value in categories.items() if value is True)
        safety = "unsafe" if flagged or labels else "safe"
        return GuardResult(safety, labels, clean)  # type: ignore[arg-type]
