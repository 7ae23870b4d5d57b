"""Screening decisions of one direction of one proxied request.

The policy is ``service.moderation.Screen`` (the one screen type, shared with ``/moderate``):
the tenant's lexicon and its effective action per match. ``Decisions`` keeps what that screen
decided while a request or an answer went through: every non-allowed hit with where it was,
whether the direction is blocked, whether the scanner failed. A scanner failure fails closed
(a block) unless the tenant chose ``fail_open_output``.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

from service.moderation import Screen, strictest, strongest

from .walker import path_text

__all__ = ["ALL", "Decisions", "Hit"]

log = logging.getLogger("aigc_gateway.proxy")

_JOIN = "\u200b"  # one character between joined texts (offsets below count it)

#: The scope of text that is not part of one choice: a block there ends the whole answer.
ALL: Hashable = "*"


@dataclass(frozen=True, slots=True)
class Hit:
    """A non-allowed match: the lexicon match, its effective action, where it was found."""

    match: Any  # lexicons.Match; offsets relative to the text it was found in
    action: str
    where: str  # JSON path of the text ("messages.0.content"), "" for a body
    position: int | None = None  # streams: characters of the slot before the match


class Decisions:
    """What the screen decided for one direction (``input`` or ``output``) of one call."""

    __slots__ = ("screen", "fail_open", "hits", "blocked", "failed", "blocked_scopes")

    def __init__(self, screen: Screen, *, fail_open: bool = False) -> None:
        self.screen = screen
        self.fail_open = fail_open
        self.hits: list[Hit] = []
        self.blocked = False  # the whole direction is blocked
        self.failed = False  # the scanner raised (a fault, not a verdict)
        self.blocked_scopes: set[Hashable] = set()  # n > 1: choices ended by a block

    @property
    def lexicon(self) -> Any:
        return self.screen.lexicon

    @property
    def lexicon_version(self) -> str:
        return self.screen.lexicon_version

    @property
    def decision(self) -> str:
        if self.blocked or self.blocked_scopes:
            return "block"
        return strongest(h.action for h in self.hits)

    def categories(self) -> dict[str, str]:
        """Category -> strictest effective action, in first-hit order."""
        out: dict[str, str] = {}
        for h in self.hits:
            cat = h.match.category
            out[cat] = strictest(out.get(cat, "allow"), h.action)
        return out

    def record(self, matches: list[Any], where: str = "", position: int | None = None) -> bool:
        """Keep the non-allowed ``matches``; True when one of them blocks."""
        block = False
        action_of = self.screen.action
        for m in matches:
            action = action_of(m)
            if action == "allow":
                continue
            self.hits.append(Hit(m, action, where, position))
            if action == "block":
                block = True
        return block

    def fail(self, exc: BaseException) -> bool:
        """A scanner fault: True when the text may pass anyway (fail-open tenant)."""
        log.error("scanner failure: %s", type(exc).__name__, exc_info=exc)
        self.failed = True
        if not self.fail_open:
            self.blocked = True
        return self.fail_open

    def scanner(self) -> Any:
        """A streaming scanner masking what this policy masks or blocks."""
        return self.screen.scanner()

    def text(self, text: str, where: str = "") -> str | None:
        """Screen one whole text: the masked text, or None when it blocks."""
        if not text:
            return text
        try:
            matches = self.screen.lexicon.scan(text)
        except Exception as exc:  # noqa: BLE001 - any scanner fault is a screening failure
            return text if self.fail(exc) else None
        if not matches:
            return text
        if self.record(matches, where):
            return None
        masking = [m for m in matches if self.screen.mask(m)]
        return self.screen.lexicon.mask(text, masking) if masking else text

    def screen_walk(
        self, walk: Any, scope_of: Any = None, refs: list[Any] | None = None
    ) -> set[Hashable]:
        """Scan the texts ``walk`` collected, mask them in place, return the blocked scopes.

        Texts of one scope are scanned together, joined by a zero-width space (which the
        lexicon's normalisation drops, like any zero-width character), so a term split across
        two fields (two content parts, a key and its value) is found as well; its pieces are
        masked in each field. ``scope_of(ref)`` names a text's scope (a choice; default
        ``ALL``). Every text of a blocked scope is emptied; a block in ``ALL`` sets ``blocked``.
        """
        refs = walk.refs if refs is None else refs
        groups: dict[Hashable, list[Any]] = {}
        if scope_of is None:
            if refs:
                groups[ALL] = refs
        else:
            for ref in refs:
                groups.setdefault(scope_of(ref), []).append(ref)
        blocked: set[Hashable] = set()
        for scope, group in groups.items():
            if self._screen_group(walk, group):
                blocked.add(scope)
                for ref in group:
                    walk.set(ref, "")
        walk.apply()
        if ALL in blocked:
            self.blocked = True
        elif blocked:
            self.blocked_scopes |= blocked
        return blocked

    def _screen_group(self, walk: Any, refs: list[Any]) -> bool:
        """Screen the texts of one scope; True when they block."""
        texts = [r.text for r in refs]
        joined = texts[0] if len(texts) == 1 else _JOIN.join(texts)
        try:
            matches = self.screen.lexicon.scan(joined)
        except Exception as exc:  # noqa: BLE001 - any scanner fault is a screening failure
            return not self.fail(exc)
        if not matches:
            return False
        starts = []
        pos = 0
        for t in texts:
            starts.append(pos)
            pos += len(t) + 1
        block = False
        masks: dict[int, list[Any]] = {}
        screen = self.screen
        for m in matches:
            action = screen.action(m)
            if action == "allow":
                continue
            first = bisect_right(starts, m.start) - 1
            last = bisect_right(starts, max(m.start, m.end - 1)) - 1
            base = starts[first]
            local = replace(m, start=m.start - base, end=min(m.end - base, len(texts[first])))
            self.hits.append(Hit(local, action, path_text(refs[first].path)))
            if action == "block":
                block = True
            elif action == "mask":
                for i in range(first, last + 1):
                    s, e = (
                        max(m.start, starts[i]) - starts[i],
                        min(m.end, starts[i] + len(texts[i])) - starts[i],
                    )
                    if s < e:
                        masks.setdefault(i, []).append(
                            replace(m, start=s, end=e, text=texts[i][s:e])
                        )
        if block:
            return True
        for i, spans in masks.items():
            walk.set(refs[i], self.screen.lexicon.mask(texts[i], spans))
        return False
