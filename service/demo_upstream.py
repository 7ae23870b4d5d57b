"""Fast fake model API for ``serve --demo``, tests and the gateway benchmark.

Speaks the OpenAI (chat completions, completions, responses, embeddings, images, audio
speech, models), Anthropic Messages and Ollama (``/api/chat``, ``/api/generate``) wire
formats, streaming and not. Every text endpoint replies ``"Echo: <last user text>"``, split
into ``chunks`` stream pieces with ``delay`` seconds between them, so screening of outputs is
visible in a demo. Raw ASGI and orjson: it has to stay far faster than the gateway in front.

Usage::

    from service.demo_upstream import create_app, run_in_background

    app = create_app(chunks=20, delay=0.0)            # an ASGI app
    with run_in_background(port=0) as upstream:       # uvicorn in a thread
        print(upstream.url)                            # http://127.0.0.1:<port>
    upstream = run_in_background(process=True, workers=2)  # separate process(es)

Command line: ``python -m service.demo_upstream --port 8001 [--workers N] [--chunks N]
[--delay S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import itertools
import math
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

__all__ = ["DemoUpstream", "DemoUpstreamApp", "create_app", "main", "run_in_background"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY = 16 * 1024 * 1024
_IDS = itertools.count(1)
_JSON = [(b"content-type", b"application/json")]
_SSE = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_NDJSON = [(b"content-type", b"application/x-ndjson")]


class _ClientGone(Exception):
    """The client disconnected while a slow stream was being sent."""


class BadRequest(Exception):
    """The request body does not fit the protocol; rendered in the protocol's error envelope."""


# --------------------------------------------------------------------------- text helpers


