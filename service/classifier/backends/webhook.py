"""A generic HTTP JSON webhook: a provider's in-house model or a cloud content-security API
behind a small adapter.

Request (``POST {url}``, ``Authorization: Bearer <api_key>`` when a key is set)::

    {"text": "...", "direction": "input" | "output", "prompt": "..." | null,
     "model": "..." | null, "request_id": "..." | null}

Answer (HTTP 200)::

    {"safety": "safe" | "unsafe" | "controversial",     # required
     "categories": ["a1.terrorism_extremism", "fraud"],  # optional: flagged labels
     "scores": {"fraud": 0.91},                          # optional: label -> [0, 1]
     "refusal": true | false | null}                     # optional: the output is a refusal

Labels that are our category ids map onto themselves; others through ``[classifier]
categories``. Anything else (not an object, unknown safety, wrong types) is a malformed answer
and the tenant's fail mode applies.
"""

from __future__ import annotations

import math
from typing import Any

from ..verdict import GuardInput, GuardResult
from .base import BadGuardResponse

__all__ = ["Webhook"]

_SAFETY = {"safe", "unsafe", "controversial"}


class Webhook:
    name = "webhook"

    def request(self, item: GuardInput, model: str) -> tuple[str, dict[str, Any]]:
        body = {
            "text": item.text,
            "direction": item.direction,
            "prompt": item.prompt,
            "model": model or None,
            "request_id": item.request_id,
        }
        return "", body

    def parse(self, payload: Any, item: GuardInput) -> GuardResult:
        if not isinstance(payload, dict):
            raise BadGuardResponse("the answer is not a JSON object")
        safety = payload.get("safety")
        if not isinstance(safety, str) or safety.lower() not in _SAFETY:
            raise BadGuardResponse("'safety' is not one of safe, unsafe, controversial")
        categories = payload.get("categories", [])
        if categories is None:
            categories = []
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise BadGuardResponse("'categories' is not a list of strings")
        raw_scores = payload.get("scores", {})
        if raw_scores is None:
            raw_scores = {}
        if not isinstance(raw_scores, dict):
            raise BadGuardResponse("'scores' is not an object")
        scores: dict[str, float] = {}
        for label, value in raw_scores.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadGuardResponse("a score is not a number")
            if math.isnan(value) or not 0.0 <= value <= 1.0:
                raise BadGuardResponse("a score is outside [0, 1]")
            scores[str(label)] = float(value)
        refusal = payload.get("refusal")
        if refusal is not None and not isinstance(refusal, bool):
            raise BadGuardResponse("'refusal' is not a boolean")
        labels = tuple(dict.fromkeys(c.strip() for c in categories if c.strip()))
        return GuardResult(safety.lower(), labels, scores, refusal)  # type: ignore[arg-type]
