"""The whole-answer relay: read the upstream answer, screen every string, label, record, send.

An answer is parsed by its content type and, when the type says nothing useful, by its
content: JSON and JSON Lines go through the walker, text is screened as text, generated
speech goes to the media path (labels). Anything else is not relayed (502
``unscreenable_response``), except binary media on generic routes (file downloads of images
and audio), whose text runs (metadata, text behind the magic number) are screened — a careful
reading of "file downloads carry no text": a batch output file is JSON Lines full of model
text, so downloads are screened like everything else.

Protocol answers are then refined by their adapter: its shape is checked (a shape it cannot
rewrite is 502 ``upstream_invalid_response``, never relayed), blocked choices get the
protocol's own outcome, the explicit label is placed, images are labeled. A text answer's
texts (after the lexicon) also go to the output guard (``Proxy.output_guard``, the classifier)
per scope before delivery; a scope it blocks gets the same outcome as a lexicon block.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from service.errors import GatewayError, UpstreamError

from . import recording
from .call import Call
from .decisions import ALL
from .framing import SSEParser, sse_event
from .guards import guard_answer
from .headers import relayed
from .labels import implicit_header
from .media import (
    LabelFailed,
    gateway_base,
    label_download,
    label_images,
    label_payloads,
    read_bounded,
    rewrite_job_urls,
)
from .payloads import JSONL_TYPES, MEDIA, TEXT, Sniffed, charset_of, sniff, text_runs, unreadable
from .upstream import map_transport_errors
from .views import escaped_terms
from .walker import NON_TEXT, Walk

__all__ = ["relay_whole"]


class Unscreenable(UpstreamError):
    """The model API answered with something the gateway cannot screen."""

    code = "unscreenable_response"


class AnswerBlocked(GatewayError):
    """A generic route's answer was blocked by the content policy."""

    status = 403
    code = "content_policy_violation"


async def _screen_json(
    proxy: Any, call: Call, value: Any, protocol: bool, request: Any
) -> tuple[Any, list]:
    """The screened answer and the media payloads found in it (for the media path)."""
    adapter = call.adapter if protocol else None
    outputs = call.outputs
    assert outputs is not None
    walk = Walk(adapter.non_text if adapter else NON_TEXT, adapter.strip if adapter else None)
    holder = [value]
    walk.add(holder if isinstance(value, str) else value)
    value = holder[0]
    scope_of = None
    if adapter is not None:
        scope_of = _scope_of(adapter)
    blocked = outputs.screen_walk(walk, scope_of)
    if walk.too_deep:
        raise Unscreenable("The model API answered with text nested too deep to screen.")
    for path, payload, _, _ in walk.payloads:
        if unreadable(path, payload):
            raise Unscreenable(f"The model API answered with a {payload.media_type} file.")
    if adapter is None:
        if blocked:
            raise AnswerBlocked("The answer was blocked by the content policy.")
        if escaped_terms(walk.refs, outputs):  # as in text bodies: see ``_screen_text``
            outputs.blocked = True
            raise AnswerBlocked("The answer was blocked by the content policy.")
        return value, walk.payloads
    if not adapter.answer_ok(value):
        raise UpstreamError(
            "The model API answered in a shape the gateway cannot screen.",
            code="upstream_invalid_response",
        )
    guard = proxy.output_guard
    if guard is not None and adapter.output == "text" and not call.inputs.blocked:
        blocked = blocked | await guard_answer(guard, call, walk, scope_of, blocked)
    if ALL in blocked:
        adapter.block(value, ALL)
    else:
        for scope in blocked:
            adapter.block(value, scope)
    plan = call.plan
    if (
        plan is not None
        and plan.text is not None
        and adapter.labelable(request)
        and not (isinstance(value, dict) and value.get("error"))
    ):
        call.labeled = adapter.label(value, plan.text, blocked)
    return value, walk.payloads


def _scope_of(adapter: Any) -> Any:
    def scope_of(ref: Any) -> Any:
        return adapter.scope_of(ref.path)

    return scope_of