def split_text(text: str, chunks: int) -> list[str]:
    """Split ``text`` into ``min(chunks, len(text))`` pieces of near-equal length (at least 1)."""
    k = max(1, min(chunks, len(text)))
    size, extra = divmod(len(text), k)
    pieces, pos = [], 0
    for i in range(k):
        end = pos + size + (1 if i < extra else 0)
        pieces.append(text[pos:end])
        pos = end
    return pieces


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _parts_text(content: Any) -> str:
    """Text of a message content: a string or a list of typed parts (OpenAI / Anthropic)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest("message content must be a string or a list of parts")
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "tool_result":
                texts.append(_parts_text(part.get("content")))
    return "".join(texts)


def _last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        raise BadRequest("'messages' must be a list")
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _parts_text(message.get("content"))
    return ""


def _responses_input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise BadRequest("'input' must be a string or a list of items")
    for item in reversed(value):
        if isinstance(item, dict) and item.get("role") == "user":
            return _parts_text(item.get("content"))
    return ""


def _prompt_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], str):
        return value[-1]
    raise BadRequest("'prompt' must be a string or a list of strings")


# --------------------------------------------------------------------------- media helpers


@lru_cache(maxsize=64)
def _png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(out, format="PNG")
    return out.getvalue()


def _color(prompt: str) -> tuple[int, int, int]:
    d = hashlib.sha256(prompt.encode()).digest()
    return d[0], d[1], d[2]


_AUDIO_TYPES = {
    "wav": ("WAV", "PCM_16", "audio/wav"),
    "mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg"),
    "flac": ("FLAC", "PCM_16", "audio/flac"),
    "opus": ("OGG", "OPUS", "audio/ogg"),
    "pcm": ("RAW", "PCM_16", "audio/pcm"),
}


@lru_cache(maxsize=8)
def _tone(fmt: str, seconds: float = 0.5, rate: int = 24000) -> tuple[bytes, str]:
    """A 440 Hz tone in ``fmt``, encoded once (soundfile/libsndfile)."""
    import numpy as np
    import soundfile as sf

    container, subtype, media_type = _AUDIO_TYPES[fmt]
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * math.pi * 440.0 * t)).astype("float32")
    out = io.BytesIO()
    extra = {"endian": "LITTLE"} if container == "RAW" else {}
    sf.write(out, samples, rate, format=container, subtype=subtype, **extra)
    return out.getvalue(), media_type


def _embedding(text: str, dims: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = (seed * (dims * 4 // len(seed) + 1))[: dims * 4]
    values = [b / 255.0 - 0.5 for b in raw[::4]][:dims]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


# --------------------------------------------------------------------------- the app


@dataclass
class DemoUpstreamApp:
    """The ASGI app. ``chunks`` pieces per streamed reply, ``delay`` seconds between them."""

    chunks: int = 20
    delay: float = 0.0
    model: str = "demo-model"
    requests: int = 0
    cancelled: int = 0  # streams the client left early (counted when ``delay`` > 0)
    _files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.chunks < 1:
            raise ValueError("chunks must be >= 1")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        self._routes: dict[tuple[str, str], Callable[..., Awaitable[None]]] = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/completions"): self._completions,
            ("POST", "/v1/responses"): self._responses,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("POST", "/v1/images/generations"): self._images,
            ("POST", "/v1/audio/speech"): self._speech,
            ("GET", "/v1/models"): self._models,
            ("POST", "/v1/messages"): self._messages,
            ("POST", "/api/chat"): self._ollama_chat,
            ("POST", "/api/generate"): self._ollama_generate,
            ("GET", "/api/tags"): self._ollama_tags,
            ("GET", "/health"): self._health,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.requests += 1
        path, method = scope["path"], scope["method"]
        kind = "openai"
        if path == "/v1/messages":
            kind = "anthropic"
        elif path.startswith("/api/"):
            kind = "ollama"
        if method == "GET" and path.startswith("/files/") and path in self._files:
            await _respond(send, 200, self._files[path], [(b"content-type", b"image/png")])
            return
        handler = self._routes.get((method, path))
        if handler is None:
            known = any(p == path for _, p in self._routes)
            status = 405 if known else 404
            await _error(send, kind, status, f"no route for {method} {path}")
            return
        started = False
        gone = asyncio.Event()

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if gone.is_set():
                raise _ClientGone
            started = started or message["type"] == "http.response.start"
            await send(message)

        watcher = None
        try:
            body = await _read_json(receive) if method == "POST" else {}
            if self.delay and body.get("stream", path.startswith("/api/")):
                # a slow stream stops when its client leaves, as a real model API does
                watcher = asyncio.create_task(_watch_disconnect(receive, gone))
            await handler(scope, tracked, body)
        except _ClientGone:
            self.cancelled += 1
        except BadRequest as exc:
            await _error(send, kind, 400, str(exc))
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # a field of the wrong type somewhere: still the protocol's 400, never a 500
            if started:
                raise
            await _error(send, kind, 400, f"malformed request: {type(exc).__name__}: {exc}")
        finally:
            if watcher is not None:
                watcher.cancel()

    # ----------------------------------------------------------------- OpenAI

    async def _chat(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        prompt = _last_user_text(body.get("messages"))
        n = body.get("n") or 1
        if not isinstance(n, int) or not 1 <= n <= 16:
            raise BadRequest("'n' must be an integer between 1 and 16")
        reply = "Echo: " + prompt
        pieces = split_text(reply, self.chunks)
        rid, created, model = f"chatcmpl-demo{next(_IDS)}", int(time.time()), self._model(body)
        usage = {
            "prompt_tokens": _tokens(prompt),
            "completion_tokens": len(pieces) * n,
            "total_tokens": _tokens(prompt) + len(pieces) * n,
        }
        if not body.get("stream"):
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": reply, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
                for i in range(n)
            ]
            await _json(
                send,
                {
                    "id": rid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": None,
                    "choices": choices,
                    "usage": usage,
                },
            )
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        if include_usage:
            base["usage"] = None

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse({**base, "choices": [choice]})

        await _start(send, 200, _SSE)
        for i in range(n):
            await _body(send, chunk(i, {"role": "assistant", "content": ""}))
        for piece in pieces:
            await self._pause()
            for i in range(n):
                await _body(send, chunk(i, {"content": piece}))
        for i in range(n):
            await _body(send, chunk(i, {}, "stop"))
        if include_usage:
            await _body(send, _sse({**base, "choices": [], "usage": usage}))
        await _body(send, b"data: [DONE]\n\n", more=False)

    async def _completions(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        prompt = _prompt_text(body.get("prompt"))
        reply = "Echo: " + prompt
        pieces = split_text(reply, self.chunks)
        rid, created, model = f"cmpl-demo{next(_IDS)}", int(time.time()), self._model(body)
        usage = {
            "prompt_tokens": _tokens(prompt),
            "completion_tokens": len(pieces),
            "total_tokens": _tokens(prompt) + len(pieces),
        }
        base = {
            "id": rid,
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        if not body.get("stream"):
            choice = {"text": reply, "index": 0, "logprobs": None, "finish_reason": "stop"}
            await _json(send, {**base, "choices": [choice], "usage": usage})
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if include_usage:
            base["usage"] = None
        await _start(send, 200, _SSE)
        for piece in pieces:
            await self._pause()
            choice = {"text": piece, "index": 0, "logprobs": None, "finish_reason": None}
            await _body(send, _sse({**base, "choices": [choice]}))
        final = {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
        await _body(send, _sse({**base, "choices": [final]}))
        if include_usage:
            await _body(send, _sse({**base, "choices": [], "usage": usage}))
        await _body(send, b"data: [DONE]\n\n", more=False)

    async def _responses(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        prompt = _responses_input_text(body.get("input"))
        reply = "Echo: " + prompt
        pieces = split_text(reply, self.chunks)
        n = next(_IDS)
        rid, mid, model = f"resp_demo{n}", f"msg_demo{n}", self._model(body)
        usage = {
            "input_tokens": _tokens(prompt),
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": len(pieces),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": _tokens(prompt) + len(pieces),
        }
        part = {"type": "output_text", "text": reply, "annotations": [], "logprobs": []}
        item = {
            "id": mid,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
        response = {
            "id": rid,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": None,
            "model": model,
            "output": [item],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": False,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": {},
        }
        if not body.get("stream"):
            await _json(send, response)
            return
        seq = itertools.count()
        started = {**response, "status": "in_progress", "output": [], "usage": None}

        async def event(kind: str, data: dict[str, Any], more: bool = True) -> None:
            payload = {"type": kind, "sequence_number": next(seq), **data}
            await _body(
                send,
                b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n",
                more=more,
            )

        loc = {"item_id": mid, "output_index": 0, "content_index": 0}
        await _start(send, 200, _SSE)
        await event("response.created", {"response": started})
        await event("response.in_progress", {"response": started})
        await event(
            "response.output_item.added",
            {"output_index": 0, "item": {**item, "status": "in_progress", "content": []}},
        )
        await event("response.content_part.added", {**loc, "part": {**part, "text": ""}})
        for piece in pieces:
            await self._pause()
            await event("response.output_text.delta", {**loc, "delta": piece, "logprobs": []})
        await event("response.output_text.done", {**loc, "text": reply, "logprobs": []})
        await event("response.content_part.done", {**loc, "part": part})
        await event("response.output_item.done", {"output_index": 0, "item": item})
        await event("response.completed", {"response": response}, more=False)

    async def _embeddings(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        value = body.get("input")
        inputs = [value] if isinstance(value, str) else value
        if not isinstance(inputs, list) or not inputs:
            raise BadRequest("'input' must be a string or a non-empty list")
        dims = body.get("dimensions") or 16
        if not isinstance(dims, int) or not 1 <= dims <= 4096:
            raise BadRequest("'dimensions' must be an integer between 1 and 4096")
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, item in enumerate(inputs):
            vector = _embedding(item if isinstance(item, str) else repr(item), dims)
            emb: Any = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if b64 else vector
            )
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(_tokens(str(x)) for x in inputs)
        await _json(
            send,
            {
                "object": "list",
                "data": data,
                "model": self._model(body),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    async def _images(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise BadRequest("'prompt' must be a string")
        n = body.get("n") or 1
        if not isinstance(n, int) or not 1 <= n <= 10:
            raise BadRequest("'n' must be an integer between 1 and 10")
        png = _png(_color(prompt))
        data = []
        for _ in range(n):
            if body.get("response_format") == "url":
                path = f"/files/img-{next(_IDS)}.png"
                if len(self._files) > 256:  # bounded: demo only
                    self._files.pop(next(iter(self._files)))
                self._files[path] = png
                data.append({"url": _base_url(scope) + path, "revised_prompt": prompt})
            else:
                data.append({"b64_json": base64.b64encode(png).decode(), "revised_prompt": prompt})
        await _json(send, {"created": int(time.time()), "data": data})

    async def _speech(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        if not isinstance(body.get("input"), str):
            raise BadRequest("'input' must be a string")
        fmt = body.get("response_format") or "mp3"
        if fmt not in _AUDIO_TYPES:
            raise BadRequest(f"response_format must be one of {', '.join(_AUDIO_TYPES)}")
        data, media_type = _tone(fmt)
        await _respond(send, 200, data, [(b"content-type", media_type.encode())])

    async def _models(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        model = {"id": self.model, "object": "model", "created": 0, "owned_by": "aigc-gateway-demo"}
        await _json(send, {"object": "list", "data": [model]})

    async def _health(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        await _json(send, {"status": "ok"})

    # ----------------------------------------------------------------- Anthropic

    async def _messages(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        prompt = _last_user_text(body.get("messages"))
        reply = "Echo: " + prompt
        pieces = split_text(reply, self.chunks)
        mid, model = f"msg_demo{next(_IDS)}", self._model(body)
        usage = {"input_tokens": _tokens(prompt), "output_tokens": len(pieces)}
        message = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": reply}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            await _json(send, message)
            return

        async def event(kind: str, data: dict[str, Any], more: bool = True) -> None:
            payload = orjson.dumps({"type": kind, **data})
            await _body(send, b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n", more)

        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": usage["input_tokens"], "output_tokens": 1},
        }
        await _start(send, 200, _SSE)
        await event("message_start", {"message": start})
        await event(
            "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
        )
        await event("ping", {})
        for piece in pieces:
            await self._pause()
            await event(
                "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}
            )
        await event("content_block_stop", {"index": 0})
        await event(
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(pieces)},
            },
        )
        await event("message_stop", {}, more=False)

    # ----------------------------------------------------------------- Ollama

    async def _ollama_chat(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        prompt = _last_user_text(body.get("messages"))
        await self._ollama(
            send, body, prompt, lambda text: {"message": {"role": "assistant", "content": text}}
        )

    async def _ollama_generate(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        prompt = body.get("prompt", "")
        if not isinstance(prompt, str):
            raise BadRequest("'prompt' must be a string")
        await self._ollama(send, body, prompt, lambda text: {"response": text})

    async def _ollama(
        self,
        send: Send,
        body: dict[str, Any],
        prompt: str,
        content: Callable[[str], dict[str, Any]],
    ) -> None:
        reply = "Echo: " + prompt
        pieces = split_text(reply, self.chunks)
        model = self._model(body)
        started = time.perf_counter_ns()

        def line(text: str, done: bool) -> dict[str, Any]:
            out = {"model": model, "created_at": _now_iso(), **content(text), "done": done}
            if done:
                elapsed = time.perf_counter_ns() - started
                out.update(
                    done_reason="stop",
                    total_duration=elapsed,
                    load_duration=0,
                    prompt_eval_count=_tokens(prompt),
                    prompt_eval_duration=0,
                    eval_count=len(pieces),
                    eval_duration=elapsed,
                )
            return out

        if body.get("stream") is False:  # Ollama streams unless told not to
            await _json(send, line(reply, True))
            return
        await _start(send, 200, _NDJSON)
        for piece in pieces:
            await self._pause()
            await _body(send, orjson.dumps(line(piece, False)) + b"\n")
        await _body(send, orjson.dumps(line("", True)) + b"\n", more=False)

    async def _ollama_tags(self, scope: Scope, send: Send, body: dict[str, Any]) -> None:
        await _json(
            send,
            {
                "models": [
                    {"name": self.model, "model": self.model, "modified_at": _now_iso(), "size": 0}
                ]
            },
        )

    # ----------------------------------------------------------------- helpers

    def _model(self, body: dict[str, Any]) -> str:
        model = body.get("model")
        return model if isinstance(model, str) and model else self.model

    async def _pause(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _base_url(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return f"{scope.get('scheme', 'http')}://{value.decode('latin-1')}"
    host, port = scope.get("server") or ("127.0.0.1", 80)
    return f"http://{host}:{port}"


async def _read_json(receive: Receive) -> dict[str, Any]:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("client disconnected")
        data = message.get("body", b"")
        size += len(data)
        if size > MAX_BODY:
            raise BadRequest("request body too large")
        chunks.append(data)
        if not message.get("more_body"):
            break
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _body(send: Send, data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def _respond(
    send: Send, status: int, data: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await _start(send, status, [*headers, (b"content-length", str(len(data)).encode())])
    await _body(send, data, more=False)


async def _json(send: Send, payload: dict[str, Any], status: int = 200) -> None:
    await _respond(send, status, orjson.dumps(payload), _JSON)


async def _error(send: Send, kind: str, status: int, message: str) -> None:
    kinds = {400: "invalid_request_error", 404: "not_found_error", 405: "invalid_request_error"}
    if kind == "anthropic":
        payload: dict[str, Any] = {
            "type": "error",
            "error": {"type": kinds[status], "message": message},
        }
    elif kind == "ollama":
        payload = {"error": message}
    else:
        payload = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
    await _json(send, payload, status)


def create_app(
    *, chunks: int = 20, delay: float = 0.0, model: str = "demo-model"
) -> DemoUpstreamApp:
    """Build the demo upstream ASGI app (see the module docstring)."""
    return DemoUpstreamApp(chunks=chunks, delay=delay, model=model)


def _app_from_env() -> DemoUpstreamApp:
    """uvicorn factory for ``--workers`` > 1: settings come through the environment."""
    return create_app(
        chunks=int(os.environ.get("AIGC_DEMO_UPSTREAM_CHUNKS", "20")),
        delay=float(os.environ.get("AIGC_DEMO_UPSTREAM_DELAY", "0")),
        model=os.environ.get("AIGC_DEMO_UPSTREAM_MODEL", "demo-model"),
    )


# --------------------------------------------------------------------------- running it


@dataclass
class DemoUpstream:
    """A running demo upstream: ``url`` to call, ``stop()`` when done (also a context manager)."""

    url: str
    _stop: Callable[[], None] = field(repr=False)

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        stop, self._stop = self._stop, lambda: None
        stop()

    def __enter__(self) -> DemoUpstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_listening(host: str, port: int, alive: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("demo upstream exited during start-up")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"demo upstream did not listen on {host}:{port} in {timeout} s")


def run_in_background(
    host: str = "127.0.0.1", port: int = 0, *, process: bool = False, workers: int = 1, **opts: Any
) -> DemoUpstream:
    """Start the demo upstream and return once it accepts connections.

    ``process=False`` runs uvicorn in a daemon thread of this process (tests, ``--demo``);
    ``process=True`` runs ``python -m service.demo_upstream`` in a child process with
    ``workers`` uvicorn workers, so a benchmark does not share a CPU-bound event loop with it.
    ``opts`` are ``create_app`` keyword arguments (``chunks``, ``delay``, ``model``).
    """
    port = port or _free_port(host)
    url = f"http://{host}:{port}"
    if process or workers > 1:
        cmd = [
            sys.executable,
            "-m",
            "service.demo_upstream",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        for name in ("chunks", "delay", "model"):
            if name in opts:
                cmd += [f"--{name}", str(opts.pop(name))]
        if opts:
            raise TypeError(f"unknown options: {', '.join(opts)}")
        # the child must import this package even when it is run from a source checkout
        root = str(Path(__file__).resolve().parents[1])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p),
        }
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env)

        def stop_process() -> None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

        try:
            _wait_listening(host, port, lambda: proc.poll() is None)
        except BaseException:
            stop_process()
            raise
        return DemoUpstream(url, stop_process)

    import uvicorn

    config = uvicorn.Config(
        create_app(**opts),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="demo-upstream", daemon=True)
    thread.start()

    def stop_thread() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    try:
        _wait_listening(host, port, thread.is_alive)
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
    except BaseException:
        stop_thread()
        raise
    return DemoUpstream(url, stop_thread)


def main(argv: list[str] | None = None) -> int:
    """``python -m service.demo_upstream``: serve the demo upstream in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m service.demo_upstream",
        description="Fast fake OpenAI/Anthropic/Ollama model API.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--chunks", type=int, default=20, help="stream pieces per reply")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between pieces")
    parser.add_argument("--model", default="demo-model")
    args = parser.parse_args(argv)
    if args.chunks < 1 or args.delay < 0 or args.workers < 1:
        parser.error("--chunks and --workers must be >= 1, --delay >= 0")

    import uvicorn

    os.environ.update(
        AIGC_DEMO_UPSTREAM_CHUNKS=str(args.chunks),
        AIGC_DEMO_UPSTREAM_DELAY=str(args.delay),
        AIGC_DEMO_UPSTREAM_MODEL=args.model,
    )
    uvicorn.run(
        "service.demo_upstream:_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
