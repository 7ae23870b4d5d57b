"""Streaming delivery: read the upstream, relay what the ``StreamRelay`` releases, end well.

Headers go out once the response id is known (it becomes the label's ``ProduceID``) or bytes
are due. The ending (the terminal event, or the ending after a block or an error) is sent only
after the call's records (``recording.record``). A block or a client disconnect closes the
upstream connection at once, which cancels the generation; after a normal terminal event the
rest is drained so the connection goes back to the pool.

With a stream guard (``guards.StreamGuard``) the loop also wakes on its verdicts between
upstream chunks (what they release goes out, an unsafe one cuts the stream), and while the
relay is stalled before a closing event it awaits the guard's verdicts instead of reading.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from service.errors import GatewayError

from . import recording
from .call import Call
from .guards import StreamGuard
from .headers import relayed
from .labels import implicit_header
from .stream import StreamRelay
from .upstream import TIMEOUTS, map_transport_errors

__all__ = ["relay_stream"]

_TRANSPORT = (aiohttp.ClientError, TimeoutError, asyncio.TimeoutError)


async def relay_stream(
    proxy: Any, call: Call, resp: Any, relay: StreamRelay, media_type: str, labeled: bool
) -> None:
    proto = relay.protocol
    pending: list[bytes] = []
    upstream_first = 0.0
    with map_transport_errors():
        while proto.response_id is None and not relay.finished and not relay.stalled:
            chunk = await resp.content.readany()
            if not chunk:
                pending.append(relay.close())
                break
            if not upstream_first:
                upstream_first = time.perf_counter()
            out = relay.feed(chunk)
            if out:
                pending.append(out)
            if proto.framing == "ndjson" and (out or relay.guard is not None):
                break  # NDJSON carries no response id; a guard's verdicts are awaited below
    call.produce_id = proto.response_id or call.request_id
    assert call.outputs is not None
    headers = [
        (b"content-type", media_type.encode()),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
        *relayed(resp, call.outputs.lexicon),
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
            _failed(proxy, relay, exc)

    guard = relay.guard
    watcher = asyncio.ensure_future(watch())
    try:
        if guard is None:
            await pump()
        else:
            await _pump_guarded(proxy, call, resp, relay, guard)
    except asyncio.CancelledError:
        if not disconnected.is_set():
            raise
        current.uncancel()
    except OSError:  # uvicorn's ClientDisconnected: a send after the client went away
        disconnected.set()
    finally:
        watcher.cancel()
        if guard is not None:
            guard.close()
    if relay.cut or disconnected.is_set():
        resp.close()  # cancels the upstream generation (connection closed, not pooled)
    if disconnected.is_set():
        call.status = 499  # recorded as such: the client never had the whole answer
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
        return
    try:
        await call.body(relay.final, more=True)
        await call.body(b"")
    except OSError:
        call.status = 499
        return
    if not relay.cut:
        await _drain(resp)


def _failed(proxy: Any, relay: StreamRelay, exc: BaseException) -> None:
    code = "upstream_timeout" if isinstance(exc, TIMEOUTS) else "upstream_error"
    proxy.metrics.upstream_errors.labels(code=code).inc()
    relay.fail(code, "The model API stream failed.")


async def _pump_guarded(
    proxy: Any, call: Call, resp: Any, relay: StreamRelay, guard: StreamGuard
) -> None:
    """The pump with a stream guard: wake on an upstream read or on a verdict; while the
    relay is stalled before a closing event, wake on verdicts only (the upstream waits)."""
    read: asyncio.Future[bytes] | None = None
    woken: asyncio.Future[Any] | None = None
    try:
        while not relay.finished:
            if relay.stalled:
                guard.wake.clear()
                out = relay.resume()  # what came in so far; stalled again if it must wait
                if out:
                    await call.body(out, more=True)
                if relay.stalled:
                    await guard.wake.wait()
                continue
            if read is None:
                read = asyncio.ensure_future(resp.content.readany())
            if woken is None:
                woken = asyncio.ensure_future(guard.wake.wait())
            await asyncio.wait((read, woken), return_when=asyncio.FIRST_COMPLETED)
            parts = []
            if woken.done():
                woken = None
                guard.wake.clear()
                parts.append(relay.released())  # older text first, then the new chunk
            if read.done() and not relay.finished:
                done, read = read, None
                try:
                    chunk = done.result()
                except _TRANSPORT as exc:
                    _failed(proxy, relay, exc)
                    break
                parts.append(relay.feed(chunk) if chunk else relay.close())
                if not chunk and not relay.stalled:
                    break
            out = b"".join(parts)
            if out:
                await call.body(out, more=True)
    finally:
        for task in (read, woken):
            if task is not None:
                task.cancel()


async def _drain(resp: Any) -> None:
    """Read what follows the terminal event (discarded), so the connection can be reused."""
    at_eof = getattr(resp.content, "at_eof", None)
    if at_eof is not None and at_eof():
        return  # all read already (the usual case): no deadline to set (~12 us)
    try:
        async with asyncio.timeout(1.0):
            while await resp.content.readany():
                pass
    except (TimeoutError, aiohttp.ClientError):
        resp.close()


def _strongest(a: str, b: str) -> str:
    from service.moderation import strongest

    return strongest((a, b))
