"""Upstream replies in each wire format, built from lists of text pieces."""

from __future__ import annotations

from typing import Any

import orjson

from tests.support.fake_upstream import sse


def chat_chunk(choices: list[dict], *, usage: Any = None, cid: str = "chatcmpl-fake") -> bytes:
    return sse(
        {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": choices,
            "usage": usage,
        }
    )


def chat_stream(pieces: list[str], *, usage: bool = False, finish: str = "stop") -> list[bytes]:
    out = [
        chat_chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )
    ]
    out += [
        chat_chunk([{"index": 0, "delta": {"content": p}, "finish_reason": None}]) for p in pieces
    ]
    out.append(chat_chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
    if usage:
        out.append(
            chat_chunk([], usage={"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10})
        )
    out.append(b"data: [DONE]\n\n")
    return out


def chat_json(text: str, **msg: Any) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, **msg},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def completions_stream(pieces: list[str]) -> list[bytes]:
    def chunk(text: str, finish: str | None) -> bytes:
        return sse(
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
            }
        )

    return [chunk(p, None) for p in pieces] + [chunk("", "stop"), b"data: [DONE]\n\n"]


def completions_json(text: str) -> dict:
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
    }


def _response(status: str, text: str | None) -> dict:
    output = []
    if text is not None:
        output = [
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ]
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": 1,
        "model": "m",
        "status": status,
        "output": output,
        "usage": None,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
    }


def responses_json(text: str) -> dict:
    return _response("completed", text)


def responses_stream(pieces: list[str]) -> list[bytes]:
    seq = iter(range(1000))
    full = "".join(pieces)

    def ev(kind: str, **data: Any) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **data}, kind)

    item = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    part = {"type": "output_text", "text": "", "annotations": []}
    out = [
        ev("response.created", response=_response("in_progress", None)),
        ev("response.in_progress", response=_response("in_progress", None)),
        ev("response.output_item.added", output_index=0, item=item),
        ev(
            "response.content_part.added",
            item_id="msg_1",
            output_index=0,
            content_index=0,
            part=part,
        ),
    ]
    out += [
        ev(
            "response.output_text.delta",
            item_id="msg_1",
            output_index=0,
            content_index=0,
            delta=p,
            logprobs=[],
        )
        for p in pieces
    ]
    done_part = {"type": "output_text", "text": full, "annotations": []}
    out += [
        ev(
            "response.output_text.done",
            item_id="msg_1",
            output_index=0,
            content_index=0,
            text=full,
            logprobs=[],
        ),
        ev(
            "response.content_part.done",
            item_id="msg_1",
            output_index=0,
            content_index=0,
            part=done_part,
        ),
        ev(
            "response.output_item.done",
            output_index=0,
            item={**item, "status": "completed", "content": [done_part]},
        ),
        ev("response.completed", response=_response("completed", full)),
    ]
    return out


def anthropic_json(text: str) -> dict:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


def anthropic_stream(pieces: list[str], *, thinking: bool = False) -> list[bytes]:
    msg = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    out = [
        sse({"type": "message_start", "message": msg}, "message_start"),
        sse({"type": "ping"}, "ping"),
    ]
    index = 0
    if thinking:
        out += [
            sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
                "content_block_start",
            ),
            sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "thinking_delta", "thinking": "想一想 " + "".join(pieces)},
                },
                "content_block_delta",
            ),
            sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "signature_delta", "signature": "c2lnbmF0dXJl"},
                },
                "content_block_delta",
            ),
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        ]
        index = 1
    out.append(
        sse(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        )
    )
    out += [
        sse(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": p},
            },
            "content_block_delta",
        )
        for p in pieces
    ]
    out += [
        sse({"type": "content_block_stop", "index": index}, "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 9},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return out


def ollama_stream(pieces: list[str], *, chat: bool = True) -> list[bytes]:
    def line(text: str, done: bool) -> bytes:
        obj: dict[str, Any] = {"model": "llama", "created_at": "2026-01-01T00:00:00Z"}
        if chat:
            obj["message"] = {"role": "assistant", "content": text}
        else:
            obj["response"] = text
        obj["done"] = done
        if done:
            obj.update(done_reason="stop", total_duration=1, eval_count=len(pieces))
        return orjson.dumps(obj) + b"\n"

    return [line(p, False) for p in pieces] + [line("", True)]


def ollama_json(text: str, *, chat: bool = True) -> dict:
    obj: dict[str, Any] = {
        "model": "llama",
        "created_at": "2026-01-01T00:00:00Z",
        "done": True,
        "done_reason": "stop",
    }
    if chat:
        obj["message"] = {"role": "assistant", "content": text}
    else:
        obj["response"] = text
    return obj


def wav_bytes(seconds: float = 0.2, rate: int = 16000) -> bytes:
    """A short silent 16-bit mono WAV file."""
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return buf.getvalue()


def png_bytes(size: int = 64) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()
