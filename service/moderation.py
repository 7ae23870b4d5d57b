"""One moderation decision, shared by ``/moderate``, ``/v1/moderations`` and the proxy.

``screen_for(runtime, tenant, direction)`` takes the current snapshot once and returns a
``Screen``: the tenant's lexicon plus its compiled policy. Use one ``Screen`` for a whole
request or stream so a reload in the middle does not change the rules under it::

    screen = screen_for(runtime, tenant, "output")
    scanner = screen.scanner()              # lexicon.stream(mask=screen.mask)
    out = scanner.feed(chunk)
    if any(screen.action(m) == "block" for m in out.matches): ...

``moderate(runtime, tenant, text, direction)`` is the one-shot form.

With the guard-model classifier stage (``service.classifier``) a result also carries the
classifier's verdict: ``with_verdict(result, verdict)`` applies the one combining rule (the
stricter action wins, ``allow < flag < mask < block``; the classifier's TC260 risks join the
categories when it found something in the text) and keeps both verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from service.tenants import ACTIONS, Action, Tenant, strictest, strictest_profile

if TYPE_CHECKING:
    from lexicons import Lexicon, Match, StreamScanner
    from service.runtime import Runtime
    from service.tenants import PolicyTable

_MASKING = frozenset({"mask", "block"})


def strongest(actions: Iterable[str]) -> str:
    """The strictest of ``actions`` (``allow < flag < mask < block``); ``"allow"`` when empty.

    The one ranking of the ``Action`` vocabulary (``service.tenants.ACTIONS``) used by
    ``/moderate``, ``/v1/moderations`` and the proxy alike.
    """
    best = "allow"
    for action in actions:
        best = strictest(best, action)
    return best


@dataclass(frozen=True, slots=True)
class ModeratedMatch:
    """A lexicon match with the action the tenant policy decides for it."""

    match: Match
    action: str

    def to_dict(self) -> dict[str, Any]:
        m = self.match
        return {
            "term": m.term,
            "category": m.category,
            "start": m.start,
            "end": m.end,
            "text": m.text,
            "action": self.action,
            "severity": m.severity,
            "variant": m.variant,
        }


@dataclass(frozen=True, slots=True)
class ModerationResult:
    """The decision on one text. ``matches`` excludes hits the policy allows. ``classifier``:
    the guard model's ``Verdict`` when that stage ran; ``stages``: the stages that ran."""

    flagged: bool
    action: str
    categories: list[str]
    matches: list[ModeratedMatch]
    masked_text: str
    lexicon_version: str
    direction: str
    profile: str
    classifier: Any = None
    stages: tuple[str, ...] = ("lexicon",)

    @property
    def finding(self) -> bool:
        """Something was found in the text (a lexicon match, or the classifier flagged it).
        A guard that failed closed blocks without a finding: no incident is recorded for it
        (it is not the user's violation)."""
        v = self.classifier
        return bool(self.matches) or (v is not None and v.flagged and v.error is None)

    def category_actions(self) -> list[tuple[str, str]]:
        """(category, strictest effective action) per flagged category, in first-hit order;
        then the classifier's risks."""
        out: dict[str, str] = {}
        for mm in self.matches:
            cat = mm.match.category
            out[cat] = strictest(out.get(cat, "allow"), mm.action)
        v = self.classifier
        if v is not None and v.flagged and v.error is None:
            for risk in v.risks:
                out[risk] = strictest(out.get(risk, "allow"), v.action)
        return list(out.items())

    def to_dict(self, taxonomy: Any = None) -> dict[str, Any]:
        """The native ``/moderate`` shape (DESIGN §3.3) plus category names and direction."""
        details = []
        for cat, action in self.category_actions():
            info = taxonomy.get(cat) if taxonomy is not None else None
            details.append(
                {
                    "id": cat,
                    "name_zh": getattr(info, "name_zh", ""),
                    "name_en": getattr(info, "name_en", ""),
                    "action": action,
                }
            )
        return {
            "flagged": self.flagged,
            "action": self.action,
            "categories": self.categories,
            "category_details": details,
            "matches": [mm.to_dict() for mm in self.matches],
            "masked_text": self.masked_text,
            "direction": self.direction,
            "profile": self.profile,
            "lexicon_version": self.lexicon_version,
            "stages": list(self.stages),
            "classifier": None if self.classifier is None else self.classifier.to_dict(),
        }


