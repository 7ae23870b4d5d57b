"""Streamed text, slot by slot: one ``lexicons`` streaming scanner per field of the answer.

A *slot* is one independent stream of text: a choice's ``content``, its ``reasoning``, one
tool call's arguments, an Anthropic content block, a Responses content part, or any other
string field of a delta (by JSON path). Each slot is scanned on its own, so a term split
across chunks, across UTF-8 bytes or across argument fragments is caught, and text is held
back only while it could still start a match.

Tool-call arguments (a JSON slot nobody reads as it streams) are held whole to the end of
the call and screened like the arguments of a whole answer (``walker.Walk``: nested JSON,
data URLs and base64 opened, too deep refused), then sent in one piece, masked where needed.
A displayed JSON slot (content in JSON mode) is scanned as its reader decodes it
(``JsonView``); text that still holds an escape after that decoding (JSON nested inside one of
its strings) is held from its first backslash to the end of the slot, where the slot is also
read with every nested escape decoded (``unescape_all``): a masked or blocked term found only
that way ends the scope, as it cannot be masked inside the escapes.

A *scope* is what a block ends: a choice (OpenAI ``n > 1``) or the whole answer (``ALL``).

The explicit label is placed here, once per scope: with ``start`` it precedes the first
displayed text of the scope, whenever that text is released (also when a block comes in the
first chunk: the safe text before the term then follows the notice). The notice goes into
the scope's label slot (``content``); when the first displayed text is elsewhere (a
``reasoning`` delta) it is *owed* and the protocol places it in the same event.

Every released segment passes ``Slots.release``, the one exit of screened stream text: there a
stream guard (``guards.StreamGuard``, the classifier) may hold it until judged, and a segment
hook (``SegmentGuard``) sees every segment as it goes out. Text the guard lets through later
leaves through ``guard_released`` (the relay sends it in events of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import orjson

from .decisions import ALL, Decisions
from .jsontext import JsonView, unescape_all
from .labels import TextLabel
from .payloads import unreadable
from .walker import Walk, lost_duplicate, path_text

if TYPE_CHECKING:
    from .guards import StreamGuard

__all__ = ["SegmentGuard", "Slot", "Slots"]

#: A segment hook: (slot key, scope, released text) -> the text to send. It sees every segment
#: as it goes out, after the lexicon and any stream guard.
SegmentGuard = Callable[[Hashable, Hashable, str], str]


class Slot:
    __slots__ = (
        "scanner",
        "scope",
        "display",
        "label",
        "view",
        "fed",
        "out",
        "parts",
        "where",
        "decoded",
        "held",
        "whole",
        "tail",
        "skip",
        "base",
        "ended",
    )

    def __init__(self, scanner: Any, scope: Hashable, display: bool, label: bool, json: bool):
        self.scanner = scanner
        self.scope = scope
        self.display = display  # text a reader sees (content, reasoning, refusal)
        self.label = label  # the field that carries the scope's explicit label
        self.view = JsonView() if json and display else None
        self.whole: list[str] | None = [] if json and not display else None  # held to the end
        self.fed = 0  # characters fed to the scanner
        self.out = 0  # characters the scanner released
        self.parts: list[str] = []  # released text, as sent
        self.where = ""
        self.decoded: list[str] = []  # JSON slot: the text as its reader decodes it
        self.held = ""  # JSON slot: decoded text from its first backslash, not scanned yet
        self.tail = ""  # the text its scanner still holds (it may begin a term)
        self.skip = 0  # characters of the chain's prefix still to drop from what is released
        self.base = 0  # length of that prefix (matches ending inside it were the last slot's)
        self.ended = False  # flushed: its scanner is closed, more text is a protocol error


class Slots:
    """The streamed slots of one answer, their scanners, hold-back and labels."""

    def __init__(self, decisions: Decisions, label: TextLabel | None) -> None:
        self.decisions = decisions
        self.label = label
        self.slots: dict[Hashable, Slot] = {}
        self.labeled: set[Hashable] = set()  # scopes whose notice was delivered
        self.shown: set[Hashable] = set()  # scopes with displayed text delivered
        self.owed: dict[Hashable, str] = {}  # notices the protocol must place now
        self.max_held = 0
        self.guard: StreamGuard | None = None  # may hold text until judged, and cut scopes
        self.hook: SegmentGuard | None = None  # sees every released segment
        self.chains: dict[tuple, Slot] = {}  # (scope, chain) -> its latest slot

    # -- state -------------------------------------------------------------------------------

    def blocked(self, scope: Hashable) -> bool:
        d = self.decisions
        return d.blocked or scope in d.blocked_scopes

    @property
    def all_blocked(self) -> bool:
        return self.decisions.blocked

    def released(self, key: Hashable) -> str | None:
        slot = self.slots.get(key)
        return None if slot is None else "".join(slot.parts)

    def keys(self, scope: Hashable | None = None) -> list[Hashable]:
        if scope is None:
            return list(self.slots)
        return [k for k, s in self.slots.items() if s.scope == scope]

    def ended(self, key: Hashable) -> bool:
        """Whether slot ``key`` was ended (``flush``): text for it now cannot be screened
        with what came before it, so the protocol must refuse it."""
        slot = self.slots.get(key)
        return slot is not None and slot.ended

    def position(self) -> int:
        return sum(s.out for s in self.slots.values())

    # -- feeding -----------------------------------------------------------------------------

    def feed(
        self,
        key: Hashable,
        scope: Hashable,
        text: str,
        *,
        display: bool = False,
        label: bool = False,
        json: bool = False,
        where: tuple = (),
        chain: Hashable | None = None,
    ) -> str:
        """Feed a fragment of slot ``key``; return the text to send now ("" while held).

        When the fragment completes a blocking match, the scope is blocked (see ``blocked``)
        and the return value is the safe text before the term.

        Slots of one ``chain`` (in one scope) are read one after the other as one text (two
        Anthropic text blocks, two Responses output-text parts): a new slot's scanner first
        reads what the chain's previous slot held (the text that could begin a term), which
        is not sent again; a term across the two is masked or blocked in the new slot.
        """
        if self.blocked(scope):
            return ""
        slot = self.slots.get(key)
        if slot is None:
            scanner = None if json and not display else self.decisions.scanner()
            slot = Slot(scanner, scope, display, label, json)
            slot.where = path_text(where)
            self.slots[key] = slot
            if chain is not None and scanner is not None and slot.view is None:
                last = self.chains.get((scope, chain))
                self.chains[(scope, chain)] = slot
                if last is not None and last.tail:
                    slot.skip = slot.base = len(last.tail)
                    self._scan(slot, key, last.tail, final=False)
                    if self.blocked(scope):
                        return ""
        if not text:
            return ""
        if slot.whole is not None:
            slot.whole.append(text)
            return ""
        if slot.view is None:
            return self._scan(slot, key, text, final=False)
        scanned = slot.view.push(text)
        slot.decoded.append(scanned)
        if slot.held or "\\" in scanned:
            cut = 0 if slot.held else scanned.index("\\")
            slot.held += scanned[cut:]
            scanned = scanned[:cut]
        return self._scan(slot, key, scanned, final=False) if scanned else ""

    def flush(self, key: Hashable) -> str:
        """End of slot ``key``: release what it still holds (idempotent)."""
        slot = self.slots.get(key)
        if slot is None or self.blocked(slot.scope):
            return ""
        if slot.whole is not None:
            raw, slot.whole = "".join(slot.whole), []
            slot.ended = True
            if not raw:
                return ""
            screened = self._screen_whole(slot, raw)
            if screened is None:
                self.block(slot.scope)
                return ""
            # released as its reader decodes it (a stream guard judges that text), sent raw
            slot.view = JsonView()
            return self.release(slot, key, slot.view.push(screened) + slot.view.end())
        tail = slot.view.end() if slot.view is not None else ""
        if slot.held or "\\" in tail:
            slot.decoded.append(tail)
            if self._escaped_term(slot):
                self.block(slot.scope)
                slot.view.drop()
                return ""
            tail, slot.held = slot.held + tail, ""
        out = self._scan(slot, key, tail, final=False) if tail else ""
        if self.blocked(slot.scope):
            return out
        slot.ended = True
        return out + self._scan(slot, key, "", final=True)

    def flush_scope(self, scope: Hashable) -> list[tuple[Hashable, str]]:
        """End of a scope: (key, rest) of every slot of it that still held text."""
        out = []
        for key in self.keys(scope):
            rest = self.flush(key)
            if rest:
                out.append((key, rest))
            if self.blocked(scope):
                break
        return out

    def end_notice(self, scope: Hashable) -> str:
        """The ``end`` notice of a scope that showed text (once); "" otherwise."""
        lab = self.label
        if lab is None or lab.position != "end" or scope in self.labeled or scope not in self.shown:
            return ""
        self.labeled.add(scope)
        return lab.notice

    def _scan(self, slot: Slot, key: Hashable, text: str, *, final: bool) -> str:
        d = self.decisions
        slot.fed += len(text)
        try:
            result = slot.scanner.flush() if final else slot.scanner.feed(text)
        except Exception as exc:  # noqa: BLE001 - a scanner fault is a screening failure
            if not d.fail(exc):
                self.block(slot.scope)
                return ""
            return self.release(slot, key, self._trim(slot, text))
        released = result.text
        matches = result.matches
        if not final and slot.scanner is not None:
            held = slot.scanner.held
            slot.tail = (slot.tail + text)[-held:] if held else ""
        if matches and slot.base and any(m.end <= slot.base for m in matches):
            matches = [m for m in matches if m.end > slot.base]  # the last slot's own
        if matches and d.record(matches, slot.where, slot.out):
            first = min(m.start for m in matches if d.screen.action(m) == "block")
            safe = self._trim(slot, released[: max(0, first - slot.out)])
            self.block(slot.scope)
            return self.release(slot, key, safe, blocking=True)
        held = slot.fed - slot.out - len(released)
        if held > self.max_held:
            self.max_held = held
        return self.release(slot, key, self._trim(slot, released))

    @staticmethod
    def _trim(slot: Slot, text: str) -> str:
        """``text`` without the chain's prefix (counted as released: offsets stay aligned)."""
        if not slot.skip or not text:
            return text
        cut = min(slot.skip, len(text))
        slot.skip -= cut
        slot.out += cut
        return text[cut:]

    def _screen_whole(self, slot: Slot, raw: str) -> str | None:
        """A held JSON slot screened as a whole answer's field would be: the text to send
        (masked where needed), or None when it blocks or cannot be screened."""
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw  # not JSON (the model's mistake): screened as a text
        # a key named twice: only the value the parser kept is screened, so what goes on is
        # that parse, never the raw text (a first-wins reader would see the other value)
        lossy = isinstance(value, dict | list) and lost_duplicate(raw, value)
        holder = [value]
        walk = Walk()
        walk.add(holder, (slot.where,))
        scope = slot.scope
        if self.decisions.screen_walk(walk, lambda ref: scope):
            return None
        if walk.too_deep or any(unreadable(path, p) for path, p, _, _ in walk.payloads):
            return None
        if not walk.changed and not lossy:
            return raw
        value = holder[0]
        return value if isinstance(value, str) else orjson.dumps(value).decode()

    def _escaped_term(self, slot: Slot) -> bool:
        """Whether the slot's text, with nested escapes decoded, holds a masked or blocked
        term more often than as its reader decodes it (recorded), or escapes nested too deep
        to decode (True: the scope ends)."""
        d = self.decisions
        plain = "".join(slot.decoded)
        deep, complete = unescape_all(plain)
        if not complete:  # escapes nested too deep to read: fail closed
            return True
        if deep == plain:
            return False
        try:
            hidden, _ = d.hidden_terms(deep, plain)
        except Exception as exc:  # noqa: BLE001 - a scanner fault is a screening failure
            return not d.fail(exc)
        if not hidden:
            return False
        d.record_text(hidden, deep, slot.where + " (escaped)")
        return True

    def block(self, scope: Hashable) -> None:
        """End ``scope`` (a lexicon block, or a guard's unsafe verdict)."""
        d = self.decisions
        if scope == ALL:
            d.blocked = True
        else:
            d.blocked_scopes.add(scope)

    def release(self, slot: Slot, key: Hashable, text: str, blocking: bool = False) -> str:
        """The one exit of screened text: the stream guard, raw form, hook, label."""
        slot.out += len(text)
        if self.guard is not None and text:
            text = self.guard.feed(key, slot.scope, text)
        return self._deliver(slot, key, text, blocking)

    def guard_released(self) -> list[tuple[Hashable, str]]:
        """(key, text as sent) of what the stream guard let through since the last call;
        nothing of a blocked scope."""
        out = []
        assert self.guard is not None
        for key, text in self.guard.released():
            slot = self.slots.get(key)
            if slot is None or self.blocked(slot.scope):
                continue
            text = self._deliver(slot, key, text)
            if text:
                out.append((key, text))
        return out

    def _deliver(self, slot: Slot, key: Hashable, text: str, blocking: bool = False) -> str:
        if slot.view is not None:
            text = slot.view.release(text)
            if blocking:
                slot.view.drop()
        if not text:
            return ""
        if self.hook is not None:
            text = self.hook(key, slot.scope, text)
        if slot.display:
            scope = slot.scope
            lab = self.label
            if lab is not None and lab.position == "start" and scope not in self.labeled:
                self.labeled.add(scope)
                if slot.label:
                    text = lab.notice + text
                else:
                    self.owed[scope] = lab.notice
            self.shown.add(scope)
        slot.parts.append(text)
        return text