def _screen_text(call: Call, text: str) -> str:
    """A text body (a download, a transcript) screened; also read with its escapes decoded,
    as requests are (and the strings of a generic route's JSON answer): a JSON Lines file
    with one line that does not parse, or JSON after a byte order mark, is not opened by the
    walker, yet a lenient reader decodes its ``\\u`` escapes (and a multipart answer its
    base64 part). A term found only that way blocks."""
    walk = Walk()
    holder = [text]
    walk.add(holder)
    outputs = call.outputs
    assert outputs is not None
    if outputs.screen_walk(walk):
        raise AnswerBlocked("The answer was blocked by the content policy.")
    if walk.too_deep:
        raise Unscreenable("The model API answered with text nested too deep to screen.")
    if escaped_terms(walk.refs, outputs):
        outputs.blocked = True
        raise AnswerBlocked("The answer was blocked by the content policy.")
    return holder[0]


def _screen_runs(call: Call, data: bytes) -> None:
    """The text runs of a binary media download (metadata, or text behind a PNG's magic
    number, which a client expecting JSON Lines reads) screened; a masked or blocked term
    there blocks, as it cannot be masked inside the file."""
    runs = text_runs(data)
    if runs and _screen_text(call, runs) != runs:
        assert call.outputs is not None
        call.outputs.blocked = True
        raise AnswerBlocked("The answer was blocked by the content policy.")


def _screen_body_text(call: Call, found: Sniffed, ctype: str) -> tuple[bytes, str]:
    """A text body (``found`` by ``sniff``) screened and written back in its own encoding,
    with a media type that names that encoding."""
    codec = found.codec or "utf-8"
    data = _screen_text(call, found.text or "").encode(codec)
    if not ctype.lower().startswith("text/"):
        ctype = f"text/plain; charset={codec}"
    elif charset_of(ctype) is None and codec != "utf-8":
        ctype = f"{ctype}; charset={codec}"
    return data, ctype


