"""Tenants and their policies: API keys (stored as sha256 hashes) -> ``Tenant`` -> ``Policy``.

A policy maps, per direction (``input`` prompts, ``output`` model text), a category id to an
action. Effective action of one lexicon match, in order:

1. the tenant's rule for the category (exact id, then its parent chain, then ``"*"``), else the
   global ``[policy]`` rule, else the lexicon's own action (term attribute or category default);
2. the profile: ``minor`` raises every hit to at least ``mask`` and high-severity hits to ``block``;
3. the mandatory floor (``[mandatory]`` in the config): nothing below it, for any tenant;
4. request options can only tighten (e.g. ask for the ``minor`` profile), never weaken.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from service.classifier.settings import TenantClassifier

Action = Literal["allow", "flag", "mask", "block"]
Direction = Literal["input", "output"]
Profile = Literal["standard", "minor"]

ACTIONS: tuple[str, ...] = ("allow", "flag", "mask", "block")
_RANK = {name: rank for rank, name in enumerate(ACTIONS)}
_PROFILE_RANK = {"standard": 0, "minor": 1}
_KEY_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
_CATEGORY_KEY = re.compile(r"^(\*|[a-z0-9][a-z0-9_.\-]*)$")
DEFAULT_TENANT_ID = "default"


def strictest(a: str, b: str) -> str:
    """The stricter of two actions (``allow < flag < mask < block``)."""
    return a if _RANK[a] >= _RANK[b] else b


def strictest_profile(a: str, b: str | None) -> str:
    """The stricter of two profiles; a request may raise the tenant's profile, never lower it."""
    if b is None:
        return a
    return a if _PROFILE_RANK[a] >= _PROFILE_RANK[b] else b


def hash_api_key(key: str) -> str:
    """The form an API key is stored in: ``"sha256:" + hex(sha256(key))``."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Policy(_Section):
    """Per-direction category -> action rules; keys are category ids, parent ids or ``"*"``."""

    input: dict[str, Action] = Field(default_factory=dict)
    output: dict[str, Action] = Field(default_factory=dict)

    @field_validator("input", "output")
    @classmethod
    def _category_keys(cls, rules: dict[str, str]) -> dict[str, str]:
        for key in rules:
            if not _CATEGORY_KEY.match(key):
                raise ValueError(f"{key!r} is not a category id (lowercase ASCII) or '*'")
        return rules

    def rules(self, direction: str) -> Mapping[str, str]:
        return self.input if direction == "input" else self.output


class TenantLabels(_Section):
    """Label settings of one tenant (GB 45438 explicit/implicit labels); unset -> global."""

    enabled: bool | None = None
    producer_code: str | None = None
    explicit_text: str | None = None
    text_position: Literal["start", "end", "off"] | None = None  # added by the proxy


class TenantProxy(_Section):
    """The tenant's proxy behaviour (added by the proxy); unset -> global ``proxy``."""

    fail_open_output: bool | None = None
    refusal_message: str | None = None
    block_mode: Literal["error", "refusal"] | None = None


class TenantUpstream(_Section):
    """The tenant's own model API, instead of the global ``upstream``."""

    url: str | None = None
    api_key: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url.rstrip("/") if url else url


class Tenant(_Section):
    """One customer of the gateway: its keys, policy, profile, lexicon sets and labels."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")
    name: str = ""
    api_keys: list[str] = Field(default_factory=list)
    profile: Profile = "standard"
    lexicon_sets: tuple[str, ...] = ("default",)
    policy: Policy = Field(default_factory=Policy)
    labels: TenantLabels = Field(default_factory=TenantLabels)
    upstream: TenantUpstream = Field(default_factory=TenantUpstream)
    proxy: TenantProxy = Field(default_factory=TenantProxy)
    classifier: TenantClassifier = Field(default_factory=TenantClassifier)  # added by guard

    @field_validator("api_keys")
    @classmethod
    def _hashed(cls, keys: list[str]) -> list[str]:
        keys = [key.strip().lower() for key in keys]
        for key in keys:
            if not _KEY_HASH.match(key):
                raise ValueError(
                    "API keys are stored hashed: 'sha256:<64 lowercase hex>' "
                    "(compute with: printf %s KEY | sha256sum)"
                )
        return keys

    @field_validator("lexicon_sets")
    @classmethod
    def _some_sets(cls, sets: tuple[str, ...]) -> tuple[str, ...]:
        if not sets:
            raise ValueError("a tenant needs at least one lexicon set (e.g. ['default'])")
        return tuple(dict.fromkeys(sets))


class TenantRegistry:
    """Looks tenants up by API key. With no tenants configured, auth is off (default tenant)."""

    def __init__(self, tenants: Iterable[Tenant], default: Tenant) -> None:
        self.tenants: dict[str, Tenant] = {}
        self._by_hash: dict[str, Tenant] = {}
        for tenant in tenants:
            if tenant.id in self.tenants:
                raise ValueError(f"tenant id {tenant.id!r} is configured twice")
            self.tenants[tenant.id] = tenant
            for key_hash in tenant.api_keys:
                other = self._by_hash.get(key_hash)
                if other is not None:
                    raise ValueError(
                        f"the same API key is configured for tenants {other.id!r} and {tenant.id!r}"
                    )
                self._by_hash[key_hash] = tenant
        self.default = default

    @property
    def auth_required(self) -> bool:
        return bool(self.tenants)

    def authenticate(self, key: str | None) -> Tenant | None:
        """The tenant owning ``key``; the default tenant when auth is off; None if unknown."""
        if not self.auth_required:
            return self.default
        if not key:
            return None
        wanted = hash_api_key(key)
        tenant = self._by_hash.get(wanted)
        # The dict lookup is on a hash of the secret; compare again in constant time anyway.
        if tenant is not None and any(hmac.compare_digest(wanted, h) for h in tenant.api_keys):
            return tenant
        return None

    def get(self, tenant_id: str) -> Tenant | None:
        if tenant_id == self.default.id and not self.auth_required:
            return self.default
        return self.tenants.get(tenant_id)


class PolicyTable:
    """The compiled decision of one (tenant, direction, profile): match -> effective action.

    ``parents`` gives the parent chain of a category id (from the lexicon's taxonomy), so a rule
    on a parent covers its finer tags.
    """

    __slots__ = ("_base", "_floor", "_memo", "_parents", "_rules", "profile")

    def __init__(
        self,
        rules: Mapping[str, str],
        base: Mapping[str, str],
        floor: Mapping[str, str],
        profile: str,
        parents: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._rules = dict(rules)
        self._base = dict(base)
        self._floor = dict(floor)
        self.profile = profile
        self._parents = parents or {}
        self._memo: dict[tuple[str, str, str], str] = {}

    def _lookup(self, rules: Mapping[str, str], category: str) -> str | None:
        if not rules:
            return None
        for key in (category, *self._parents.get(category, ()), "*"):
            action = rules.get(key)
            if action is not None:
                return action
        return None

    def action(self, category: str, lexicon_action: str, severity: str = "medium") -> str:
        """Effective action of a hit in ``category`` the lexicon marks ``lexicon_action``."""
        key = (category, lexicon_action, severity)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        action = self._lookup(self._rules, category) or self._lookup(self._base, category)
        if action is None:
            action = lexicon_action if lexicon_action in _RANK else "flag"
        if self.profile == "minor":
            action = strictest(action, "block" if severity == "high" else "mask")
        floor = self._lookup(self._floor, category)
        if floor is not None:
            action = strictest(action, floor)
        self._memo[key] = action
        return action
