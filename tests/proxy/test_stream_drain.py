"""``streaming._drain``: what follows a stream's terminal event is read so the upstream
connection can be reused; an upstream body already read to its end needs no reading (and no
deadline) at all."""

from __future__ import annotations

import asyncio
from typing import Any

from service.proxy.streaming import _drain


class Content:
    """An upstream body as aiohttp's ``StreamReader`` shows it: reads, and its end."""

    def __init__(self, rest: list[bytes], eof: bool) -> None:
        self.rest = rest
        self.eof = eof
        self.reads = 0

    def at_eof(self) -> bool:
        return self.eof and not self.rest

    async def readany(self) -> bytes:
        self.reads += 1
        if self.rest:
            return self.rest.pop(0)
        if not self.eof:
            await asyncio.sleep(3600)  # a body that never ends
        return b""


class Response:
    def __init__(self, content: Any) -> None:
        self.content = content
        self.closed = False

    def close(self) -> None:
        self.closed = True


async def test_a_body_read_to_its_end_is_not_read_again() -> None:
    resp = Response(Content([], eof=True))
    await _drain(resp)
    assert resp.content.reads == 0 and not resp.closed


async def test_what_follows_the_terminal_event_is_read_and_discarded() -> None:
    resp = Response(Content([b"data: {}\n\n", b"0\r\n\r\n"], eof=True))
    await _drain(resp)
    assert resp.content.rest == [] and resp.content.reads == 3 and not resp.closed


async def test_a_body_without_an_end_is_closed_after_the_deadline(monkeypatch: Any) -> None:
    real = asyncio.timeout
    monkeypatch.setattr(asyncio, "timeout", lambda _: real(0.01))  # no test waits a second
    resp = Response(Content([b"more"], eof=False))
    await _drain(resp)
    assert resp.closed


async def test_a_made_reply_without_an_end_marker_is_drained() -> None:
    class Made:  # the gateway's own replies (pipeline._Content): only readany
        async def readany(self) -> bytes:
            return b""

    resp = Response(Made())
    await _drain(resp)
    assert not resp.closed
