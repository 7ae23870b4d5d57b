"""Seams for slower verdicts beside the lexicon (the guard-model classifier).

The proxy calls guards at three points; none is installed by default (the classifier stage
installs its own, ``service.proxy.classifier``):

- ``InputGuard`` (``Proxy.input_guards``): judges the screened request. ``when(call)`` says
  whether its verdict is awaited ``"before"`` the upstream call, ``"beside"`` it (the upstream
  call runs as a task; the verdict is awaited before the answer's first byte) or not at all
  (None); without ``when`` a guard runs beside. A ``"block"`` verdict cancels the upstream call
  (or keeps it from starting) and the client gets the protocol's block outcome, as for a
  lexicon block (``call_upstream``).
- ``OutputGuard`` (``Proxy.output_guard``): when ``active(call)``, ``answer(call, texts)``
  judges the texts of a whole answer per scope (a choice, or ``ALL``) and names the scopes to block (``guard_answer``);
  ``stream(call)`` gives the call's ``StreamGuard``, or None.
- ``StreamGuard``: sees every released segment of streamed text (``Slots.release``) and may
  hold it until judged (``hold``) or let it through and cut the scope later (``async``). The
  relay (``stream.StreamRelay``) ends a slot for it before the event that closes the slot,
  waits for its verdicts there where it must (``must_wait``), sends what it releases between
  upstream chunks (``released``) and ends the scopes its unsafe verdicts name (``cut``); the
  stream loop (``streaming.relay_stream``) wakes on ``wake``.

``Proxy.segment_guard`` (a plain ``(key, scope, text) -> text`` callable) is the simplest hook:
it sees every segment as it goes out and holds nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol

from service.errors import PolicyViolation

from .decisions import ALL

__all__ = ["InputGuard", "OutputGuard", "StreamGuard", "call_upstream", "guard_answer"]

_BLOCKED = "The request was blocked by the content policy."


class InputGuard(Protocol):
    async def verdict(self, call: Any, body: bytes) -> str:
        """``"allow"`` or ``"block"`` for the screened request ``body`` of ``call``."""
        ...

    # optional: def when(self, call) -> "before" | "beside" | None   (default "beside")


class StreamGuard(Protocol):
    """One answer's gate on streamed text, slot by slot (see the module doc)."""

    wake: asyncio.Event  # set when a verdict arrived (the stream loop clears it)

    def feed(self, key: Hashable, scope: Hashable, text: str) -> str:
        """Take released text of slot ``key``; return what may be sent now."""
        ...

    def end(self, key: Hashable) -> None:
        """Slot ``key`` has all its text (judge the rest now)."""
        ...

    def must_wait(self, keys: list[Hashable], final: bool) -> bool:
        """True while text of ``keys`` still waits for a verdict that must come before the
        event ending them (``final``: the end of the answer, where every slot counts). A
        verdict still to come sets ``wake``: the relay stalls until then."""
        ...

    def released(self) -> list[tuple[Hashable, str]]:
        """(key, text) let through by verdicts since the last call."""
        ...

    def cut(self) -> list[Hashable]:
        """Scopes ended by an unsafe verdict since the last call."""
        ...

    def close(self) -> None:
        """The answer ended (or the client left): cancel what still runs."""
        ...


class OutputGuard(Protocol):
    def active(self, call: Any) -> bool:
        """Whether it judges this call's answer at all (cheap; asked first)."""
        ...

    async def answer(self, call: Any, texts: dict[Hashable, str]) -> set[Hashable]:
        """The scopes of a whole answer to block, judging ``texts`` (scope -> its text)."""
        ...

    def stream(self, call: Any) -> StreamGuard | None:
        """The call's stream guard, or None (nothing to judge)."""
        ...


def _when(guard: Any, call: Any) -> str | None:
    when = getattr(guard, "when", None)
    return "beside" if when is None else when(call)


async def call_upstream(
    call: Any, guards: list[InputGuard], body: bytes, send: Callable[[], Awaitable[Any]]
) -> Any:
    """``await send()`` (the upstream request), with ``guards`` judging before or beside it.

    Raises ``PolicyViolation`` when a guard blocks; the upstream call is then cancelled (its
    connection closed) or never started. ``call.upstream_ready`` is when the upstream answered.
    """
    before: list[InputGuard] = []
    beside: list[InputGuard] = []
    for guard in guards:
        when = _when(guard, call)
        if when == "before":
            before.append(guard)
        elif when is not None:
            beside.append(guard)
    if before and "block" in await asyncio.gather(*(g.verdict(call, body) for g in before)):
        raise PolicyViolation(_BLOCKED)
    if not beside:
        resp = await send()
        call.upstream_ready = time.perf_counter()
        return resp
    upstream = asyncio.ensure_future(send())

    def ready(_: Any) -> None:
        call.upstream_ready = time.perf_counter()

    upstream.add_done_callback(ready)
    verdicts = asyncio.ensure_future(asyncio.gather(*(g.verdict(call, body) for g in beside)))
    try:
        results = await verdicts
    except BaseException:
        verdicts.cancel()
        upstream.cancel()
        raise
    if "block" in results:
        upstream.cancel()
        try:
            resp = await upstream
            resp.close()
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - it is being dropped
            pass
        raise PolicyViolation(_BLOCKED)
    return await upstream


async def guard_answer(
    guard: OutputGuard, call: Any, walk: Any, scope_of: Any, blocked: set[Hashable]
) -> set[Hashable]:
    """Judge a whole answer's texts (those of ``walk``, after the lexicon) per scope, except
    the scopes already ``blocked``; empty the texts of the scopes the guard blocks and mark
    them blocked on ``call.outputs``. Returns those scopes."""
    if not guard.active(call):
        return set()
    groups: dict[Hashable, list[str]] = {}
    refs: dict[Hashable, list[Any]] = {}
    for ref in walk.refs:
        scope = ALL if scope_of is None else scope_of(ref)
        if scope in blocked or ALL in blocked:
            continue
        text = ref.text if ref.is_key else ref.container[ref.key]
        refs.setdefault(scope, []).append(ref)
        if text:
            groups.setdefault(scope, []).append(text)
    texts = {scope: "\n".join(parts) for scope, parts in groups.items()}
    if not texts:
        return set()
    cut = await guard.answer(call, texts)
    if not cut:
        return set()
    outputs = call.outputs
    for scope in cut:
        for ref in refs.get(scope, ()):
            walk.set(ref, "")
        if scope == ALL:
            outputs.blocked = True
        else:
            outputs.blocked_scopes.add(scope)
    walk.apply()
    return set(cut)