def with_verdict(result: ModerationResult, verdict: Any) -> ModerationResult:
    """``result`` combined with the classifier's ``verdict`` by the one combining rule."""
    stages = result.stages if "classifier" in result.stages else (*result.stages, "classifier")
    combined = replace(result, classifier=verdict, stages=stages)
    return replace(
        combined,
        flagged=result.flagged or verdict.flagged,
        action=strictest(result.action, verdict.action),
        categories=[cat for cat, _ in combined.category_actions()],
    )


@dataclass(frozen=True, slots=True)
class Screen:
    """A tenant's lexicon and compiled policy for one direction, fixed for one request."""

    lexicon: Lexicon
    table: PolicyTable
    tenant: Tenant
    direction: str

    @property
    def lexicon_version(self) -> str:
        return self.lexicon.version

    @property
    def profile(self) -> str:
        return self.table.profile

    def action(self, match: Match) -> str:
        """Effective action of ``match``: ``allow`` | ``flag`` | ``mask`` | ``block``."""
        return self.table.action(match.category, match.action, match.severity)

    def mask(self, match: Match) -> bool:
        """The streaming mask predicate: True when the policy masks or blocks ``match``."""
        return self.table.action(match.category, match.action, match.severity) in _MASKING

    def scanner(self, mask_char: str = "*") -> StreamScanner:
        """A streaming scanner that masks what this policy masks or blocks."""
        return self.lexicon.stream(mask=self.mask, mask_char=mask_char)

    def decide(self, matches: list[Match]) -> tuple[str, list[ModeratedMatch]]:
        """Overall action and the non-allowed matches with their effective action."""
        overall = "allow"
        kept: list[ModeratedMatch] = []
        for m in matches:
            action = self.action(m)
            if action == "allow":
                continue
            kept.append(ModeratedMatch(m, action))
            overall = strictest(overall, action)
        return overall, kept

    def moderate(self, text: str, mask_char: str = "*") -> ModerationResult:
        """Scan ``text`` and apply the policy."""
        overall, kept = self.decide(self.lexicon.scan(text))
        to_mask = [mm.match for mm in kept if mm.action in _MASKING]
        masked = self.lexicon.mask(text, to_mask, char=mask_char) if to_mask else text
        categories = list(dict.fromkeys(mm.match.category for mm in kept))
        return ModerationResult(
            flagged=bool(kept),
            action=overall,
            categories=categories,
            matches=kept,
            masked_text=masked,
            lexicon_version=self.lexicon.version,
            direction=self.direction,
            profile=self.table.profile,
        )


def screen_for(
    runtime: Runtime, tenant: Tenant, direction: str, *, profile: str | None = None
) -> Screen:
    """The ``Screen`` for ``tenant`` and ``direction`` on the current snapshot.

    ``profile`` is a request's wish: it can make the tenant's profile stricter, never weaker.
    """
    if direction not in ("input", "output"):
        raise ValueError(f"direction must be 'input' or 'output', not {direction!r}")
    snapshot = runtime.snapshot
    effective = strictest_profile(tenant.profile, profile)
    return Screen(
        lexicon=snapshot.lexicon_for(tenant),
        table=snapshot.policy_table(tenant, direction, effective),
        tenant=tenant,
        direction=direction,
    )


def moderate(
    runtime: Runtime,
    tenant: Tenant,
    text: str,
    direction: str = "input",
    *,
    profile: str | None = None,
) -> ModerationResult:
    """Scan ``text`` with ``tenant``'s lexicon and decide with its policy."""
    return screen_for(runtime, tenant, direction, profile=profile).moderate(text)


__all__ = [
    "ACTIONS",
    "Action",
    "ModeratedMatch",
    "ModerationResult",
    "Screen",
    "moderate",
    "screen_for",
    "strictest",
    "strongest",
    "with_verdict",
]
