"""Issue 11, the next variants a reviewer tries at the transport level: text in the query string
of any method, answers with a content encoding or a content type the protocol does not use,
requests with an unexpected content type, method, encoding or path spelling, SSE fields other
than ``data``, upstream headers. None gets a blocked term through."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.lexicon import BLOCK

from . import scripts
from .reveal import reveals

CHAT = "/v1/chat/completions"
PROMPT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("path", ["/v1/some/thing", "/api/generate", CHAT, "/v1/files/f1/content"])
def test_text_in_the_query_string_is_screened_on_every_method(
    method: str, path: str, fake: FakeUpstream, gateway: str
) -> None:
    fake.json(path, {"object": "ok"})
    body = json.dumps(PROMPT) if method == "POST" else None
    r = httpx.request(
        method,
        f"{gateway}{path}?q={quote('请' + BLOCK + '吧')}",
        content=body,
        headers={"content-type": "application/json"} if body else {},
    )
    assert r.status_code == 400, r.text
    assert "content_policy_violation" in r.text
    assert fake.requests == []


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "x-unknown"])
def test_answers_with_a_content_encoding_never_reveal_the_term(
    encoding: str, fake: FakeUpstream, gateway: str
) -> None:
    plain = json.dumps(scripts.chat_json(f"答{BLOCK}了")).encode()
    body = {"gzip": gzip.compress(plain), "deflate": zlib.compress(plain)}.get(encoding, plain)
    headers = [("content-encoding", encoding)]
    fake.reply(CHAT, Reply([body], content_type="application/json", headers=headers))
    r = httpx.post(gateway + CHAT, json=PROMPT)
    assert not reveals(r.content, BLOCK), r.content[:300]
    assert "content-encoding" not in r.headers
    if encoding in ("gzip", "deflate"):  # bytes the gateway cannot read are not relayed
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"


@pytest.mark.parametrize("path", [CHAT, "/v1/some/new/route"])
@pytest.mark.parametrize(
    "content_type", ["", "application/octet-stream", "text/plain", "text/html", "application/xml"]
)
def test_answers_of_any_content_type_never_reveal_the_term(
    path: str, content_type: str, fake: FakeUpstream, gateway: str
) -> None:
    body = json.dumps(scripts.chat_json(f"答{BLOCK}了")).encode()
    fake.reply(path, Reply([body], content_type=content_type))
    r = httpx.post(gateway + path, json=PROMPT)
    assert not reveals(r.content, BLOCK), r.content[:300]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    "content_type",
    ["", "text/plain", "application/json; charset=latin-1", "application/vnd.api+json"],
)
def test_requests_of_any_content_type_or_method_are_screened(
    method: str, content_type: str, fake: FakeUpstream, gateway: str
) -> None:
    fake.json(CHAT, scripts.chat_json("fine"))
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": BLOCK}]})
    headers = {"content-type": content_type} if content_type else {}
    r = httpx.request(method, gateway + CHAT, content=body.encode(), headers=headers)
    assert r.status_code == 400, r.text
    assert fake.requests == []


def test_a_chunked_request_body_is_screened_whole(fake: FakeUpstream, gateway: str) -> None:
    prompt = {"model": "m", "messages": [{"role": "user", "content": BLOCK}]}
    body = json.dumps(prompt, ensure_ascii=False).encode()
    cut = body.index(BLOCK.encode()) + 2  # inside the term's first character

    def pieces():
        yield body[:cut]
        yield body[cut:]

    r = httpx.post(gateway + CHAT, content=pieces(), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert fake.requests == []


BAD = {"model": "m", "messages": [{"role": "user", "content": BLOCK}]}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/chat%2Fcompletions",
        "/v1/chat/completions;x=1",
        "/v1/./chat/completions",
        "/v1/x/../chat/completions",
        "//v1/chat/completions",
        "/openai/v1/chat/completions",
        "/v1/chat/completions%20",
        "/v1/chat/completions.json",
        "/v1/evals/e1/runs",  # (realtime/...: refused, see the test below)
        "/v1beta/models/gemini:generateContent",
        "/v1/vector_stores/x/search",
    ],
)
def test_odd_path_spellings_are_screened(path: str, fake: FakeUpstream, gateway: str) -> None:
    fake.json(path, scripts.chat_json("fine"))
    r = httpx.post(gateway + path, json=BAD)
    assert r.status_code == 400, r.text
    assert fake.requests == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", f"请{BLOCK}吧".encode()),
        ("application/x-www-form-urlencoded", ("prompt=" + quote(f"请{BLOCK}吧")).encode()),
        ("application/json", "\ufeff".encode() + json.dumps(BAD).encode()),  # BOM: refused
        ("application/json", json.dumps(BAD).encode("utf-16")),
        ("application/json", json.dumps({BLOCK: 1, "model": "m"}).encode()),  # a key is text
        ("application/x-ndjson", (json.dumps(BAD) + "\n" + json.dumps(BAD)).encode()),
        ("application/json", b"[" + json.dumps(BAD).encode() + b"]"),
    ],
)
@pytest.mark.parametrize("path", [CHAT, "/v1/some/thing"])
def test_bodies_in_other_encodings_or_shapes_are_screened_or_refused(
    content_type: str, body: bytes, path: str, fake: FakeUpstream, gateway: str
) -> None:
    fake.json(path, scripts.chat_json("fine"))
    r = httpx.post(gateway + path, content=body, headers={"content-type": content_type})
    assert r.status_code == 400, r.text
    assert fake.requests == []


@pytest.mark.parametrize(
    "frame",
    [
        b": " + f"请{BLOCK}".encode() + b"\n\n",  # an SSE comment
        b"event: " + BLOCK.encode() + b'\ndata: {"choices":[]}\n\n',
        b"id: " + BLOCK.encode() + b'\ndata: {"choices":[]}\n\n',
        b'data: {"choices":[{"index":0,"delta":\ndata: {"content":"'
        + BLOCK.encode()
        + b'"}}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{"content":"' + BLOCK.encode() + b'"}}]}\r\n\r\n',
        b'data:{"choices":[{"index":0,"delta":{"content":"' + BLOCK.encode() + b'"}}]}\r\r',
        b'data: {"choices":[{"index":0,"delta":{"content":"x"}}],"' + BLOCK.encode() + b'":1}\n\n',
    ],
)
def test_sse_fields_other_than_data_never_reveal_the_term(
    frame: bytes, fake: FakeUpstream, gateway: str
) -> None:
    fake.reply(CHAT, Reply([frame, b"data: [DONE]\n\n"]))
    r = httpx.post(gateway + CHAT, json={**PROMPT, "stream": True})
    assert not reveals(r.content, BLOCK), r.content[:400]


@pytest.mark.parametrize("path", [CHAT, "/v1/some/thing"])
def test_upstream_headers_never_carry_the_term(path: str, fake: FakeUpstream, gateway: str) -> None:
    raw = BLOCK.encode().decode("latin-1")  # UTF-8 bytes in a header value
    headers = [("x-note", quote(BLOCK)), ("x-raw", raw), ("x-upstream-note", quote(BLOCK))]
    fake.json(path, scripts.chat_json("fine"), headers=headers)
    r = httpx.post(gateway + path, json=PROMPT)
    assert r.status_code == 200
    relayed = " ".join(f"{k}: {v}" for k, v in r.headers.items())
    assert quote(BLOCK) not in relayed and raw not in relayed, relayed


@pytest.mark.parametrize("path", ["/v1/realtime?model=m", CHAT, "/v1/some/thing"])
def test_websocket_upgrades_are_refused(path: str, fake: FakeUpstream, gateway: str) -> None:
    """The gateway screens HTTP bodies only: a WebSocket (the Realtime API) is never opened."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.replace("http://", "ws://") + path, open_timeout=30)
    assert refused.value.response.status_code == 403
    assert fake.requests == []


