"""Issue 11, requests: every hostile shape found on loopback (and the next variants), per
protocol. A blocked term never reaches the recording fake upstream; a masked one arrives
masked; a shape the protocol forbids is a 400 in its envelope and is never forwarded."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.lexicon import BLOCK, MASK

from . import scripts
from .reveal import reveals

CHAT = "/v1/chat/completions"
RESP = "/v1/responses"
MSGS = "/v1/messages"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def chat(*messages: dict, **extra: Any) -> dict:
    return {
        "model": "m",
        "messages": list(messages) or [{"role": "user", "content": "hi"}],
        **extra,
    }


def user(content: Any, **extra: Any) -> dict:
    return {"role": "user", "content": content, **extra}


def tool(description: str = "d", prop: str = "q", prop_description: str = "p") -> dict:
    return {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {prop: {"type": "string", "description": prop_description}},
            },
        },
    }


@dataclass
class Case:
    id: str
    path: str
    body: Callable[[str], Any]  # term -> JSON body
    invalid: bool = False  # the protocol forbids the shape: 400 for any term


CASES = [
    # -- OpenAI Chat: shapes the issue found ------------------------------------------------
    Case("chat-messages-string", CHAT, lambda t: {"model": "m", "messages": t}, invalid=True),
    Case("chat-messages-object", CHAT, lambda t: {"model": "m", "messages": user(t)}, invalid=True),
    Case("chat-content-object", CHAT, lambda t: chat(user({"text": t})), invalid=True),
    Case(
        "chat-text-list", CHAT, lambda t: chat(user([{"type": "text", "text": [t]}])), invalid=True
    ),
    Case("chat-part-unknown-type", CHAT, lambda t: chat(user([{"type": "weird", "text": t}]))),
    Case(
        "chat-text-beside-image",
        CHAT,
        lambda t: chat(
            user([{"type": "image_url", "image_url": {"url": "http://x/a.png"}, "text": t}])
        ),
    ),
    Case("chat-tool-description", CHAT, lambda t: chat(tools=[tool(description=t)])),
    Case("chat-tool-param-description", CHAT, lambda t: chat(tools=[tool(prop_description=t)])),
    Case("chat-tool-param-name", CHAT, lambda t: chat(tools=[tool(prop=t)])),
    Case(
        "chat-legacy-function-call",
        CHAT,
        lambda t: chat(
            {"role": "assistant", "function_call": {"name": "f", "arguments": json.dumps({"q": t})}}
        ),
    ),
    Case(
        "chat-tool-call-arguments-u-escaped",
        CHAT,
        lambda t: chat(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": json.dumps({"q": t})},
                    }
                ],
            }
        ),
    ),
    Case("chat-top-level-system", CHAT, lambda t: chat(system=t)),
    Case("chat-message-name", CHAT, lambda t: chat(user("hi", name=t))),
    Case("chat-prediction", CHAT, lambda t: chat(prediction={"type": "content", "content": t})),
    Case(
        "chat-response-format-schema",
        CHAT,
        lambda t: chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": {"type": "object", "description": t}},
            }
        ),
    ),
    Case("chat-metadata", CHAT, lambda t: chat(metadata={"note": t})),
    Case(
        "chat-file-data-url",
        CHAT,
        lambda t: chat(
            user(
                [
                    {
                        "type": "file",
                        "file": {
                            "filename": "a.txt",
                            "file_data": f"data:text/plain;base64,{b64(t)}",
                        },
                    }
                ]
            )
        ),
    ),
    Case(
        "chat-image-url-hiding-text",
        CHAT,
        lambda t: chat(
            user([{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(t)}"}}])
        ),
    ),
    Case(
        "chat-input-audio-hiding-text",
        CHAT,
        lambda t: chat(
            user([{"type": "input_audio", "input_audio": {"data": b64(t * 30), "format": "wav"}}])
        ),
    ),
    Case("chat-unknown-key-named-term", CHAT, lambda t: chat(**{t: 1})),
    Case("chat-model-is-text", CHAT, lambda t: {"model": t, "messages": [user("hi")]}),
    Case("chat-role-is-text", CHAT, lambda t: chat({"role": t, "content": "hi"})),
    Case("chat-user-is-text", CHAT, lambda t: chat(user=t)),
    Case(
        "chat-term-split-over-parts",
        CHAT,
        lambda t: chat(user([{"type": "text", "text": t[:2]}, {"type": "text", "text": t[2:]}])),
    ),
    Case(
        "chat-tool-result-parts",
        CHAT,
        lambda t: chat(
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": t}]}
        ),
    ),
    Case(
        "chat-json-in-string", CHAT, lambda t: chat(user(json.dumps({"nested": json.dumps([t])})))
    ),
    Case("chat-stop-sequences", CHAT, lambda t: chat(stop=[t])),
    # -- OpenAI Completions, Embeddings, Images, Speech -------------------------------------
    Case(
        "completions-nested-prompt",
        "/v1/completions",
        lambda t: {"model": "m", "prompt": [["a", t]]},
    ),
    Case(
        "completions-suffix",
        "/v1/completions",
        lambda t: {"model": "m", "prompt": "a", "suffix": t},
    ),
    Case(
        "completions-prompt-object",
        "/v1/completions",
        lambda t: {"model": "m", "prompt": {"t": t}},
        invalid=True,
    ),
    Case("embeddings-nested", "/v1/embeddings", lambda t: {"model": "e", "input": [["a", t]]}),
    Case("images-prompt", "/v1/images/generations", lambda t: {"model": "i", "prompt": t}),
    Case(
        "speech-instructions",
        "/v1/audio/speech",
        lambda t: {"model": "s", "input": "hi", "voice": "v", "instructions": t},
    ),
    # -- OpenAI Responses -------------------------------------------------------------------
    Case(
        "responses-instructions", RESP, lambda t: {"model": "m", "input": "hi", "instructions": t}
    ),
    Case(
        "responses-input-file",
        RESP,
        lambda t: {
            "model": "m",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "input_file",
                            "filename": "a.txt",
                            "file_data": f"data:text/plain;base64,{b64(t)}",
                        }
                    ],
                }
            ],
        },
    ),
    Case(
        "responses-tool-description",
        RESP,
        lambda t: {
            "model": "m",
            "input": "hi",
            "tools": [{"type": "function", "name": "f", "description": t, "parameters": {}}],
        },
    ),
    Case(
        "responses-function-output",
        RESP,
        lambda t: {
            "model": "m",
            "input": [{"type": "function_call_output", "call_id": "c", "output": t}],
        },
    ),
    Case(
        "responses-input-object", RESP, lambda t: {"model": "m", "input": {"text": t}}, invalid=True
    ),
    # -- Anthropic Messages -----------------------------------------------------------------
    Case(
        "anthropic-document-text-source",
        MSGS,
        lambda t: {
            "model": "c",
            "max_tokens": 5,
            "messages": [
                user(
                    [
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": t},
                        }
                    ]
                )
            ],
        },
    ),
    Case(
        "anthropic-document-base64-text",
        MSGS,
        lambda t: {
            "model": "c",
            "max_tokens": 5,
            "messages": [
                user(
                    [
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "text/plain",
                                "data": b64(t * 20),
                            },
                        }
                    ]
                )
            ],
        },
    ),
    Case(
        "anthropic-system-blocks",
        MSGS,
        lambda t: {
            "model": "c",
            "max_tokens": 5,
            "system": [{"type": "text", "text": t}],
            "messages": [user("hi")],
        },
    ),
    Case(
        "anthropic-tool-use-input",
        MSGS,
        lambda t: {
            "model": "c",
            "max_tokens": 5,
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"q": [t]}}],
                }
            ],
        },
    ),
    Case(
        "anthropic-tool-description",
        MSGS,
        lambda t: {
            "model": "c",
            "max_tokens": 5,
            "messages": [user("hi")],
            "tools": [{"name": "f", "description": t, "input_schema": {}}],
        },
    ),
    Case(
        "anthropic-system-number",
        MSGS,
        lambda t: {"model": "c", "max_tokens": 5, "system": 5, "messages": [user(t)]},
        invalid=True,
    ),
    # -- Ollama -----------------------------------------------------------------------------
    Case(
        "ollama-chat", "/api/chat", lambda t: {"model": "l", "stream": False, "messages": [user(t)]}
    ),
    Case(
        "ollama-images-hiding-text",
        "/api/chat",
        lambda t: {"model": "l", "stream": False, "messages": [user("hi", images=[b64(t * 30)])]},
    ),
    Case(
        "ollama-generate-template",
        "/api/generate",
        lambda t: {"model": "l", "stream": False, "prompt": "p", "template": t},
    ),
    Case("ollama-embed", "/api/embed", lambda t: {"model": "l", "input": ["a", t]}),
    Case("ollama-embeddings", "/api/embeddings", lambda t: {"model": "l", "prompt": t}),
    # -- routes the issue found unscreened --------------------------------------------------
    Case("route-trailing-slash", CHAT + "/", lambda t: chat(user(t))),
    Case("route-double-slash", "/v1//chat/completions", lambda t: chat(user(t))),
    Case("route-case", "/v1/Chat/Completions", lambda t: chat(user(t))),
    Case("route-percent", "/v1/chat/%63ompletions", lambda t: chat(user(t))),
    Case("route-dot-segments", "/v1/x/../chat/./completions", lambda t: chat(user(t))),
    Case("route-deployment", "/v1/deployments/gpt4/chat/completions", lambda t: chat(user(t))),
    Case(
        "route-azure",
        "/openai/deployments/gpt4/chat/completions?api-version=2024-10-21",
        lambda t: chat(user(t)),
    ),
    Case("route-assistants", "/v1/assistants", lambda t: {"model": "m", "instructions": t}),
    Case(
        "route-thread-messages",
        "/v1/threads/th_1/messages",
        lambda t: {"role": "user", "content": t},
    ),
    Case("route-batches", "/v1/batches", lambda t: {"input_file_id": "f", "metadata": {"n": t}}),
    Case("route-unknown-vendor", "/v1/some/new/thing", lambda t: {"deep": [{"x": {"y": t}}]}),
    Case("route-query-string", "/v1/some/thing?q=" + "%E6%9C%BA", lambda t: {"a": t}),
]

_FORWARDED = {
    CHAT: "/v1/chat/completions",
    CHAT + "/": "/v1/chat/completions",
    "/v1//chat/completions": "/v1/chat/completions",
    "/v1/Chat/Completions": "/v1/chat/completions",
    "/v1/chat/%63ompletions": "/v1/chat/completions",
    "/v1/x/../chat/./completions": "/v1/chat/completions",
}


def _reply(fake: FakeUpstream, path: str) -> None:
    forwarded = _FORWARDED.get(path, path.split("?")[0])
    if forwarded.endswith("chat/completions"):
        fake.json(forwarded, scripts.chat_json("fine"))
    elif forwarded == "/v1/completions":
        fake.json(forwarded, scripts.completions_json("fine"))
    elif forwarded == RESP:
        fake.json(forwarded, scripts.responses_json("fine"))
    elif forwarded == MSGS:
        fake.json(forwarded, scripts.anthropic_json("fine"))
    elif forwarded in ("/api/chat", "/api/generate"):
        fake.json(forwarded, scripts.ollama_json("fine", chat=forwarded == "/api/chat"))
    elif forwarded == "/v1/audio/speech":
        fake.reply(forwarded, Reply([scripts.wav_bytes()], content_type="audio/wav"))
    elif forwarded == "/v1/images/generations":
        fake.json(forwarded, {"created": 1, "data": []})
    else:
        fake.json(forwarded, {"object": "ok", "data": [{"embedding": [0.1], "index": 0}]})


def _post(gateway: str, path: str, body: Any) -> httpx.Response:
    return httpx.post(
        gateway + path, content=json.dumps(body), headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_blocked_term_never_reaches_the_upstream(
    case: Case, fake: FakeUpstream, gateway: str
) -> None:
    r = _post(gateway, case.path, case.body(f"请{BLOCK}吧"))
    assert r.status_code == 400, r.text
    code = r.json().get("error", {}) if "error" in r.json() else {}
    got = (code.get("code") if isinstance(code, dict) else r.json().get("code")) or r.text
    assert got == ("invalid_request" if case.invalid else "content_policy_violation"), r.text
    assert fake.requests == []


@pytest.mark.parametrize("case", [c for c in CASES if not c.invalid], ids=lambda c: c.id)
def test_masked_term_arrives_masked(case: Case, fake: FakeUpstream, gateway: str) -> None:
    _reply(fake, case.path)
    r = _post(gateway, case.path, case.body(f"代号{MASK}。"))
    assert fake.requests, r.text
    sent = fake.requests[-1]
    assert not reveals(sent.body, MASK), sent.body[:400]
    assert reveals(sent.body, "****"), sent.body[:400]
    assert r.headers["x-aigc-decision"] == "mask", r.text
    if case.path in _FORWARDED:
        assert sent.path == "/v1/chat/completions"


@pytest.mark.parametrize("case", [c for c in CASES if c.invalid], ids=lambda c: c.id)
def test_invalid_shapes_are_refused_in_the_protocol_envelope(
    case: Case, fake: FakeUpstream, gateway: str
) -> None:
    r = _post(gateway, case.path, case.body("hello"))
    assert r.status_code == 400 and fake.requests == []
    body = r.json()
    if case.path == MSGS:
        assert body["type"] == "error" and body["error"]["code"] == "invalid_request"
    else:
        assert body["error"]["code"] == "invalid_request" and body["error"]["param"]


def test_duplicate_keys_cannot_smuggle_text(fake: FakeUpstream, gateway: str) -> None:
    """The upstream receives what was screened, never the raw bytes with a second value."""
    _reply(fake, CHAT)
    raw = '{"model":"m","messages":[{"role":"user","content":"TERM","content":"hi"}]}'
    raw = raw.replace("TERM", BLOCK)
    r = httpx.post(
        gateway + CHAT, content=raw.encode(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 200
    assert not reveals(fake.requests[-1].body, BLOCK)


def test_documents_the_gateway_cannot_read_are_refused(fake: FakeUpstream, gateway: str) -> None:
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    body = chat(
        user(
            [
                {
                    "type": "file",
                    "file": {
                        "filename": "a.pdf",
                        "file_data": "data:application/pdf;base64,"
                        + base64.b64encode(pdf).decode(),
                    },
                }
            ]
        )
    )
    r = _post(gateway, CHAT, body)
    assert r.status_code == 415 and r.json()["error"]["code"] == "unscreenable_file"
    assert fake.requests == []


def test_media_on_a_route_that_takes_none_is_refused(fake: FakeUpstream, gateway: str) -> None:
    png = base64.b64encode(scripts.png_bytes()).decode()
    r = _post(gateway, "/v1/completions", {"model": "m", "prompt": f"data:image/png;base64,{png}"})
    assert r.status_code == 415 and fake.requests == []
    _reply(fake, CHAT)
    r = _post(
        gateway,
        CHAT,
        chat(user([{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}])),
    )
    assert r.status_code == 200 and fake.requests  # chat takes images


def test_multipart_upload_of_batch_jsonl_is_screened(fake: FakeUpstream, gateway: str) -> None:
    line = {"custom_id": "1", "method": "POST", "url": CHAT, "body": chat(user(f"代号{MASK}"))}
    jsonl = (json.dumps(line, ensure_ascii=True) + "\n") * 2
    fake.json("/v1/files", {"id": "file-1", "object": "file"})
    r = httpx.post(
        gateway + "/v1/files",
        data={"purpose": "batch"},
        files={"file": ("batch.jsonl", jsonl.encode(), "application/jsonl")},
    )
    assert r.status_code == 200, r.text
    assert not reveals(fake.requests[-1].body, MASK) and reveals(fake.requests[-1].body, "****")

    fake.requests.clear()
    blocked = jsonl.replace(json.dumps(MASK)[1:-1], json.dumps(BLOCK)[1:-1])
    r = httpx.post(
        gateway + "/v1/files",
        data={"purpose": f"batch {BLOCK}"[:5]},
        files={"file": ("batch.jsonl", blocked.encode(), "application/octet-stream")},
    )
    assert r.status_code == 400 and fake.requests == []


def test_transcription_upload_takes_audio_and_screens_its_fields(
    fake: FakeUpstream, gateway: str
) -> None:
    path = "/v1/audio/transcriptions"
    r = httpx.post(
        gateway + path,
        data={"model": "whisper-1", "prompt": f"上文{BLOCK}"},
        files={"file": ("a.wav", scripts.wav_bytes(), "audio/wav")},
    )
    assert r.status_code == 400 and fake.requests == []
    fake.json(path, {"text": f"听到了{MASK}"})
    r = httpx.post(
        gateway + path,
        data={"model": "whisper-1"},
        files={"file": ("a.wav", scripts.wav_bytes(), "audio/wav")},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"text": "听到了****"}
    assert scripts.wav_bytes() in fake.requests[-1].body  # the audio passed as it was


def test_form_bodies_and_plain_text_are_screened(fake: FakeUpstream, gateway: str) -> None:
    r = httpx.post(gateway + "/v1/some/form", data={"q": BLOCK})
    assert r.status_code == 400 and fake.requests == []
    r = httpx.post(
        gateway + "/v1/some/text", content=BLOCK.encode(), headers={"content-type": "text/plain"}
    )
    assert r.status_code == 400 and fake.requests == []
    r = httpx.post(
        gateway + "/v1/some/bin",
        content=b"\x00\x01\x02" * 50,
        headers={"content-type": "application/octet-stream"},
    )
    assert r.status_code == 415 and fake.requests == []


def test_refuse_mode_refuses_every_other_route(make_gateway: Any, fake: FakeUpstream) -> None:
    with make_gateway(proxy={"passthrough": "refuse"}) as base:
        r = httpx.post(base + "/v1/assistants", json={"model": "m"})
        assert r.status_code == 404
        r = httpx.post(base + "/v1/Chat/Completions/", json=chat(user(BLOCK)))
        assert r.status_code == 400  # protocol routes are still served (and screened)
    assert fake.requests == []


def test_bad_paths_are_refused(fake: FakeUpstream, gateway: str) -> None:
    r = httpx.post(gateway + "/v1/chat/%ff%fe", json=chat())
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_path"
    assert fake.requests == []


def test_compressed_request_bodies_are_refused(fake: FakeUpstream, gateway: str) -> None:
    import gzip

    body = gzip.compress(json.dumps(chat(user(BLOCK))).encode())
    r = httpx.post(
        gateway + CHAT,
        content=body,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert r.status_code == 415 and r.json()["error"]["code"] == "encoded_body"
    assert fake.requests == []


def test_text_in_a_generic_path_is_screened(fake: FakeUpstream, gateway: str) -> None:
    r = httpx.get(gateway + f"/v1/search/{BLOCK}")
    assert r.status_code == 400 and fake.requests == []
    fake.json("/v1/search/代号****", {"ok": True})
    r = httpx.get(gateway + f"/v1/search/代号{MASK}")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert fake.requests and MASK not in fake.requests[-1].path and "****" in fake.requests[-1].path


def _nested_in_strings(levels: int) -> dict:
    """The term \\u-escaped in a JSON document nested ``levels`` deep inside strings."""
    value: Any = {"t": BLOCK}
    for _ in range(levels):
        value = {"s": json.dumps(value)}
    return value


@pytest.mark.parametrize("levels", [1, 8])
@pytest.mark.parametrize("path", [CHAT, "/v1/some/thing"])
def test_json_nested_in_strings_is_opened(
    levels: int, path: str, fake: FakeUpstream, gateway: str
) -> None:
    r = httpx.post(gateway + path, json=chat(user("hi"), metadata=_nested_in_strings(levels)))
    assert r.status_code == 400 and "content_policy_violation" in r.text, r.text
    assert fake.requests == []


@pytest.mark.parametrize("levels", [9, 20])
@pytest.mark.parametrize("path", [CHAT, "/v1/some/thing"])
def test_json_nested_in_strings_past_the_limit_is_refused(
    levels: int, path: str, fake: FakeUpstream, gateway: str
) -> None:
    """Past 8 levels the gateway does not decode further; it refuses instead of forwarding
    text whose escapes it did not read."""
    r = httpx.post(gateway + path, json=chat(user("hi"), metadata=_nested_in_strings(levels)))
    assert r.status_code == 400 and r.json()["error"]["code"] == "nested_too_deep", r.text
    assert fake.requests == []


@pytest.mark.parametrize(
    ("depth", "code"),
    [(120, "content_policy_violation"), (129, "nested_too_deep"), (1000, "nested_too_deep")],
)
@pytest.mark.parametrize("path", [CHAT, "/v1/some/thing"])
def test_deeply_nested_arrays_are_screened_or_refused(
    depth: int, code: str, path: str, fake: FakeUpstream, gateway: str
) -> None:
    """JSON nested past the walker's limit is refused with a clear error (not a 500)."""
    deep = "[" * depth + json.dumps(BLOCK) + "]" * depth
    raw = '{"model":"m","messages":[{"role":"user","content":"hi"}],"x":' + deep + "}"
    r = httpx.post(
        gateway + path, content=raw.encode(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    assert fake.requests == []


def _upload(gateway: str, data: bytes, content_type: str) -> httpx.Response:
    return httpx.post(
        gateway + "/v1/files",
        data={"purpose": "assistants"},
        files={"file": ("a.txt", data, content_type)},
    )


@pytest.mark.parametrize(
    ("codec", "content_type"),
    [
        ("utf-16", "text/plain"),  # a byte order mark says which
        ("utf-32", "text/plain"),
        ("utf-16-le", "text/plain; charset=utf-16-le"),  # no mark, declared
        ("gb18030", "text/plain"),  # GBK/GB2312 files, undeclared
        ("big5", "text/plain; charset=big5"),
    ],
)
def test_text_files_in_other_encodings_are_screened(
    codec: str, content_type: str, fake: FakeUpstream, gateway: str
) -> None:
    fake.json("/v1/files", {"id": "file-1", "object": "file"})
    r = _upload(gateway, f"請{BLOCK}吧".encode(codec), content_type)
    assert r.status_code == 400 and "content_policy_violation" in r.text, r.text
    assert fake.requests == []


@pytest.mark.parametrize("codec", ["utf-16", "gb18030"])
def test_text_data_urls_in_other_encodings_are_screened(
    codec: str, fake: FakeUpstream, gateway: str
) -> None:
    data = base64.b64encode(f"请{BLOCK}".encode(codec)).decode()
    part = {"filename": "a.txt", "file_data": f"data:text/plain;charset={codec};base64,{data}"}
    r = httpx.post(gateway + CHAT, json=chat(user([{"type": "file", "file": part}])))
    assert r.status_code == 400 and "content_policy_violation" in r.text, r.text
    assert fake.requests == []


def test_a_masked_text_file_keeps_its_encoding(fake: FakeUpstream, gateway: str) -> None:
    fake.json("/v1/files", {"id": "file-1", "object": "file"})
    r = _upload(gateway, f"请{MASK}吧".encode("gb18030"), "text/plain")
    assert r.status_code == 200, r.text
    assert "请****吧".encode("gb18030") in fake.requests[-1].body


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (f"请{BLOCK}".encode("utf-16-le"), "text/plain"),  # no mark, not declared: unknown bytes
        ("café".encode(), "text/plain; charset=gb18030"),  # reads as two different texts
        (bytes(range(256)) * 4, "application/octet-stream"),
    ],
)
def test_files_of_unknown_or_ambiguous_text_are_refused(
    data: bytes, content_type: str, fake: FakeUpstream, gateway: str
) -> None:
    r = _upload(gateway, data, content_type)
    assert r.status_code == 415 and r.json()["error"]["code"] == "unscreenable_file", r.text
    assert fake.requests == []


