"""The one screen shared by every protocol adapter: whole texts and streamed slots.

A *slot* is one independent stream of text inside a response (a chat choice, a tool call's
arguments, an Anthropic content block, a Responses content part). Each slot gets its own
`lexicons` streaming scanner, so a term split across chunks, choices interleaved by index, or
arguments spread over fragments are all caught, and only what may still start a match is held.

The effective action of a match (tenant policy applied) comes from `action_of(match)`:
``"block"`` ends the stream, ``"mask"`` replaces the span, ``"flag"`` lets it through and
records it. A scanner failure fails closed (block) unless the tenant chose fail-open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["ActionOf", "Screen", "TextLabel", "decision_of"]

log = logging.getLogger(__name__)

ActionOf = Callable[[Any], str]
_RANK = {"allow": 0, "flag": 1, "mask": 2, "block": 3}


def decision_of(actions: list[str]) -> str:
    """The strongest action among `actions` ("allow" when empty)."""
    best = "allow"
    for a in actions:
        if _RANK.get(a, 0) > _RANK[best]:
            best = a
    return best


@dataclass(frozen=True, slots=True)
class TextLabel:
    """Explicit text label: a notice added before or after the generated text."""

    notice: str
    position: str = "start"  # "start" | "end"

    def wrap(self, text: str) -> str:
        if not text:
            return text
        return self.notice + text if self.position == "start" else text + self.notice


class _Slot:
    __slots__ = ("scanner", "labeled", "had_text", "released", "chars_in", "chars_out")

    def __init__(self, scanner: Any, labeled: bool) -> None:
        self.scanner = scanner
        self.labeled = labeled
        self.had_text = False
        self.released: list[str] = []
        self.chars_in = 0
        self.chars_out = 0


class Screen:
    """Screening state of one direction of one request.

    `text()` screens a whole text; `feed()`/`flush()` screen streamed slots. After a block,
    `blocked` is true and the calls return None: the caller ends the stream its protocol's way.
    """

    def __init__(
        self,
        lexicon: Any,
        action_of: ActionOf,
        *,
        fail_open: bool = False,
        label: TextLabel | None = None,
    ) -> None:
        self.lexicon = lexicon
        self.action_of = action_of
        self.fail_open = fail_open
        self.label = label
        self.matches: list[tuple[Any, str]] = []  # (match, effective action)
        self.blocked = False
        self.failed = False
        self.labeled = False
        self.max_held = 0
        self.safe_before_block = ""  # set when feed() blocks: the safe part of that call
        self._slots: dict[Hashable, _Slot] = {}

    # -- results -------------------------------------------------------------------------

    @property
    def decision(self) -> str:
        if self.blocked:
            return "block"
        return decision_of([a for _, a in self.matches])

    def _mask_pred(self, match: Any) -> bool:
        return self.action_of(match) in ("mask", "block")

    def _record(self, matches: list[Any]) -> bool:
        """Record matches; return True when one of them blocks."""
        block = False
        for m in matches:
            action = self.action_of(m)
            if action == "allow":
                continue
            self.matches.append((m, action))
            if action == "block":
                block = True
        return block

    def _fail(self, exc: BaseException) -> bool:
        """A scanner failure: True when the text may pass (fail-open tenant)."""
        log.exception("scanner failure", exc_info=exc)
        self.failed = True
        if not self.fail_open:
            self.blocked = True
        return self.fail_open

    # -- whole texts ---------------------------------------------------------------------

    def text(self, text: str) -> str | None:
        """Screen a whole text: the masked text, or None when it must be blocked."""
        if self.blocked:
            return None
        if not text:
            return text
        try:
            matches = self.lexicon.scan(text)
            block = self._record(matches)
            masked = [m for m in matches if self._mask_pred(m)]
            out = self.lexicon.mask(text, masked) if masked else text
        except Exception as exc:  # noqa: BLE001 - any scanner fault is a screening failure
            return text if self._fail(exc) else None
        if block:
            self.blocked = True
            return None
        return out

    def label_whole(self, text: str) -> str:
        """Add the explicit label to a whole (already screened) text."""
        if self.label is None or not text:
            return text
        self.labeled = True
        return self.label.wrap(text)

    # -- streamed slots ------------------------------------------------------------------

    def _slot(self, key: Hashable, labeled: bool) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            scanner = self.lexicon.stream(mask=self._mask_pred)
            slot = self._slots[key] = _Slot(scanner, labeled and self.label is not None)
        return slot

    def feed(self, key: Hashable, text: str, *, labeled: bool = False) -> str | None:
        """Feed streamed text of `key`; return what is safe to release now (None: blocked).

        `labeled` marks a slot of generated text that carries the explicit label.
        """
        if self.blocked:
            return None
        slot = self._slot(key, labeled)
        if not text:
            return ""
        slot.chars_in += len(text)
        try:
            out = slot.scanner.feed(text)
        except Exception as exc:  # noqa: BLE001
            return text if self._fail(exc) else None
        if out.matches and self._record(out.matches):
            self.blocked = True
            # What this call released before the first blocking match is safe to send; masks
            # keep lengths, so stream offsets map 1:1 onto the released text.
            first = min(m.start for m in out.matches if self.action_of(m) == "block")
            self.safe_before_block = out.text[: max(0, first - slot.chars_out)]
            return None
        released = out.text
        slot.chars_out += len(released)
        held = slot.chars_in - slot.chars_out
        if held > self.max_held:
            self.max_held = held
        if slot.labeled and not slot.had_text and self.label.position == "start":
            slot.had_text = True
            self.labeled = True
            released = self.label.notice + released
        slot.had_text = True
        slot.released.append(released)
        return released

    def flush(self, key: Hashable) -> str | None:
        """End of slot `key`: release what was held (None: blocked). Idempotent."""
        if self.blocked:
            return None
        slot = self._slots.get(key)
        if slot is None:
            return ""
        try:
            out = slot.scanner.flush()
        except Exception as exc:  # noqa: BLE001
            return "" if self._fail(exc) else None
        if out.matches and self._record(out.matches):
            self.blocked = True
            return None
        released = out.text
        if slot.labeled and slot.had_text and self.label.position == "end":
            released += self.label.notice
            self.labeled = True
            slot.labeled = False  # a second flush adds nothing
        slot.released.append(released)
        return released

    def released(self, key: Hashable) -> str | None:
        """All text released so far for `key` (None if the slot was never fed)."""
        slot = self._slots.get(key)
        return None if slot is None else "".join(slot.released)

    def keys(self) -> list[Hashable]:
        return list(self._slots)