def _stream_texts_reveal(raw: bytes, term: str) -> bool:
    from .reveal import stream_texts

    return reveals(raw, term) or any(term in t for t in stream_texts(raw).values())


@pytest.mark.parametrize(
    "content_type", ["", "text/plain", "text/html", "application/octet-stream", "text/markdown"]
)
def test_a_stream_under_another_content_type_is_parsed_as_a_stream(
    content_type: str, fake: FakeUpstream, gateway: str
) -> None:
    """A stream request answered with SSE under a content type that is not a stream's: read
    as the protocol's stream (screened per field, labeled), never relayed as plain text."""
    frames = scripts.chat_stream(["前", BLOCK[:2], BLOCK[2:], "后"])
    fake.reply(CHAT, Reply(frames, content_type=content_type))
    with httpx.stream("POST", gateway + CHAT, json={**PROMPT, "stream": True}) as r:
        raw = r.read()
    assert not _stream_texts_reveal(raw, BLOCK), raw.decode()[-600:]
    assert r.headers["content-type"].startswith("text/event-stream")
    assert b'"finish_reason":"content_filter"' in raw and raw.endswith(b"data: [DONE]\n\n")


def test_a_stream_request_answered_with_a_page_ends_with_a_stream_error(
    fake: FakeUpstream, gateway: str
) -> None:
    fake.reply(CHAT, Reply([b"<html><body>hello</body></html>"], content_type="text/html"))
    with httpx.stream("POST", gateway + CHAT, json={**PROMPT, "stream": True}) as r:
        raw = r.read()
    assert b"upstream_invalid_stream" in raw and b"hello" not in raw


