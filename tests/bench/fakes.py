"""Scripted ASGI targets for the load-generator tests.

``scripted_app`` answers by the prompt text: "ok" normally, "block" with a 400
``content_policy_violation``, "fail" with a 500, "limit" with a 429, "filter" with a
protocol-native block (OpenAI ``content_filter``, Anthropic ``refusal``, Ollama done reason), and
"label" with an explicit notice and an ``X-AIGC-Label`` header. ``serial_app`` handles one
request at a time, ``seconds`` each.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

NOTICE = "【本内容由人工智能生成】"


async def _body(receive: Any) -> dict[str, Any]:
    data = b""
    while True:
        message = await receive()
        data += message.get("body", b"")
        if not message.get("more_body"):
            return orjson.loads(data)


def _prompt(path: str, body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


async def _send_json(send: Any, status: int, payload: Any, headers: list | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(payload)})


def _stream_events(path: str, text: str, blocked: bool) -> list[bytes]:
    if path == "/api/chat":
        lines = [{"message": {"role": "assistant", "content": text}, "done": False}]
        lines.append(
            {
                "message": {"content": ""},
                "done": True,
                "done_reason": "content_filter" if blocked else "stop",
            }
        )
        return [orjson.dumps(x) + b"\n" for x in lines]
    if path == "/v1/messages":
        stop = "refusal" if blocked else "end_turn"
        events = [
            ("message_start", {"message": {"content": []}}),
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}}),
            ("message_delta", {"delta": {"stop_reason": stop}, "usage": {"output_tokens": 1}}),
            ("message_stop", {}),
        ]
        return [
            f"event: {k}\r\ndata: ".encode() + orjson.dumps({"type": k, **v}) + b"\r\n\r\n"
            for k, v in events
        ]
    finish = "content_filter" if blocked else "stop"
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
    ]
    return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


def _whole(path: str, text: str, blocked: bool) -> dict[str, Any]:
    if path == "/api/chat":
        reason = "content_filter" if blocked else "stop"
        return {
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": reason,
        }
    if path == "/v1/messages":
        return {
            "type": "message",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "refusal" if blocked else "end_turn",
        }
    finish = "content_filter" if blocked else "stop"
    return {"choices": [{"index": 0, "message": {"content": text}, "finish_reason": finish}]}


async def scripted_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = await _body(receive)
    path, prompt = scope["path"], _prompt(scope["path"], body)
    if prompt == "block":
        error = {
            "message": "blocked",
            "type": "invalid_request_error",
            "code": "content_policy_violation",
        }
        await _send_json(send, 400, {"error": error})
        return
    if prompt in ("fail", "limit"):
        status, code = (500, "server_error") if prompt == "fail" else (429, "rate_limit_exceeded")
        await _send_json(send, status, {"error": {"message": prompt, "code": code}})
        return
    blocked = prompt == "filter"
    text = "Echo: " + prompt + (NOTICE if prompt == "label" else "")
    headers = [(b"x-aigc-label", b'{"Label":"1"}')] if prompt == "label" else []
    if not body.get("stream", path == "/api/chat"):
        await _send_json(send, 200, _whole(path, text, blocked), headers)
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream"), *headers],
        }
    )
    for event in _stream_events(path, text, blocked):
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def serial_app(seconds: float) -> Any:
    """An OpenAI-like target that serves one request at a time, ``seconds`` each."""
    lock = asyncio.Lock()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await _body(receive)
        async with lock:
            await asyncio.sleep(seconds)
        await _send_json(
            send,
            200,
            {"choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "stop"}]},
        )

    return app


class Recorder:
    """An ASGI target that records each request body and answers 200 ``{}``."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        data = b""
        while True:
            message = await receive()
            data += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(data)
        await _send_json(send, 200, {})
