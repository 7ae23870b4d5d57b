"""The guard-model classifier stage: semantic screening with Qwen3Guard, Llama Guard, an
OpenAI-compatible moderation endpoint or a webhook, mapped onto the TC260-003 risks.

See docs/classifier.md. Modules: ``settings`` (``[classifier]``), ``backends`` (wire formats),
``client`` (HTTP, deadline, retries, breaker, cache), ``verdict`` (policy and the combining
rule), ``mapping`` (labels -> TC260 risks), ``segments`` and ``stream`` (streamed outputs),
``stage`` (the service-wide entry point), ``metrics``, ``demo_guard`` (a fake guard server).

The names below are imported on first use: ``service.config`` and ``service.tenants`` import
``service.classifier.settings``, and loading the configuration must not pull in the HTTP
client. Nothing in this package imports ``service.config`` or ``service.tenants``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BACKENDS": "settings",
    "ClassifierSettings": "settings",
    "TenantClassifier": "settings",
    "resolve": "settings",
    "DEFAULT_CATEGORIES": "mapping",
    "TC260_RISKS": "mapping",
    "risks_for": "mapping",
    "GuardInput": "verdict",
    "GuardResult": "verdict",
    "Verdict": "verdict",
    "combine": "verdict",
    "decide": "verdict",
    "unavailable": "verdict",
    "Segmenter": "segments",
    "split_text": "segments",
    "GuardClient": "client",
    "GuardError": "client",
    "GuardStream": "stream",
    "ClassifierMetrics": "metrics",
    "ClassifierStage": "stage",
    "PromptCheck": "stage",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'service.classifier' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
