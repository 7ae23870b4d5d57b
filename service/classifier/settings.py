"""``[classifier]``: the guard-model stage, configured globally and overridden per tenant.

Every key is also an environment variable ``AIGC_GATEWAY_CLASSIFIER__<KEY>`` (dicts as
JSON). ``backend`` unset means no classifier stage. A tenant's ``[tenants.classifier]``
overrides any key it sets (``categories`` and ``thresholds`` merge key by key); its
``enabled = false`` turns the stage off for that tenant, and a tenant may name its own
backend while the global one is unset. ``resolve(global, tenant)`` gives the effective
settings (or None: no stage for this tenant).

Defaults and why:

- ``fail = "closed"``: when the guard cannot answer (timeout, outage, malformed answer,
  open circuit) the text is treated as unsafe. A service offered to the public in mainland
  China must run a safety check on every input (TC260-003 §6 b) 2)), so "unchecked" must not
  become "allowed" by default. An internal or low-risk deployment may choose ``open``.
  ``fail_output`` overrides it for model outputs only (unset: same as ``fail``).
- ``controversial = "flag"``: Qwen3Guard's "Controversial" level is, by its model card,
  context-dependent; flagging records it without refusing (wrongful refusals are limited to
  5% by TC260-003 §9.4). Strict deployments set ``"block"``.
- ``mode = "parallel"``: the prompt check runs beside the upstream call and adds
  ``max(guard, upstream) - upstream`` instead of ``guard``; ``"before"`` waits for it first
  (the upstream never sees an unsafe prompt, at the cost of the guard's latency).
- ``timeout_s = 5``: the whole check, queueing and retries included; a guard outage costs a
  client at most this long.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = [
    "BACKENDS",
    "Backend",
    "ClassifierSettings",
    "TenantClassifier",
    "resolve",
]

Backend = Literal["qwen3guard", "llamaguard", "openai-moderation", "webhook"]
BACKENDS: tuple[str, ...] = ("qwen3guard", "llamaguard", "openai-moderation", "webhook")
Mode = Literal["parallel", "before"]
StreamMode = Literal["hold", "async"]
Fail = Literal["open", "closed"]
Controversial = Literal["block", "flag", "allow"]

_RISK_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_DEFAULT_MODELS = {"openai-moderation": "omni-moderation-latest"}


def _check_url(url: str | None) -> str | None:
    if url is None:
        return None
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


def _check_categories(mapping: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
    if mapping is None:
        return None
    for label, risks in mapping.items():
        if not label.strip():
            raise ValueError("a category label is empty")
        for risk in risks:
            if not _RISK_ID.match(risk):
                raise ValueError(f"{label!r} maps to {risk!r}, which is not a risk id")
    return mapping


def _check_thresholds(thresholds: dict[str, float] | None) -> dict[str, float] | None:
    if thresholds is None:
        return None
    for label, value in thresholds.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold of {label!r} must be within [0, 1], got {value}")
    return thresholds


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassifierSettings(_Options):
    """The global ``[classifier]`` section (see the module docstring for the defaults)."""

    backend: Backend | None = None
    url: str | None = None  # chat backends and openai-moderation: base URL ending in /v1
    model: str | None = None
    api_key: SecretStr | None = None
    mode: Mode = "parallel"
    stream_mode: StreamMode = "hold"
    fail: Fail = "closed"
    fail_output: Fail | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=300)
    # where the stage runs when a backend is set (a tenant or a /moderate request may say otherwise)
    prompts: bool = True
    outputs: bool = True
    moderate: bool = True
    # verdict policy
    controversial: Controversial = "flag"
    thresholds: dict[str, float] = Field(default_factory=dict)  # label or "*" -> score
    categories: dict[str, list[str]] = Field(default_factory=dict)  # label -> risk ids
    # production behaviour
    concurrency: int = Field(default=32, ge=1, le=4096)
    retries: int = Field(default=1, ge=0, le=3)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_s: float = Field(default=30.0, gt=0)
    cache_size: int = Field(default=10_000, ge=0)  # 0 = no cache
    cache_ttl_s: float = Field(default=600.0, gt=0)
    max_chars: int = Field(default=8_000, ge=100)  # longer texts are split for the guard
    segment_chars: int = Field(default=200, ge=8)  # streaming: a segment is cut at this length
    context_chars: int = Field(default=1_000, ge=0)  # streaming: earlier text sent as context

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return _check_url(url)

    @field_validator("categories")
    @classmethod
    def _categories(cls, mapping: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        return _check_categories(mapping)

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, thresholds: dict[str, float] | None) -> dict[str, float] | None:
        return _check_thresholds(thresholds)

    @model_validator(mode="after")
    def _complete(self) -> ClassifierSettings:
        if self.backend is not None:
            _require_endpoint(self.backend, self.url, self.model)
        return self

    @property
    def effective_model(self) -> str:
        """The model name sent to the guard (a default for openai-moderation)."""
        return self.model or _DEFAULT_MODELS.get(self.backend or "", "")

    def fail_mode(self, direction: str) -> str:
        """``open`` or ``closed`` for a direction (``input`` prompts, ``output`` model text)."""
        if direction == "output" and self.fail_output is not None:
            return self.fail_output
        return self.fail


def _require_endpoint(backend: str, url: str | None, model: str | None) -> None:
    if not url:
        raise ValueError(f"classifier backend {backend!r} needs 'url'")
    if backend in ("qwen3guard", "llamaguard") and not model:
        raise ValueError(f"classifier backend {backend!r} needs 'model' (the served model name)")


class TenantClassifier(_Options):
    """A tenant's overrides of ``[classifier]``; unset keys take the global value."""

    enabled: bool | None = None  # False: no classifier stage for this tenant
    backend: Backend | None = None
    url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    mode: Mode | None = None
    stream_mode: StreamMode | None = None
    fail: Fail | None = None
    fail_output: Fail | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=300)
    prompts: bool | None = None
    outputs: bool | None = None
    moderate: bool | None = None
    controversial: Controversial | None = None
    thresholds: dict[str, float] | None = None
    categories: dict[str, list[str]] | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return _check_url(url)

    @field_validator("categories")
    @classmethod
    def _categories(cls, mapping: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        return _check_categories(mapping)

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, thresholds: dict[str, float] | None) -> dict[str, float] | None:
        return _check_thresholds(thresholds)


_MERGED = ("thresholds", "categories")


def resolve(base: ClassifierSettings, tenant: TenantClassifier | None) -> ClassifierSettings | None:
    """The effective settings for a tenant; None when it has no classifier stage.

    Raises ``ValueError`` when the tenant's overrides leave an incomplete backend (e.g. a
    backend without a URL); configuration loading checks every tenant with this.
    """
    if tenant is None:
        return base if base.backend is not None else None
    if tenant.enabled is False:
        return None
    update: dict[str, Any] = {}
    for name in TenantClassifier.model_fields:
        value = getattr(tenant, name)
        if name == "enabled" or value is None:
            continue
        if name in _MERGED:
            value = {**getattr(base, name), **value}
        update[name] = value
    if not update:
        return base if base.backend is not None else None
    merged = base.model_copy(update=update)
    if merged.backend is None:
        return None
    _require_endpoint(merged.backend, merged.url, merged.model)
    return merged
