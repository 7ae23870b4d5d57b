"""Issue 11, answers: every string of a whole answer and of every stream delta is screened,
per protocol; frames the gateway cannot parse end the stream with an error and are never
relayed. Assertions read every byte the client got with an independent reader."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply, split_bytes, sse
from tests.support.lexicon import BLOCK, MASK

from . import scripts
from .reveal import reveals

CHAT = "/v1/chat/completions"
RESP = "/v1/responses"
MSGS = "/v1/messages"


def chat_msg(**message: Any) -> dict:
    body = scripts.chat_json("ok")
    body["choices"][0]["message"] = {"role": "assistant", "content": None, **message}
    return body


@dataclass
class Whole:
    id: str
    path: str
    reply: Callable[[str], Any]  # term -> upstream JSON (or (bytes, content type))
    request: dict | None = None
    method: str = "POST"


def _req(path: str) -> dict:
    if path == MSGS:
        return {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    if path.startswith("/api/"):
        return {
            "model": "l",
            "stream": False,
            "messages": [{"role": "user", "content": "hi"}],
            "prompt": "p",
        }
    if path == RESP:
        return {"model": "m", "input": "hi"}
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


WHOLE = [
    Whole("chat-content-parts", CHAT, lambda t: chat_msg(content=[{"type": "text", "text": t}])),
    Whole("chat-reasoning", CHAT, lambda t: chat_msg(content="ok", reasoning=t)),
    Whole("chat-reasoning-content", CHAT, lambda t: chat_msg(content="ok", reasoning_content=t)),
    Whole("chat-refusal", CHAT, lambda t: chat_msg(refusal=t)),
    Whole(
        "chat-tool-call-name",
        CHAT,
        lambda t: chat_msg(
            tool_calls=[{"id": "c", "type": "function", "function": {"name": t, "arguments": "{}"}}]
        ),
    ),
    Whole(
        "chat-tool-args-duplicate-key",
        CHAT,
        lambda t: chat_msg(
            tool_calls=[
                {
                    "id": "c",
                    "type": "function",
                    "function": {"name": "f", "arguments": "".join(duplicate_key_args(t))},
                }
            ]
        ),
    ),
    Whole(
        "chat-content-duplicate-key",
        CHAT,
        lambda t: (
            b'{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,'
            b'"message":{"role":"assistant","content":"' + t.encode() + b'","content":"ok"},'
            b'"finish_reason":"stop"}]}',
            "application/json",
        ),
    ),
    Whole(
        "chat-tool-args-u-escaped",
        CHAT,
        lambda t: chat_msg(
            tool_calls=[
                {
                    "id": "c",
                    "type": "function",
                    "function": {"name": "f", "arguments": json.dumps({"q": t})},
                }
            ]
        ),
    ),
    Whole(
        "chat-legacy-function-call",
        CHAT,
        lambda t: chat_msg(function_call={"name": "f", "arguments": json.dumps({"q": t})}),
    ),
    Whole(
        "chat-audio-transcript",
        CHAT,
        lambda t: chat_msg(audio={"id": "a", "data": "", "transcript": t}),
    ),
    Whole(
        "chat-unknown-field", CHAT, lambda t: {**scripts.chat_json("ok"), "x_vendor": {"note": t}}
    ),
    Whole(
        "chat-logprobs",
        CHAT,
        lambda t: {
            **scripts.chat_json("ok"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                    "logprobs": {
                        "content": [{"token": t, "logprob": 0, "bytes": list(t.encode())}]
                    },
                }
            ],
        },
    ),
    Whole(
        "chat-error-in-200",
        CHAT,
        lambda t: {"error": {"message": f"bad {t}", "type": "x", "code": "y"}},
    ),
    Whole("completions-text", "/v1/completions", lambda t: scripts.completions_json(t)),
    Whole(
        "responses-reasoning-summary",
        RESP,
        lambda t: {
            **scripts.responses_json("ok"),
            "output": [
                {"type": "reasoning", "id": "r", "summary": [{"type": "summary_text", "text": t}]}
            ],
        },
    ),
    Whole(
        "responses-function-call",
        RESP,
        lambda t: {
            **scripts.responses_json("ok"),
            "output": [
                {
                    "type": "function_call",
                    "id": "f",
                    "call_id": "c",
                    "name": "f",
                    "arguments": json.dumps({"q": t}),
                }
            ],
        },
    ),
    Whole(
        "responses-output-text-convenience",
        RESP,
        lambda t: {**scripts.responses_json("ok"), "output_text": t},
    ),
    Whole(
        "anthropic-thinking",
        MSGS,
        lambda t: {
            **scripts.anthropic_json("ok"),
            "content": [{"type": "thinking", "thinking": t, "signature": "c2ln"}],
        },
    ),
    Whole(
        "anthropic-tool-use-input",
        MSGS,
        lambda t: {
            **scripts.anthropic_json("ok"),
            "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"q": t}}],
        },
    ),
    Whole(
        "anthropic-unknown-block",
        MSGS,
        lambda t: {
            **scripts.anthropic_json("ok"),
            "content": [{"type": "future", "payload": {"text": t}}],
        },
    ),
    Whole(
        "ollama-thinking",
        "/api/chat",
        lambda t: {
            **scripts.ollama_json("ok"),
            "message": {"role": "assistant", "content": "ok", "thinking": t},
        },
    ),
    Whole(
        "ollama-tool-calls",
        "/api/chat",
        lambda t: {
            **scripts.ollama_json("ok"),
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": {"q": t}}}],
            },
        },
    ),
    Whole("ollama-generate", "/api/generate", lambda t: scripts.ollama_json(t, chat=False)),
    Whole(
        "route-thread-messages",
        "/v1/threads/th/messages",
        lambda t: {"data": [{"content": [{"type": "text", "text": {"value": t}}]}]},
        method="GET",
    ),
    Whole(
        "route-file-content-jsonl",
        "/v1/files/f1/content",
        lambda t: (
            (
                json.dumps({"response": {"body": {"choices": [{"message": {"content": t}}]}}})
                + "\n"
            ).encode()
            * 2,
            "application/octet-stream",
        ),
        method="GET",
    ),
    Whole(
        "route-text-answer",
        "/v1/audio/transcriptions",
        lambda t: (f"听到{t}".encode(), "text/plain"),
    ),
    Whole(
        "route-ollama-show", "/api/show", lambda t: {"modelfile": f"SYSTEM {t}", "template": "x"}
    ),
]


def _script(fake: FakeUpstream, case: Whole, term: str) -> None:
    reply = case.reply(term)
    if isinstance(reply, tuple):
        fake.reply(case.path, Reply([reply[0]], content_type=reply[1]))
    else:
        fake.json(case.path, reply)


def _call(gateway: str, case: Whole) -> httpx.Response:
    if case.method == "GET":
        return httpx.get(gateway + case.path)
    return httpx.post(gateway + case.path, json=case.request or _req(case.path))


@pytest.mark.parametrize("case", WHOLE, ids=[c.id for c in WHOLE])
@pytest.mark.parametrize("term", [BLOCK, MASK], ids=["block", "mask"])
def test_whole_answers_never_reveal_the_term(
    case: Whole, term: str, fake: FakeUpstream, gateway: str
) -> None:
    _script(fake, case, f"答{term}了")
    r = _call(gateway, case)
    assert not reveals(r.content, term), r.text[:500]
    # logprobs are dropped; a key named twice keeps the parsed (last) value only, so the other
    # is dropped unscreened and the decision is the kept value's
    dropped = case.id == "chat-logprobs" or "duplicate" in case.id
    if term == MASK and r.status_code == 200 and not dropped:
        assert r.headers["x-aigc-decision"] in ("mask", "block")


def test_chat_choices_as_an_object_is_never_relayed(fake: FakeUpstream, gateway: str) -> None:
    body = scripts.chat_json("ok")
    body["choices"] = {"0": {"message": {"content": "anything"}}}
    fake.json(CHAT, body)
    r = httpx.post(gateway + CHAT, json=_req(CHAT))
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_invalid_response"
    assert "anything" not in r.text


def test_downloads_of_media_pass_and_unreadable_files_do_not(
    fake: FakeUpstream, gateway: str
) -> None:
    png = scripts.png_bytes()
    fake.reply("/v1/files/img/content", Reply([png], content_type="application/octet-stream"))
    r = httpx.get(gateway + "/v1/files/img/content")
    assert r.status_code == 200 and r.content == png and r.headers["content-type"] == "image/png"
    fake.reply(
        "/v1/files/doc/content", Reply([b"%PDF-1.4\n%%EOF\n"], content_type="application/pdf")
    )
    r = httpx.get(gateway + "/v1/files/doc/content")
    assert r.status_code == 502 and r.json()["error"]["code"] == "unscreenable_response"


def test_models_list_is_relayed_unscreened(fake: FakeUpstream, gateway: str) -> None:
    fake.json("/v1/models", {"object": "list", "data": [{"id": "m1", "object": "model"}]})
    r = httpx.get(gateway + "/v1/models/")
    assert r.status_code == 200 and r.headers["x-aigc-decision"] == "unscreened"
    assert fake.requests[-1].path == "/v1/models"


def test_n2_block_in_one_choice_keeps_the_other_whole(fake: FakeUpstream, gateway: str) -> None:
    body = scripts.chat_json("ok")
    body["choices"] = [
        {
            "index": 0,
            "message": {"role": "assistant", "content": f"坏{BLOCK}"},
            "finish_reason": "stop",
        },
        {"index": 1, "message": {"role": "assistant", "content": "好的"}, "finish_reason": "stop"},
    ]
    fake.json(CHAT, body)
    r = httpx.post(gateway + CHAT, json={**_req(CHAT), "n": 2})
    got = {c["index"]: c for c in r.json()["choices"]}
    assert got[0]["finish_reason"] == "content_filter" and got[0]["message"]["content"] == ""
    assert got[1]["finish_reason"] == "stop" and got[1]["message"]["content"].endswith("好的")
    assert BLOCK not in r.text


# -- streams ---------------------------------------------------------------------------------


def chunk(delta: dict, finish: str | None = None, index: int = 0, **extra: Any) -> bytes:
    return scripts.chat_chunk([{"index": index, "delta": delta, "finish_reason": finish, **extra}])


def chat_frames(make: Callable[[str], dict], pieces: list[str]) -> list[bytes]:
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk(make(p)) for p in pieces]
    return out + [chunk({}, "stop"), b"data: [DONE]\n\n"]


def tool_delta(field: str) -> Callable[[str], dict]:
    return lambda p: {"tool_calls": [{"index": 0, "function": {field: p}}]}


def escaped_args(term: str, levels: int = 0) -> list[str]:
    """Tool arguments holding the term \\u-escaped, as most SDKs send it; ``levels``: that
    many JSON documents nested inside strings of it, each escaped again."""
    value: Any = {"q": f"前{term}后"}
    for _ in range(levels):
        value = {"s": json.dumps(value)}
    raw = json.dumps(value)
    return [raw[i : i + 5] for i in range(0, len(raw), 5)]


def duplicate_key_args(term: str) -> list[str]:
    """Tool arguments naming one key twice: a last-wins parser reads the clean value, a
    first-wins reader (or the model's next turn) the term."""
    raw = json.dumps({"q": f"前{term}后"})[:-1] + ', "q": "ok"}'
    return [raw[i : i + 5] for i in range(0, len(raw), 5)]


def data_url_args(term: str) -> list[str]:
    """Tool arguments carrying the term in a base64 text data URL, in 7-character fragments."""
    url = "data:text/plain;base64," + base64.b64encode(f"前{term}后".encode()).decode()
    raw = json.dumps({"file": url})
    return [raw[i : i + 7] for i in range(0, len(raw), 7)]


@dataclass
class Stream:
    id: str
    path: str
    frames: Callable[[str], list[bytes]]
    content_type: str = "text/event-stream"


def _split(term: str) -> list[str]:
    return ["前", term[:2], term[2:], "后"]


def responses_events(kind: str, pieces: list[str], extra: dict | None = None) -> list[bytes]:
    seq = iter(range(100))
    out = [
        sse(
            {
                "type": "response.created",
                "sequence_number": next(seq),
                "response": scripts.responses_json("x") | {"status": "in_progress", "output": []},
            },
            "response.created",
        )
    ]
    for p in pieces:
        out.append(
            sse(
                {
                    "type": kind,
                    "sequence_number": next(seq),
                    "output_index": 0,
                    "summary_index": 0,
                    "delta": p,
                    **(extra or {}),
                },
                kind,
            )
        )
    out.append(
        sse(
            {
                "type": "response.completed",
                "sequence_number": next(seq),
                "response": scripts.responses_json("ok"),
            },
            "response.completed",
        )
    )
    return out


def anthropic_block(block: dict, deltas: list[dict]) -> list[bytes]:
    msg = scripts.anthropic_json("")
    msg["content"] = []
    out = [sse({"type": "message_start", "message": msg}, "message_start")]
    out.append(
        sse(
            {"type": "content_block_start", "index": 0, "content_block": block},
            "content_block_start",
        )
    )
    out += [
        sse({"type": "content_block_delta", "index": 0, "delta": d}, "content_block_delta")
        for d in deltas
    ]
    out += [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 1},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return out


def anthropic_tool_use(pieces: list[str]) -> list[bytes]:
    """A tool_use block whose input arrives as ``pieces`` of ``partial_json``."""
    return anthropic_block(
        {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        [{"type": "input_json_delta", "partial_json": p} for p in pieces],
    )


STREAMS = [
    Stream("chat-reasoning", CHAT, lambda t: chat_frames(lambda p: {"reasoning": p}, _split(t))),
    Stream(
        "chat-reasoning-content",
        CHAT,
        lambda t: chat_frames(lambda p: {"reasoning_content": p}, _split(t)),
    ),
    Stream("chat-refusal", CHAT, lambda t: chat_frames(lambda p: {"refusal": p}, _split(t))),
    Stream(
        "chat-audio-transcript",
        CHAT,
        lambda t: chat_frames(lambda p: {"audio": {"transcript": p}}, _split(t)),
    ),
    Stream(
        "chat-unknown-delta-field", CHAT, lambda t: chat_frames(lambda p: {"x_note": p}, _split(t))
    ),
    Stream("chat-tool-name", CHAT, lambda t: chat_frames(tool_delta("name"), [f"f{t}"])),
    Stream(
        "chat-tool-args-u-escaped",
        CHAT,
        lambda t: chat_frames(tool_delta("arguments"), escaped_args(t)),
    ),
    Stream(
        "chat-tool-args-nested-3",
        CHAT,
        lambda t: chat_frames(tool_delta("arguments"), escaped_args(t, 3)),
    ),
    Stream(
        "chat-tool-args-nested-12",
        CHAT,
        lambda t: chat_frames(tool_delta("arguments"), escaped_args(t, 12)),
    ),
    Stream(
        "chat-tool-args-data-url",
        CHAT,
        lambda t: chat_frames(tool_delta("arguments"), data_url_args(t)),
    ),
    Stream(
        "chat-tool-args-duplicate-key",
        CHAT,
        lambda t: chat_frames(tool_delta("arguments"), duplicate_key_args(t)),
    ),
    Stream(
        "anthropic-input-json-duplicate-key",
        MSGS,
        lambda t: anthropic_tool_use(duplicate_key_args(t)),
    ),
    Stream(
        "responses-function-args-duplicate-key",
        RESP,
        lambda t: responses_events(
            "response.function_call_arguments.delta", duplicate_key_args(t), {"item_id": "fc"}
        ),
    ),
    Stream(
        "anthropic-input-json-data-url",
        MSGS,
        lambda t: anthropic_tool_use(data_url_args(t)),
    ),
    Stream(
        "chat-legacy-function-call",
        CHAT,
        lambda t: chat_frames(lambda p: {"function_call": {"arguments": p}}, escaped_args(t)),
    ),
    Stream("completions-text", "/v1/completions", lambda t: scripts.completions_stream(_split(t))),
    Stream(
        "responses-reasoning-summary",
        RESP,
        lambda t: responses_events("response.reasoning_summary_text.delta", _split(t)),
    ),
    Stream(
        "responses-unknown-delta",
        RESP,
        lambda t: responses_events("response.future_text.delta", _split(t)),
    ),
    Stream(
        "responses-refusal",
        RESP,
        lambda t: responses_events("response.refusal.delta", _split(t), {"content_index": 0}),
    ),
    Stream(
        "anthropic-thinking",
        MSGS,
        lambda t: anthropic_block(
            {"type": "thinking", "thinking": ""},
            [{"type": "thinking_delta", "thinking": p} for p in _split(t)],
        ),
    ),
    Stream(
        "anthropic-input-json-u-escaped",
        MSGS,
        lambda t: anthropic_tool_use(escaped_args(t)),
    ),
    Stream(
        "responses-function-args-nested-4",
        RESP,
        lambda t: responses_events(
            "response.function_call_arguments.delta", escaped_args(t, 4), {"item_id": "fc"}
        ),
    ),
    Stream(
        "anthropic-input-json-nested-5",
        MSGS,
        lambda t: anthropic_tool_use(escaped_args(t, 5)),
    ),
    Stream(
        "anthropic-citations-delta",
        MSGS,
        lambda t: anthropic_block(
            {"type": "text", "text": ""},
            [
                {
                    "type": "citations_delta",
                    "citation": {"type": "char_location", "cited_text": f"引{t}"},
                }
            ],
        ),
    ),
    Stream(
        "ollama-thinking",
        "/api/chat",
        lambda t: (
            [
                (
                    json.dumps(
                        {
                            "model": "l",
                            "message": {"role": "assistant", "content": "", "thinking": p},
                            "done": False,
                        }
                    )
                    + "\n"
                ).encode()
                for p in _split(t)
            ]
            + [b'{"model":"l","message":{"role":"assistant","content":""},"done":true}\n']
        ),
        "application/x-ndjson",
    ),
    Stream(
        "generic-assistants-run",
        "/v1/threads/runs",
        lambda t: (
            [
                sse(
                    {
                        "id": "m",
                        "object": "thread.message.delta",
                        "delta": {"content": [{"index": 0, "type": "text", "text": {"value": p}}]},
                    },
                    "thread.message.delta",
                )
                for p in _split(t)
            ]
            + [
                sse(
                    {
                        "id": "m",
                        "object": "thread.message",
                        "content": [{"type": "text", "text": {"value": f"前{t}后"}}],
                    },
                    "thread.message.completed",
                )
            ]
            + [b"event: done\ndata: [DONE]\n\n"]
        ),
    ),
]


def _stream_request(path: str) -> dict:
    body = _req(path)
    if not path.startswith("/api/"):
        body["stream"] = True
    return body


@pytest.mark.parametrize("case", STREAMS, ids=[c.id for c in STREAMS])
@pytest.mark.parametrize("term", [BLOCK, MASK], ids=["block", "mask"])
def test_streams_never_reveal_the_term(
    case: Stream, term: str, fake: FakeUpstream, gateway: str
) -> None:
    frames = case.frames(term)
    fake.stream(case.path, split_bytes(b"".join(frames), 5), content_type=case.content_type)
    with httpx.stream("POST", gateway + case.path, json=_stream_request(case.path)) as r:
        raw = r.read()
    assert r.status_code == 200, raw[:300]
    assert not reveals(raw, term), raw.decode()[-800:]
    assert raw  # something was delivered (the stream ended the protocol's way)


BAD_FRAMES = [
    ("invalid-json-after-data", b'data: {"choices": [\n\n'),
    ("non-json-data", b"data: hello there\n\n"),
    ("line-without-data", b"hello there\n\n"),
    (
        "delta-content-list",
        scripts.chat_chunk(
            [
                {
                    "index": 0,
                    "delta": {"content": [{"type": "text", "text": "x"}]},
                    "finish_reason": None,
                }
            ]
        ),
    ),
    (
        "message-in-chunk",
        scripts.chat_chunk([{"index": 0, "message": {"content": "x"}, "finish_reason": None}]),
    ),
    ("event-without-data", b"event: oops\n\n"),
    ("choices-object", sse({"id": "c", "choices": {"0": {"delta": {"content": "x"}}}})),
]


@pytest.mark.parametrize("name,bad", BAD_FRAMES, ids=[n for n, _ in BAD_FRAMES])
def test_unparseable_frames_end_the_stream_with_an_error(
    name: str, bad: bytes, fake: FakeUpstream, gateway: str
) -> None:
    frames = [chunk({"role": "assistant", "content": ""}), chunk({"content": "开头"}), bad]
    frames += [chunk({"content": "之后的内容"}), chunk({}, "stop"), b"data: [DONE]\n\n"]
    fake.stream(CHAT, frames)
    with httpx.stream("POST", gateway + CHAT, json=_stream_request(CHAT)) as r:
        raw = r.read()
    events = [e for e in raw.split(b"\n\n") if e]
    assert events[-1].startswith(b'data: {"error"') and b"upstream_invalid_stream" in events[-1]
    assert bad.strip() not in raw and "之后的内容".encode() not in raw and b"[DONE]" not in raw
    assert "开头".encode() in raw


def test_anthropic_unparseable_frame_ends_with_an_error_event(
    fake: FakeUpstream, gateway: str
) -> None:
    frames = anthropic_block({"type": "text", "text": ""}, [{"type": "text_delta", "text": "开头"}])
    frames.insert(3, b"event: content_block_delta\ndata: {broken\n\n")
    fake.stream(MSGS, frames)
    with httpx.stream("POST", gateway + MSGS, json=_stream_request(MSGS)) as r:
        raw = r.read()
    assert raw.split(b"\n\n")[-2].startswith(b"event: error") and b"{broken" not in raw
    assert b"message_stop" not in raw


def test_ollama_unparseable_line_ends_with_an_error_line(fake: FakeUpstream, gateway: str) -> None:
    lines = scripts.ollama_stream(["开头", "x"])
    lines.insert(1, b"not json at all\n")
    fake.stream("/api/chat", lines, content_type="application/x-ndjson")
    with httpx.stream("POST", gateway + "/api/chat", json={"model": "l", "messages": []}) as r:
        got = [json.loads(line) for line in r.iter_lines() if line]
    assert got[-1]["code"] == "upstream_invalid_stream" and not any(g.get("done") for g in got)


def test_block_cuts_the_upstream_for_every_protocol(fake: FakeUpstream, gateway: str) -> None:
    fake.stream(MSGS, scripts.anthropic_stream(["好", BLOCK, "坏"])[:-3], endless=True)
    with httpx.stream("POST", gateway + MSGS, json=_stream_request(MSGS)) as r:
        raw = r.read()
    assert b'"stop_reason":"refusal"' in raw and raw.endswith(
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    assert fake.cancelled.wait(5)


def test_base64_text_in_an_answer_is_decoded(fake: FakeUpstream, gateway: str) -> None:
    payload = base64.b64encode((BLOCK * 30).encode()).decode()
    fake.json(CHAT, chat_msg(content="ok", audio={"id": "a", "data": payload, "transcript": "t"}))
    r = httpx.post(gateway + CHAT, json=_req(CHAT))
    assert not reveals(r.content, BLOCK)
    assert r.json()["choices"][0]["finish_reason"] == "content_filter"


def test_streamed_images_are_not_relayed_unlabeled(fake: FakeUpstream, gateway: str) -> None:
    png = base64.b64encode(scripts.png_bytes()).decode()
    event = {"type": "image_generation.partial_image", "b64_json": png, "partial_image_index": 0}
    fake.stream("/v1/images/generations", [sse(event, "image_generation.partial_image")])
    r = httpx.post(
        gateway + "/v1/images/generations", json={"model": "i", "prompt": "猫", "stream": True}
    )
    assert r.status_code == 502 and r.json()["error"]["code"] == "label_failed"
    assert png not in r.text


@pytest.mark.parametrize("levels", [9, 20])
def test_answer_json_nested_in_strings_past_the_limit_is_not_relayed(
    levels: int, fake: FakeUpstream, gateway: str
) -> None:
    args: Any = {"q": BLOCK}
    for _ in range(levels):
        args = {"s": json.dumps(args)}
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": json.dumps(args)}}
    fake.json(CHAT, chat_msg(tool_calls=[call]))
    r = httpx.post(
        gateway + CHAT, json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert r.status_code == 502 and r.json()["error"]["code"] == "unscreenable_response", r.text
    assert not reveals(r.content, BLOCK)


@pytest.mark.parametrize("levels", [0, 3, 12])
@pytest.mark.parametrize("term", [BLOCK, MASK], ids=["block", "mask"])
def test_json_mode_content_streams_never_reveal_an_escaped_term(
    levels: int, term: str, fake: FakeUpstream, gateway: str
) -> None:
    """Content in JSON mode is displayed as it streams; JSON nested in its strings is read
    with every escape decoded before it is released."""
    fake.stream(CHAT, chat_frames(lambda p: {"content": p}, escaped_args(term, levels)))
    body = {**_stream_request(CHAT), "response_format": {"type": "json_object"}}
    with httpx.stream("POST", gateway + CHAT, json=body) as r:
        raw = r.read()
    assert r.status_code == 200, raw[:300]
    assert not reveals(raw, term), raw.decode()[-800:]


@pytest.mark.parametrize("codec", ["gb18030", "utf-16"])
def test_text_answers_in_other_encodings_are_screened(
    codec: str, fake: FakeUpstream, gateway: str
) -> None:
    path = "/v1/some/download"
    body = f"答{BLOCK}了".encode(codec)
    fake.reply(path, Reply([body], content_type=f"text/plain; charset={codec}"))
    r = httpx.get(gateway + path)
    assert r.status_code == 403, r.text
    fake.reply(path, Reply([f"答{MASK}了".encode(codec)], content_type="text/plain"))
    r = httpx.get(gateway + path)
    assert r.status_code == 200
    assert r.content.decode(codec) == "答****了"
    assert codec in r.headers["content-type"]