async def relay_whole(proxy: Any, call: Call, resp: Any, request: Any) -> None:
    """Relay a non-streaming upstream answer (``resp``: aiohttp response or a gateway reply)."""
    status = resp.status
    adapter = call.adapter
    plan = call.plan
    labels_on = adapter is not None and plan is not None and plan.enabled and status < 400
    file_out = status < 400 and adapter is not None and adapter.output in ("audio", "video")
    with map_transport_errors():
        if file_out and labels_on and hasattr(resp.content, "iter_chunked"):
            limit = min(plan.labels.max_upload_bytes, call.runtime.settings.proxy.media_max_bytes)
            data = await read_bounded(resp, limit, "labels.max_upload_bytes, proxy.media_max_bytes")
        else:
            data = await resp.read()
    call.upstream_done = time.perf_counter()
    ctype = resp.headers.get("content-type", "")
    mtype = ctype.split(";")[0].strip().lower()
    extra: list[tuple[bytes, bytes]] = []
    t0 = time.perf_counter()
    if file_out:
        if labels_on:  # anything but the expected media fails here: never delivered unlabeled
            query = call.scope.get("query_string") or b""
            content_id = getattr(adapter, "content_id", None)
            call.produce_id = (content_id and content_id(call.path, query)) or call.request_id
            families = ("audio",) if adapter.output == "audio" else ("video", "image")
            out = await label_download(
                data, ctype, plan=plan, produce_id=call.produce_id, families=families
            )
            data, ctype = out.data, out.media_type
            call.media_labeled.append((out.record.produce_id, out.media_type, out.explicit))
            extra.append((b"x-aigc-label", out.record.to_json().encode()))
        else:
            found = sniff(data, charset_of(ctype))
            if found.kind == TEXT:
                data, ctype = _screen_body_text(call, found, ctype)
            elif found.kind != MEDIA:
                raise Unscreenable(f"The model API answered with {found.media_type} content.")
    elif not data:
        pass
    elif "json" in mtype and mtype not in JSONL_TYPES or (not mtype and data.lstrip()[:1] in b"{["):
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError("The model API returned invalid JSON.") from None
        value, media = await _screen_json(
            proxy, call, value, adapter is not None and status < 400, request
        )
        if status >= 400 and adapter is not None and plan is not None and plan.enabled:
            if any(payload.kind == MEDIA for _, payload, _, _ in media):
                raise LabelFailed("The model API's error answer carried a media file.")
        if adapter is not None and status < 400:
            call.produce_id = adapter.response_id(value) or call.request_id
            if adapter.output == "image" and labels_on and call.outputs.decision != "block":
                call.media_labeled += await label_images(
                    value,
                    plan=plan,
                    produce_id=call.produce_id,
                    files=proxy.files,
                    gateway_base=gateway_base(call.scope),
                    fetch=proxy.fetcher(call),
                )
            elif labels_on and adapter.output == "text" and media:
                call.media_labeled += await label_payloads(
                    media, plan=plan, produce_id=call.produce_id
                )
            elif labels_on and adapter.output == "job":
                fetcher = proxy.fetcher(call)
                rewrite_job_urls(
                    value, upstream=fetcher.upstream, gateway_base=gateway_base(call.scope)
                )
            if labels_on and adapter.output not in ("vectors", "job"):
                extra.append((b"x-aigc-label", implicit_header(plan, call.produce_id)))
        data = orjson.dumps(value)
        ctype = "application/json"
    elif mtype in JSONL_TYPES:
        try:
            lines = [orjson.loads(line) for line in data.splitlines() if line.strip()]
        except orjson.JSONDecodeError:
            raise UpstreamError("The model API returned invalid JSON Lines.") from None
        lines, _ = await _screen_json(proxy, call, lines, False, request)
        data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    else:
        found = sniff(data, charset_of(ctype))
        if found.kind == TEXT and (mtype == "text/event-stream" or _SSE_START.match(found.text)):
            events = _read_events(found.text or "")
            values, _ = await _screen_json(proxy, call, [v for _, v, _ in events], False, request)
            data, ctype = _render_events(events, values), "text/event-stream"
        elif found.kind == TEXT:
            data, ctype = _screen_body_text(call, found, ctype)
        elif found.kind == MEDIA and adapter is None:
            _screen_runs(call, data)
            ctype = found.media_type  # a binary media download: passed, as what it is
        else:
            raise Unscreenable(f"The model API answered with {found.media_type} content.")
    proxy.metrics.scan_output.observe(time.perf_counter() - t0)
    if status >= 400:
        proxy.metrics.upstream_errors.labels(code=str(status)).inc()
    assert call.outputs is not None
    call.decision = _strongest(call.decision, call.outputs.decision)
    headers = relayed(resp, call.outputs.lexicon) + call.aigc_headers() + extra
    call.status = status
    await recording.record(call)
    await call.respond(status, data, headers, media_type=ctype.encode("latin-1"))
    total = time.perf_counter() - call.started
    if call.upstream_started:
        proxy.metrics.added.observe(total - (call.upstream_done - call.upstream_started))


_SSE_START = re.compile(r"\s*(?:data|event):")


def _read_events(text: str) -> list[tuple[str | None, Any, bool]]:
    """An event stream read whole: (event name, data) per event, data parsed as JSON (a
    string when it is not JSON, ``[DONE]`` included); comments are dropped. A line that is
    not an SSE field is not relayed (502): the events are screened together, as one answer."""
    parser = SSEParser()
    events: list[tuple[str | None, Any, bool]] = []
    for frame in parser.feed(text.encode()) + parser.close():
        if frame.bad:
            raise Unscreenable("The model API answered with an event stream it cannot parse.")
        if frame.data is None:
            continue  # a comment, or an event without data
        try:
            events.append((frame.event, orjson.loads(frame.data), True))
        except orjson.JSONDecodeError:
            events.append((frame.event, frame.data.decode(), False))
    return events


def _render_events(events: list[tuple[str | None, Any, bool]], values: list[Any]) -> bytes:
    out = []
    for (name, _, is_json), value in zip(events, values, strict=True):
        if is_json or not isinstance(value, str):
            out.append(sse_event(value, name))
            continue
        # it was not JSON: lines of text
        head = f"event: {name}\n".encode() if name is not None else b""
        lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        out.append(head + b"".join(b"data: " + line.encode() + b"\n" for line in lines) + b"\n")
    return b"".join(out)


def _strongest(a: str, b: str) -> str:
    from service.moderation import strongest

    return strongest((a, b))