@pytest.mark.parametrize(
    ("path", "content"),
    [
        (
            "/v1/responses",
            [{"type": "input_file", "file_url": "https://example.com/a.txt"}],
        ),
        (
            "/v1/messages",
            [{"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}],
        ),
        (CHAT, [{"type": "file", "file": {"file_url": "https://example.com/a.txt"}}]),
        ("/v1/some/thing", [{"file_data": {"file_uri": "gs://bucket/a.txt"}}]),
        (CHAT, [{"type": "document_url", "document_url": "https://example.com/a.pdf"}]),
    ],
)
def test_documents_given_by_url_are_refused(
    path: str, content: list, fake: FakeUpstream, gateway: str
) -> None:
    """The model API would fetch them: text the gateway cannot read."""
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": content}]}
    if path == "/v1/responses":
        body = {"model": "m", "input": [{"role": "user", "content": content}]}
    r = httpx.post(gateway + path, json=body)
    assert r.status_code == 415 and "unscreenable_file" in r.text, r.text
    assert fake.requests == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/responses",
            {
                "model": "m",
                "input": "hi",
                "tools": [{"type": "mcp", "server_label": "s", "server_url": "https://x/mcp"}],
            },
        ),
        (
            "/v1/responses",
            {"model": "m", "input": "hi", "tools": [{"type": "mcp", "connector_id": "drive"}]},
        ),
        (
            "/v1/messages",
            {
                "model": "c",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
                "mcp_servers": [{"type": "url", "url": "https://x/mcp", "name": "s"}],
            },
        ),
    ],
)
def test_remote_mcp_servers_are_refused(
    path: str, body: dict, fake: FakeUpstream, gateway: str
) -> None:
    """The model API would call them and read their output: text the gateway never sees."""
    r = httpx.post(gateway + path, json=body)
    assert r.status_code == 400 and "unscreenable_tool" in r.text, r.text
    assert fake.requests == []
    del body["tools" if "tools" in body else "mcp_servers"]
    fake.json(
        path, scripts.responses_json("ok") if "responses" in path else scripts.anthropic_json("ok")
    )
    assert httpx.post(gateway + path, json=body).status_code == 200


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_model_paths_that_are_not_ids_are_screened(
    method: str, fake: FakeUpstream, gateway: str
) -> None:
    """``/v1/models/<id>`` is on the no-text allow-list only when the id is an identifier."""
    fake.json("/v1/models/gpt-4o", {"id": "gpt-4o", "object": "model"})
    assert httpx.request(method, gateway + "/v1/models/gpt-4o").status_code == 200
    r = httpx.request(method, gateway + f"/v1/models/请{BLOCK}")
    assert r.status_code == 400
    assert [q.path for q in fake.requests] == ["/v1/models/gpt-4o"]
