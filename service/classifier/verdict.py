"""What a guard says about one text, and what the tenant's policy makes of it.

``GuardResult`` is the backend's answer in common terms (safety level, its own category
labels, scores, refusal), cached per text and model. ``decide(result, settings)`` applies a
tenant's verdict policy (score thresholds, category mapping, the "Controversial" policy) and
gives a ``Verdict`` with the stage's action. ``unavailable(...)`` is the verdict when the
guard could not answer: ``block`` when the tenant fails closed, ``allow`` when it fails open.

The combining rule with the lexicon (``combine``): the stricter action wins on the scale
``allow < flag < mask < block``; the classifier itself only ever says allow, flag or block
(it has no spans to mask).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .mapping import risks_for

__all__ = [
    "GuardInput",
    "GuardResult",
    "Safety",
    "Verdict",
    "combine",
    "decide",
    "unavailable",
    "worst",
]

Safety = Literal["safe", "controversial", "unsafe"]
_SAFETY_RANK = {"safe": 0, "controversial": 1, "unsafe": 2}
_ACTION_RANK = {"allow": 0, "flag": 1, "mask": 2, "block": 3}


@dataclass(frozen=True, slots=True)
class GuardInput:
    """One text to classify. ``prompt`` is the user turn an ``output`` text answers."""

    text: str
    direction: Literal["input", "output"] = "input"
    prompt: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class GuardResult:
    """A backend's answer: ``labels`` in the backend's own vocabulary (``"Violent"``, ``"S2"``,
    ``"hate"``); ``flags`` the labels the backend itself flagged; ``scores`` per label in
    [0, 1] where the backend gives them; ``refusal`` whether an output is a refusal (Qwen3Guard
    response moderation), else None."""

    safety: Safety
    labels: tuple[str, ...] = ()
    scores: Mapping[str, float] = field(default_factory=dict)
    refusal: bool | None = None


def worst(results: list[GuardResult]) -> GuardResult:
    """One result for a text classified in pieces: the worst safety, every label, the highest
    score per label; refusal only if every piece says so."""
    if len(results) == 1:
        return results[0]
    safety: Safety = "safe"
    labels: dict[str, None] = {}
    scores: dict[str, float] = {}
    refusals = [r.refusal for r in results]
    for r in results:
        if _SAFETY_RANK[r.safety] > _SAFETY_RANK[safety]:
            safety = r.safety
        labels.update(dict.fromkeys(r.labels))
        for label, score in r.scores.items():
            scores[label] = max(score, scores.get(label, 0.0))
    refusal = None if any(x is None for x in refusals) else all(refusals)
    return GuardResult(safety, tuple(labels), scores, refusal)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classifier stage's decision on one text (the ``classifier`` object of responses).

    ``action``: ``allow`` | ``flag`` | ``block``. ``safety`` is None when the guard could not
    answer; ``error`` then says why (``timeout``, ``circuit_open``, ``unreachable``,
    ``bad_response``, ``http_<status>``) and ``action`` follows the tenant's fail mode.
    """

    action: str
    safety: Safety | None
    backend: str
    model: str
    direction: str
    labels: tuple[str, ...] = ()
    risks: tuple[str, ...] = ()
    scores: Mapping[str, float] = field(default_factory=dict)
    refusal: bool | None = None
    cached: bool = False
    latency_ms: float = 0.0
    error: str | None = None

    @property
    def unsafe(self) -> bool:
        return self.action == "block"

    @property
    def flagged(self) -> bool:
        return self.action != "allow"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "safety": self.safety,
            "risks": list(self.risks),
            "labels": list(self.labels),
            "scores": dict(self.scores),
            "refusal": self.refusal,
            "direction": self.direction,
            "backend": self.backend,
            "model": self.model,
            "cached": self.cached,
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
        }


def _threshold(thresholds: Mapping[str, float], label: str) -> float | None:
    value = thresholds.get(label)
    return thresholds.get("*") if value is None else value


def decide(
    result: GuardResult,
    settings: Any,
    *,
    direction: str,
    cached: bool = False,
    latency_ms: float = 0.0,
) -> Verdict:
    """Apply a tenant's verdict policy to a backend's answer.

    Thresholds (``[classifier] thresholds``, by label or ``"*"``) decide the labels that carry
    a score: flagged when ``score >= threshold``. For ``openai-moderation`` they decide both
    ways (the verdict is unsafe exactly when a label is flagged); for the other backends their
    own safety level stands and a threshold can only raise it to unsafe.
    """
    backend = settings.backend
    thresholds: Mapping[str, float] = settings.thresholds
    flagged: dict[str, None] = {}
    scored_unsafe = False
    for label in result.labels:
        score = result.scores.get(label)
        limit = _threshold(thresholds, label) if score is not None else None
        if limit is None:
            flagged[label] = None
        elif score is not None and score >= limit:
            flagged[label] = None
            scored_unsafe = True
    for label, score in result.scores.items():
        if label in flagged:
            continue
        limit = _threshold(thresholds, label)
        if limit is not None and score >= limit:
            flagged[label] = None
            scored_unsafe = True
    safety: Safety = result.safety
    if backend == "openai-moderation":
        safety = "unsafe" if flagged else "safe"
    elif scored_unsafe:
        safety = "unsafe"
    labels = tuple(flagged) if safety != "safe" else ()
    risks: dict[str, None] = {}
    for label in labels:
        risks.update(dict.fromkeys(risks_for(backend, label, settings.categories)))
    if safety == "unsafe":
        action = "block"
    elif safety == "controversial":
        action = settings.controversial
    else:
        action = "allow"
    return Verdict(
        action=action,
        safety=safety,
        backend=backend,
        model=settings.effective_model,
        direction=direction,
        labels=labels,
        risks=tuple(risks),
        scores=dict(result.scores),
        refusal=result.refusal,
        cached=cached,
        latency_ms=latency_ms,
    )


def unavailable(settings: Any, *, direction: str, error: str, latency_ms: float = 0.0) -> Verdict:
    """The verdict when the guard did not answer: the tenant's fail mode decides."""
    action = "block" if settings.fail_mode(direction) == "closed" else "allow"
    return Verdict(
        action=action,
        safety=None,
        backend=settings.backend,
        model=settings.effective_model,
        direction=direction,
        latency_ms=latency_ms,
        error=error,
    )


def combine(lexicon_action: str, verdict: Verdict | None) -> str:
    """The one combining rule: the stricter of the lexicon's and the classifier's action."""
    if verdict is None:
        return lexicon_action
    a, b = lexicon_action, verdict.action
    return a if _ACTION_RANK[a] >= _ACTION_RANK[b] else b
