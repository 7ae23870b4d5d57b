"""Screening decisions of one direction of one proxied request.

The policy is ``service.moderation.Screen`` (the one screen type, shared with ``/moderate``):
the tenant's lexicon and its effective action per match. ``Decisions`` keeps what that screen
decided while a request or an answer went through: every non-allowed hit with where it was,
whether the direction is blocked, whether the scanner failed. A scanner failure fails closed
(a block) unless the tenant chose ``fail_open_output``.

For the incident record it also keeps the *screened texts* that had hits, masked (the terms the
policy masks or blocks are ``*``): ``screened()`` joins them with a zero-width space, in the
order of their first hit, and gives each hit's offsets in that joined text, from which the
incident's excerpt is cut (``service.excerpt``). A blocked term is never kept unmasked.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

from service.moderation import Screen, strictest, strongest

from .walker import Ref, path_text

__all__ = ["ALL", "JOIN", "Decisions", "Hit", "KeptScanner"]

log = logging.getLogger("aigc_gateway.proxy")

JOIN = "\u200b"  # one character between joined texts (offsets below count it)

#: The scope of text that is not part of one choice: a block there ends the whole answer.
ALL: Hashable = "*"


@dataclass(frozen=True, slots=True)
class Hit:
    """A non-allowed match: the lexicon match, its effective action, where it was found."""

    match: Any  # lexicons.Match; offsets relative to the text it was found in
    action: str
    where: str  # JSON path of the text ("messages.0.content"), "" for a body
    position: int | None = None  # streams: characters of the slot before the match
    text: int = -1  # index of the screened text holding it (``Decisions.texts``)
    span: tuple[int, int] = (0, 0)  # where in that text (a term across joined fields spans them)


class KeptScanner:
    """The policy's streaming scanner, keeping the masked text it releases for the excerpt.

    The slot screens through it exactly as through the scanner; what the scanner still holds
    when the incident is recorded (the rest of a blocked term, say) is read by ``text()``,
    masked like everything else.
    """

    __slots__ = ("scanner", "decisions", "parts")

    def __init__(self, scanner: Any, decisions: Decisions) -> None:
        self.scanner = scanner
        self.decisions = decisions
        self.parts: list[str] = []

    def feed(self, chunk: str) -> Any:
        return self._keep(self.scanner.feed(chunk))

    def flush(self) -> Any:
        return self._keep(self.scanner.flush())

    def _keep(self, out: Any) -> Any:
        if out.text:
            self.parts.append(out.text)
        if out.matches:
            self.decisions._found = (out.matches, self)
        return out

    def text(self) -> str:
        """The masked text screened so far, including what the scanner still holds."""
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - the scanner failed before: keep what it released
            pass
        return "".join(self.parts)

    @property
    def held(self) -> int:
        return self.scanner.held


class Decisions:
    """What the screen decided for one direction (``input`` or ``output``) of one call."""

    __slots__ = (
        "screen",
        "fail_open",
        "hits",
        "blocked",
        "failed",
        "blocked_scopes",
        "texts",
        "_found",
    )

    def __init__(self, screen: Screen, *, fail_open: bool = False) -> None:
        self.screen = screen
        self.fail_open = fail_open
        self.hits: list[Hit] = []
        self.blocked = False  # the whole direction is blocked
        self.failed = False  # the scanner raised (a fault, not a verdict)
        self.blocked_scopes: set[Hashable] = set()  # n > 1: choices ended by a block
        # The masked screened texts with hits (a str, or a KeptScanner), in first-hit order.
        self.texts: list[Any] = []
        self._found: tuple[list[Any], Any] | None = None  # (matches, the text they are in)

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
        """Keep the non-allowed ``matches``; True when one of them blocks.

        ``matches`` come from one text: the last output of a ``scanner()`` (a slot), or the
        one ``text()`` screened; the hits point into that text."""
        found, self._found = self._found, None
        source = found[1] if found is not None and found[0] is matches else None
        block = False
        action_of = self.screen.action
        for m in matches:
            action = action_of(m)
            if action == "allow":
                continue
            index = self._keep(source)
            self.hits.append(Hit(m, action, where, position, index, (m.start, m.end)))
            if action == "block":
                block = True
        return block

    def hidden_terms(self, decoded: str, plain: str) -> tuple[list[Any], list[Any]]:
        """The masked or blocked terms ``decoded`` (a text with its escapes decoded, as its
        reader sees it) holds beyond those in ``plain`` (the text as it stands), and every
        match in ``decoded``. A scanner fault propagates (the caller applies ``fail``)."""
        lexicon = self.screen.lexicon
        found = lexicon.scan(decoded)
        if not found:
            return [], found
        counts = Counter(m.term for m in lexicon.scan(plain))
        hidden = []
        for m in found:
            if counts[m.term]:
                counts[m.term] -= 1
            elif self.screen.action(m) in ("mask", "block"):
                hidden.append(m)
        return hidden, found

    def record_text(self, matches: list[Any], text: str, where: str = "") -> bool:
        """``record`` for ``matches`` found in ``text`` by a scan of the caller's own."""
        self._found = (matches, text)
        return self.record(matches, where)

    def _keep(self, source: Any) -> int:
        """The index of ``source`` (a masked text, or a KeptScanner) in ``texts``."""
        if source is None:
            return -1
        if isinstance(source, KeptScanner):
            for i, kept in enumerate(self.texts):
                if kept is source:
                    return i
        self.texts.append(source)
        return len(self.texts) - 1

    def screened(self) -> tuple[str, list[tuple[int, int]]]:
        """The masked texts with hits joined by a zero-width space, and every hit's offsets
        in it (one text: offsets into that text). ``("", offsets in each text)`` in the
        unexpected case of a hit whose text was not kept."""
        if any(h.text < 0 for h in self.hits):
            return "", [(h.match.start, h.match.end) for h in self.hits]
        texts = [t if isinstance(t, str) else t.text() for t in self.texts]
        bases = []
        pos = 0
        for t in texts:
            bases.append(pos)
            pos += len(t) + 1
        offsets = [(bases[h.text] + h.span[0], bases[h.text] + h.span[1]) for h in self.hits]
        return JOIN.join(texts), offsets

    def fail(self, exc: BaseException) -> bool:
        """A scanner fault: True when the text may pass anyway (fail-open tenant)."""
        log.error("scanner failure: %s", type(exc).__name__, exc_info=exc)
        self.failed = True
        if not self.fail_open:
            self.blocked = True
        return self.fail_open

    def scanner(self) -> KeptScanner:
        """A streaming scanner masking what this policy masks or blocks (its masked text is
        kept for the incident excerpt)."""
        return KeptScanner(self.screen.scanner(), self)

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
        masking = [m for m in matches if self.screen.mask(m)]
        masked = self.screen.lexicon.mask(text, masking) if masking else text
        self._found = (matches, masked)
        if self.record(matches, where):
            return None
        return masked

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
            if self._screen_group(walk, group) or self._screen_between_keys(walk, group):
                blocked.add(scope)
                for ref in group:
                    walk.set(ref, "")
        walk.apply()
        if ALL in blocked:
            self.blocked = True
        elif blocked:
            self.blocked_scopes |= blocked
        return blocked

    def _screen_between_keys(self, walk: Any, refs: list[Any]) -> bool:
        """The values of one scope scanned once more without the keys walked between them:
        ``[{"word": "爆炸"}, {"word": "物配方"}]`` (a transcript's words) reads as one text to
        whoever joins the values, yet a key the protocols do not define is a text of its own,
        between the halves. Only terms across two values or more are new here (masked in the
        values as they now stand; a flag only where the first scan saw it); True when they
        block."""
        if not any(r.is_key for r in refs):
            return False
        values = [
            Ref(r.container, r.key, r.container[r.key], r.path, False, r.fix)
            for r in refs
            if not r.is_key
        ]
        return len(values) > 1 and self._screen_group(walk, values, across=True)

    def _screen_group(self, walk: Any, refs: list[Any], across: bool = False) -> bool:
        """Screen the texts of one scope; True when they block. ``across``: only terms that
        span two texts or more count."""
        texts = [r.text for r in refs]
        joined = texts[0] if len(texts) == 1 else JOIN.join(texts)
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
        kept = -1  # the masked joined text, kept once the group has a hit
        for m in matches:
            action = screen.action(m)
            if action == "allow":
                continue
            first = bisect_right(starts, m.start) - 1
            last = bisect_right(starts, max(m.start, m.end - 1)) - 1
            if across and (first == last or action not in ("mask", "block")):
                continue  # found by the first scan already (a flag: recorded there)
            if kept < 0:
                masked = screen.lexicon.mask(joined, [x for x in matches if screen.mask(x)])
                kept = self._keep(masked)
            base = starts[first]
            local = replace(m, start=m.start - base, end=min(m.end - base, len(texts[first])))
            where = path_text(refs[first].path)
            self.hits.append(Hit(local, action, where, None, kept, (m.start, m.end)))
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