@pytest.mark.parametrize("status", [200, 400, 429, 500])
@pytest.mark.parametrize("content_type", ["text/event-stream", "text/plain"])
@pytest.mark.parametrize("stream", [False, True])
def test_an_event_stream_read_whole_is_screened_across_its_events(
    status: int, content_type: str, stream: bool, fake: FakeUpstream, gateway: str
) -> None:
    """An event stream that is relayed whole (an error status, or a whole answer that is a
    stream) is screened as one text per answer, not line by line."""
    frames = scripts.chat_stream(["前", BLOCK[:2], BLOCK[2:], "后"])
    fake.reply(CHAT, Reply(frames, status=status, content_type=content_type))
    with httpx.stream("POST", gateway + CHAT, json={**PROMPT, "stream": stream}) as r:
        raw = r.read()
    assert not _stream_texts_reveal(raw, BLOCK), (r.status_code, raw.decode()[-600:])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/realtime/client_secrets", {"session": {"type": "realtime"}}),
        ("POST", "/v1/realtime/sessions", {"model": "gpt-realtime"}),
        ("POST", "/v1/realtime/transcription_sessions", {}),
        ("POST", "/openai/realtimeapi/sessions?api-version=2025-04-01-preview", {}),
        ("POST", "/v1/Realtime/calls", None),
        ("POST", "/v1/uploads/up_1/parts", None),
        ("POST", "/openai/v1/uploads/up_1/parts", None),
    ],
)
def test_routes_that_open_a_way_around_the_gateway_are_refused(
    method: str, path: str, body: Any, fake: FakeUpstream, gateway: str
) -> None:
    """An ephemeral Realtime key or a WebRTC call lets the client talk to the model API
    directly; a file uploaded in parts can hide a term split over two parts."""
    fake.json(path.split("?")[0], {"value": "ek_1", "id": "part_1"})
    if body is None:
        r = httpx.request(method, gateway + path, files={"data": ("a", f"x{BLOCK[:2]}".encode())})
    else:
        r = httpx.request(method, gateway + path, json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "unscreenable_route", r.text
    assert fake.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        [("content-type", "text/plain"), ("content-type", "multipart/form-data; boundary=XB")],
        [("content-type", "application/json"), ("content-type", "application/json")],
        [("content-encoding", "identity"), ("content-encoding", "gzip")],
    ],
    ids=["type-text-then-multipart", "type-twice", "encoding-twice"],
)
@pytest.mark.parametrize("path", [CHAT, "/v1/files"])
def test_repeated_body_headers_are_refused(
    headers: list, path: str, fake: FakeUpstream, gateway: str
) -> None:
    """The gateway reads the first; a server reading the last would parse another body."""
    body = (
        b'--XB\r\nContent-Disposition: form-data; name="prompt"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + "".join(f"={b:02X}" for b in BLOCK.encode()).encode()
        + b"\r\n--XB--\r\n"
    )
    fake.json(path, {"id": "file-1"})
    r = httpx.post(gateway + path, content=body, headers=httpx.Headers(headers))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_headers", r.text
    assert fake.requests == []


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/gpt-4o", "/api/tags", "/api/version"])
def test_allow_listed_routes_with_a_body_or_query_are_screened(
    path: str, fake: FakeUpstream, gateway: str
) -> None:
    """The no-text allow-list is relayed unscreened only without a body and a query string."""
    fake.json(path, {"object": "list", "data": []})
    r = httpx.request("GET", gateway + path, content=f"请{BLOCK}".encode())
    assert r.status_code == 400 and "content_policy_violation" in r.text, r.text
    r = httpx.get(f"{gateway}{path}?q={quote(BLOCK)}")
    assert r.status_code == 400 and "content_policy_violation" in r.text, r.text
    assert fake.requests == []
    assert httpx.get(gateway + path).headers["x-aigc-decision"] == "unscreened"
