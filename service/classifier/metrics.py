"""Prometheus families of the classifier stage, registered on the app's registry.

Latency, outcomes and errors per backend; decisions per TC260 risk; the circuit breaker's
state; and for streamed outputs the hold-back (characters received but not yet released)
and the time to first token the stage added, per stream mode. Label values are bounded
(backends, directions, outcomes, error codes, risk ids): never text.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ClassifierMetrics"]

_SECONDS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30)
_CHARS = (0, 10, 50, 100, 200, 500, 1000, 2000, 5000, 20000)


class ClassifierMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or CollectorRegistry()
        self.registry = r
        self.checks = Counter(
            "aigc_gateway_classifier_checks",
            "Guard checks by backend, direction and outcome (safe|controversial|unsafe|error).",
            ["backend", "direction", "outcome"],
            registry=r,
        )
        self.errors = Counter(
            "aigc_gateway_classifier_errors",
            "Guard checks without a usable answer, by error code.",
            ["backend", "code"],
            registry=r,
        )
        self.seconds = Histogram(
            "aigc_gateway_classifier_seconds",
            "Guard check latency (cache misses; queueing and retries included).",
            ["backend", "direction"],
            buckets=_SECONDS,
            registry=r,
        )
        self.cache = Counter(
            "aigc_gateway_classifier_cache",
            "Verdict cache lookups by result (hit|miss).",
            ["result"],
            registry=r,
        )
        self.decisions = Counter(
            "aigc_gateway_classifier_decisions",
            "Classifier decisions per TC260 risk (risk '-' when none) and action.",
            ["direction", "risk", "action"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "aigc_gateway_classifier_breaker_open",
            "1 while a guard endpoint's circuit breaker is open.",
            ["backend"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.holdback_chars = Histogram(
            "aigc_gateway_classifier_holdback_chars",
            "Largest number of streamed characters held back for classification, per stream.",
            ["mode"],
            buckets=_CHARS,
            registry=r,
        )
        self.ttft_added = Histogram(
            "aigc_gateway_classifier_ttft_added_seconds",
            "Time to first token the stage added to a stream (first text in -> first text out).",
            ["mode"],
            buckets=_SECONDS,
            registry=r,
        )
        self.prompt_wait = Histogram(
            "aigc_gateway_classifier_prompt_wait_seconds",
            "How long an answer waited for the prompt's verdict once the upstream was ready.",
            ["mode"],
            buckets=_SECONDS,
            registry=r,
        )

    def observe(self, verdict: Any, *, seconds: float | None) -> None:
        """Count one verdict (``service.classifier.Verdict``)."""
        backend, direction = verdict.backend, verdict.direction
        outcome = verdict.safety or "error"
        self.checks.labels(backend=backend, direction=direction, outcome=outcome).inc()
        if verdict.error:
            self.errors.labels(backend=backend, code=verdict.error).inc()
        self.cache.labels(result="hit" if verdict.cached else "miss").inc()
        if seconds is not None and not verdict.cached and not verdict.error:
            self.seconds.labels(backend=backend, direction=direction).observe(seconds)
        for risk in verdict.risks or ("-",):
            self.decisions.labels(direction=direction, risk=risk, action=verdict.action).inc()

    def observe_stream(self, mode: str, holdback_chars: int, ttft_added_s: float | None) -> None:
        self.holdback_chars.labels(mode=mode).observe(holdback_chars)
        if ttft_added_s is not None:
            self.ttft_added.labels(mode=mode).observe(ttft_added_s)
