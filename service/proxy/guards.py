"""Seams for slower verdicts beside the lexicon (a guard-model classifier, later).

- ``InputGuard``: judges the screened request while the upstream call is already under way
  (``call_upstream`` below runs both); a ``block`` verdict cancels the upstream call and the
  client gets the protocol's block outcome, as for a lexicon block.
- ``SegmentGuard`` (``slots.SegmentGuard``): sees every released segment of streamed text in
  ``Slots.release`` and may return it shortened (hold or cut); set ``Proxy.segment_guard``.

The proxy has none by default; nothing here runs unless one is installed on the ``Proxy``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from service.errors import PolicyViolation

__all__ = ["InputGuard", "call_upstream"]


class InputGuard(Protocol):
    async def verdict(self, call: Any, body: bytes) -> str:
        """``"allow"`` or ``"block"`` for the screened request ``body`` of ``call``."""
        ...


async def call_upstream(
    call: Any, guards: list[InputGuard], body: bytes, send: Callable[[], Awaitable[Any]]
) -> Any:
    """``await send()`` (the upstream request), with ``guards`` judging beside it."""
    if not guards:
        return await send()
    upstream = asyncio.ensure_future(send())
    verdicts = asyncio.ensure_future(asyncio.gather(*(g.verdict(call, body) for g in guards)))
    try:
        results = await verdicts
    except BaseException:
        upstream.cancel()
        raise
    if "block" in results:
        upstream.cancel()
        try:
            resp = await upstream
            resp.close()
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - it is being dropped
            pass
        raise PolicyViolation("The request was blocked by the content policy.")
    return await upstream
