"""Streaming delivery: read the upstream, relay what the ``StreamRelay`` releases, end well.

Headers go out once the response id is known (it becomes the label's ``ProduceID``) or bytes
are due. The ending (the terminal event, or the ending after a block or an error) is sent only
after the call's records (``recording.record``). A block or a client disconnect closes the
upstream connection at once, which cancels the generation; after a normal terminal event the
rest is drained so the connection goes back to the pool.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from service.errors import GatewayError

from . import recording
from .call import Call
from .headers import relayed
from .labels import implicit_header
from .stream import StreamRelay
from .upstream import map_transport_errors

__all__ = ["relay_stream"]

_TRANSPORT = (aiohttp.ClientError, TimeoutError, asyncio.TimeoutError)


async def relay_stream(
    proxy: Any, call: Call, resp: Any, relay: StreamRelay, media_type: str, labeled: bool
) -> None:
    proto = relay.protocol
    pending: list[bytes] = []
    upstream_first = 0.0
    with map_transport_errors():
        while proto.response_id is None and not relay.finished:
            chunk = await resp.content.readany()
            if not chunk:
                pending.append(relay.close())
                break
            if not upstream_first:
                upstream_first = time.perf_counter()
            out = relay.feed(chunk)
            if out:
                pending.append(out)
                if proto.framing == "ndjson":
                    break
    call.produce_id = proto.response_id or call.request_id
    assert call.outputs is not None
    headers = [
        (b"content-type", media_type.encode()),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
        *relayed(resp),
        *call.aigc_headers(_strongest(call.decision, call.outputs.decision)),
    ]
    if labeled and call.plan is not None and call.plan.enabled:
        headers.append((b"x-aigc-label", implicit_header(call.plan, call.produce_id)))
    await call.start(resp.status, headers)
    call.first_byte = time.perf_counter()
    body = b"".join(pending)
    if body:
        await call.body(body, more=True)
    if upstream_first:
        proxy.metrics.ttft_added.observe(call.first_byte - upstream_first)

    disconnected = asyncio.Event()
    current = asyncio.current_task()
    assert current is not None

    async def watch() -> None:
        # The pump runs in this task; a disconnect cancels it (one extra task, not two).
        while True:
            message = await call.receive()
            if message["type"] == "http.disconnect":
                disconnected.set()
                current.cancel()
                return

    async def pump() -> None:
        try:
            while not relay.finished:
                chunk = await resp.content.readany()
                out = relay.feed(chunk) if chunk else relay.close()
                if out:
                    await call.body(out, more=True)
                if not chunk:
                    break
        except _TRANSPORT as exc:
            code = "upstream_error" if isinstance(exc, aiohttp.ClientError) else "upstream_timeout"
            proxy.metrics.upstream_errors.labels(code=code).inc()
            relay.fail(code, "The model API stream failed.")

    watcher = asyncio.ensure_future(watch())
    try:
        await pump()
    except asyncio.CancelledError:
        if not disconnected.is_set():
            raise
        current.uncancel()
    except OSError:  # uvicorn's ClientDisconnected: a send after the client went away
        disconnected.set()
    finally:
        watcher.cancel()
    if relay.cut or disconnected.is_set():
        resp.close()  # cancels the upstream generation (connection closed, not pooled)
    call.decision = _strongest(call.decision, call.outputs.decision)
    call.stream_position = proto.slots.position()
    call.labeled = bool(proto.slots.labeled)
    proxy.metrics.holdback.observe(proto.slots.max_held)
    try:
        await recording.record(call)
    except GatewayError as exc:  # records cannot be kept: the answer is not completed
        if not disconnected.is_set():
            await call.body(proto.error_tail(exc.code, exc.message), more=True)
            await call.body(b"")
        return
    if disconnected.is_set():
        call.status = 499
        return
    try:
        await call.body(relay.final, more=True)
        await call.body(b"")
    except OSError:
        call.status = 499
        return
    if not relay.cut:
        await _drain(resp)


async def _drain(resp: Any) -> None:
    """Read what follows the terminal event (discarded), so the connection can be reused."""
    try:
        async with asyncio.timeout(1.0):
            while await resp.content.readany():
                pass
    except (TimeoutError, aiohttp.ClientError):
        resp.close()


def _strongest(a: str, b: str) -> str:
    from service.moderation import strongest

    return strongest((a, b))
