"""Issue 11, requests, the next round: parser differentials at intake (multipart part headers,
percent-escapes that are not UTF-8), text the gateway cannot read (token ids), text in places
it skipped (multipart field names, protocol path names, roles), terms spelled in escapes a
model reads through, and bodies a protocol route cannot take. None reaches the upstream."""

from __future__ import annotations

import base64
import json
import quopri
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.lexicon import BLOCK, MASK, write_test_lexicon

from . import scripts
from .reveal import reveals

CHAT = "/v1/chat/completions"
FILES = "/v1/files"
TERM = f"请{BLOCK}吧"


def _code(r: httpx.Response) -> str:
    body = r.json()
    error = body.get("error")
    return error.get("code") if isinstance(error, dict) else body.get("code")


def _multipart(parts: list[tuple[list[str], bytes]], boundary: str = "XB") -> bytes:
    sep = b"--" + boundary.encode()
    out = b""
    for headers, data in parts:
        head = b"".join(h.encode() + b"\r\n" for h in headers)
        out += sep + b"\r\n" + head + b"\r\n" + data + b"\r\n"
    return out + sep + b"--\r\n"


def _post_multipart(gateway: str, path: str, parts: list[tuple[list[str], bytes]]) -> Any:
    return httpx.post(
        gateway + path,
        content=_multipart(parts),
        headers={"content-type": "multipart/form-data; boundary=XB"},
    )


def _pct(text: str, codec: str = "utf-8") -> str:
    return "".join(f"%{b:02X}" for b in text.encode(codec))


FIELD = 'Content-Disposition: form-data; name="prompt"'
FILE = 'Content-Disposition: form-data; name="file"; filename="a.txt"'

#: (id, path, parts, the code refused with): another parser reads these parts differently
MULTIPART: list[tuple[str, str, list[tuple[list[str], bytes]], str]] = [
    (
        "cte-base64-field",
        "/v1/audio/transcriptions",
        [([FIELD, "Content-Transfer-Encoding: base64"], base64.b64encode(TERM.encode()))],
        "invalid_multipart",
    ),
    (
        "cte-quoted-printable-field",
        "/v1/audio/transcriptions",
        [
            (
                [FIELD, "Content-Transfer-Encoding: quoted-printable"],
                quopri.encodestring(TERM.encode()),
            )
        ],
        "invalid_multipart",
    ),
    (
        "cte-quoted-printable-file",
        FILES,
        [
            (
                [FILE, "Content-Type: text/plain", "Content-Transfer-Encoding: Quoted-Printable"],
                quopri.encodestring(TERM.encode()),
            )
        ],
        "invalid_multipart",
    ),
    (
        "filename-star",
        FILES,
        [([f"{FILE}; filename*=UTF-8''{_pct(TERM)}.txt", "Content-Type: text/plain"], b"hi")],
        "invalid_multipart",
    ),
    (
        "filename-star-continuation",
        FILES,
        [([f'{FILE}; filename*0="{_pct(TERM)}"', "Content-Type: text/plain"], b"hi")],
        "invalid_multipart",
    ),
    (
        "name-star",
        "/v1/audio/transcriptions",
        [([f"{FIELD}; name*=UTF-8''{_pct(TERM)}"], b"hi")],
        "invalid_multipart",
    ),
    (
        "duplicate-disposition",
        FILES,
        [
            (
                [
                    f'Content-Disposition: form-data; name="file"; filename="{TERM}.txt"',
                    'Content-Disposition: form-data; name="file"',
                    "Content-Type: text/plain",
                ],
                b"hi",
            )
        ],
        "invalid_multipart",
    ),
    (
        "duplicate-content-type",
        FILES,
        [([FILE, "Content-Type: image/png", "Content-Type: text/plain"], b"hi")],
        "invalid_multipart",
    ),
    (
        "field-name",
        FILES,
        [([f'Content-Disposition: form-data; name="{TERM}"'], b"x")],
        "content_policy_violation",
    ),
    (
        "field-name-of-a-file",
        FILES,
        [
            (
                [f'Content-Disposition: form-data; name="{TERM}"; filename="a.wav"'],
                scripts.wav_bytes(),
            )
        ],
        "content_policy_violation",
    ),
]


@pytest.mark.parametrize(
    ("path", "parts", "code"), [m[1:] for m in MULTIPART], ids=[m[0] for m in MULTIPART]
)
def test_multipart_parts_read_differently_elsewhere_are_refused(
    path: str, parts: list, code: str, fake: FakeUpstream, gateway: str
) -> None:
    fake.json(path, {"id": "file-1"})
    r = _post_multipart(gateway, path, parts)
    assert r.status_code == 400 and _code(r) == code, r.text
    assert fake.requests == []


@pytest.mark.parametrize("tail", [b"\r\nepilogue ", b""])
def test_nothing_outside_the_parts_goes_on(tail: bytes, fake: FakeUpstream, gateway: str) -> None:
    """The parser skips an epilogue (and bytes after the closing delimiter): never forwarded."""
    fake.json(FILES, {"id": "file-1"})
    body = _multipart([([FIELD], b"batch")]).rstrip(b"\r\n") + tail + TERM.encode()
    r = httpx.post(
        gateway + FILES, content=body, headers={"content-type": "multipart/form-data; boundary=XB"}
    )
    assert r.status_code == 200, r.text
    assert not reveals(fake.requests[-1].body, BLOCK) and b"batch" in fake.requests[-1].body


def test_multipart_identity_encodings_and_masked_names_pass(
    fake: FakeUpstream, gateway: str
) -> None:
    fake.json(FILES, {"id": "file-1"})
    parts = [
        (
            [f'Content-Disposition: form-data; name="n{MASK}"', "Content-Transfer-Encoding: 8bit"],
            b"v",
        ),
        ([FILE, "Content-Type: text/plain", "Content-Transfer-Encoding: binary"], b"hello"),
    ]
    r = _post_multipart(gateway, FILES, parts)
    assert r.status_code == 200, r.text
    sent = fake.requests[-1].body
    assert not reveals(sent, MASK) and b'name="n****"' in sent
    assert b"hello" in sent and b'filename="a.txt"' in sent


@pytest.mark.parametrize("codec", ["gbk", "utf-16-le"])
def test_percent_escapes_that_are_not_utf8_are_refused(
    codec: str, fake: FakeUpstream, gateway: str
) -> None:
    """Read as U+FFFD here, as the term by a server decoding the form in its own charset."""
    fake.json("/v1/some/form", {"ok": 1})
    escaped = _pct(TERM, codec)
    r = httpx.post(
        gateway + "/v1/some/form",
        content=f"q={escaped}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and _code(r) == "invalid_form", r.text
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{gateway}{CHAT}?q={escaped}", json=body)
    assert r.status_code == 400 and _code(r) == "invalid_query", r.text
    assert fake.requests == []


def _deep(number: str, levels: int) -> str:
    return "[" * levels + number + "]" * levels


TOKEN_IDS: list[tuple[str, str, Any, str]] = [  # a body, or raw JSON
    ("completions-ids", "/v1/completions", {"model": "m", "prompt": [15496, 11, 995]}, "prompt"),
    (
        "completions-id-lists",
        "/v1/completions",
        {"model": "m", "prompt": [[15496], [995]]},
        "prompt",
    ),
    ("completions-mixed", "/v1/completions", {"model": "m", "prompt": ["hi", 995]}, "prompt"),
    (
        "completions-deep",
        "/v1/completions",
        '{"model":"m","prompt":' + _deep("995", 1000) + "}",
        "prompt",
    ),
    (
        "ollama-context",
        "/api/generate",
        {"model": "l", "prompt": "go on", "stream": False, "context": [1, 2, 3]},
        "context",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "param"), [t[1:] for t in TOKEN_IDS], ids=[t[0] for t in TOKEN_IDS]
)
def test_token_ids_are_refused(
    path: str, body: Any, param: str, fake: FakeUpstream, gateway: str
) -> None:
    """The model reads token ids as text; without its tokenizer the gateway cannot."""
    raw = body if isinstance(body, str) else json.dumps(body)
    r = httpx.post(gateway + path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and _code(r) == "invalid_request", r.text
    assert param in r.text
    assert fake.requests == []


def test_text_prompts_and_an_empty_context_still_pass(fake: FakeUpstream, gateway: str) -> None:
    fake.json("/v1/completions", scripts.completions_json("fine"))
    assert (
        httpx.post(
            gateway + "/v1/completions", json={"model": "m", "prompt": ["a", "b"]}
        ).status_code
        == 200
    )
    fake.json("/api/generate", scripts.ollama_json("fine", chat=False))
    body = {"model": "l", "prompt": "p", "stream": False, "context": []}
    assert httpx.post(gateway + "/api/generate", json=body).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/deployments/{}/chat/completions",
        "/openai/deployments/{}/chat/completions",
        "/v1/videos/{}/remix",
    ],
)
def test_names_in_protocol_paths_are_screened(path: str, fake: FakeUpstream, gateway: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "prompt": "p"}
    r = httpx.post(gateway + path.format(quote(TERM)), json=body)
    assert r.status_code == 400 and _code(r) == "content_policy_violation", r.text
    assert fake.requests == []
    masked = path.format(quote(f"d{MASK}"))
    fake.json(path.format("d****"), scripts.chat_json("fine"))
    r = httpx.post(gateway + masked, json=body)
    assert fake.requests and fake.requests[-1].path == path.format("d****"), r.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, b""),
        ("/v1/messages", b""),
        ("/v1/responses", b""),
        ("/api/chat", b""),
        ("/v1/completions", b""),
    ],
)
def test_a_protocol_post_without_a_body_is_refused(
    path: str, body: bytes, fake: FakeUpstream, gateway: str
) -> None:
    """It used to be forwarded, and the answer then failed with a 500."""
    fake.json(path, scripts.chat_json("fine"))
    r = httpx.post(gateway + path, content=body)
    assert r.status_code == 400, r.text
    assert fake.requests == []


@pytest.mark.parametrize("path", [CHAT, "/v1/messages", "/v1/responses", "/api/chat"])
def test_multipart_on_a_json_protocol_route_is_refused(
    path: str, fake: FakeUpstream, gateway: str
) -> None:
    fake.json(path, scripts.chat_json("fine"))
    r = httpx.post(gateway + path, data={"model": "m"}, files={"f": ("a.txt", b"hi", "text/plain")})
    assert r.status_code == 400, r.text
    assert fake.requests == []


@pytest.fixture
def latin_lexicon(tmp_path: Path) -> Path:
    directory = tmp_path / "lexicon"
    directory.mkdir()
    write_test_lexicon(directory)
    with (directory / "a1.terrorism_extremism.txt").open("a", encoding="utf-8") as f:
        f.write("heroin\taction=block\n")
    return directory


@pytest.mark.parametrize("role", ["heroin", "Heroin"])
def test_a_role_that_is_not_a_role_name_is_screened(
    role: str, latin_lexicon: Path, make_gateway: Callable[..., Any], fake: FakeUpstream
) -> None:
    """Chat templates write the role into the prompt; vLLM and Ollama take any role name."""
    body = {"model": "m", "messages": [{"role": role, "content": "hi"}]}
    with make_gateway(lexicons=[latin_lexicon]) as base:
        r = httpx.post(base + CHAT, json=body)
        assert r.status_code == 400 and _code(r) == "content_policy_violation", r.text
        assert fake.requests == []
        fake.json(CHAT, scripts.chat_json("fine"))
        body["messages"][0]["role"] = "user"
        assert httpx.post(base + CHAT, json=body).status_code == 200


def _u(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


ESCAPES: list[tuple[str, Callable[[str], str]]] = [
    ("u-escapes", _u),
    ("html-decimal", lambda t: "".join(f"&#{ord(c)};" for c in t)),
    ("html-hex", lambda t: "".join(f"&#x{ord(c):X};" for c in t)),
    ("percent", lambda t: quote(t)),
    ("base64-short", lambda t: "decode: " + base64.b64encode(t.encode()).decode()),
    ("base64-urlsafe", lambda t: base64.urlsafe_b64encode(t.encode()).decode().rstrip("=")),
    ("percent-of-u-escapes", lambda t: quote(_u(t))),
    ("html-of-percent", lambda t: quote(t).replace("%", "&#37;")),
]


@pytest.mark.parametrize("path", [CHAT, "/v1/some/thing"])
@pytest.mark.parametrize(("name", "spell"), ESCAPES, ids=[e[0] for e in ESCAPES])
@pytest.mark.parametrize("term", [BLOCK, MASK], ids=["block", "mask"])
def test_terms_spelled_in_escapes_a_model_reads_are_blocked(
    term: str, name: str, spell: Callable[[str], str], path: str, fake: FakeUpstream, gateway: str
) -> None:
    """A masked term too: it cannot be masked inside its escapes."""
    fake.json(path, scripts.chat_json("fine"))
    body = {"model": "m", "messages": [{"role": "user", "content": f"read this: {spell(term)}"}]}
    r = httpx.post(gateway + path, json=body)
    assert r.status_code == 400 and _code(r) == "content_policy_violation", r.text
    assert fake.requests == []


def test_a_term_split_over_two_escaped_parts_is_blocked(fake: FakeUpstream, gateway: str) -> None:
    parts = [{"type": "text", "text": _u(BLOCK[:2])}, {"type": "text", "text": quote(BLOCK[2:])}]
    body = {"model": "m", "messages": [{"role": "user", "content": parts}]}
    r = httpx.post(gateway + CHAT, json=body)
    assert r.status_code == 400 and _code(r) == "content_policy_violation", r.text
    assert fake.requests == []


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (
            "/v1/messages",
            '{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"B吧"}],'
            '"system":"请A"}',
        ),
        ("/v1/responses", '{"model":"m","input":"B吧","instructions":"请A"}'),
    ],
    ids=["anthropic-system-last", "responses-instructions-last"],
)
def test_a_term_split_over_system_and_first_turn_is_found_in_any_key_order(
    path: str, raw: str, fake: FakeUpstream, gateway: str
) -> None:
    raw = raw.replace("A", BLOCK[:2]).replace("B", BLOCK[2:])
    r = httpx.post(
        gateway + path, content=raw.encode(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and _code(r) == "content_policy_violation", r.text
    assert fake.requests == []


def test_escapes_without_a_term_pass_unchanged(fake: FakeUpstream, gateway: str) -> None:
    fake.json(CHAT, scripts.chat_json("fine"))
    text = "caf\\u00e9 &amp; 100% sure: aGVsbG8gd29ybGQ= https://x.test/a%20b internationalization"
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    r = httpx.post(gateway + CHAT, json=body)
    assert r.status_code == 200, r.text
    assert json.loads(fake.requests[-1].body)["messages"][0]["content"] == text


DUPLICATE = '{"q":"TERM","q":"hi"}'.replace("TERM", TERM)


def _tool_args(args: str) -> dict:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": args}}
    return {"model": "m", "messages": [{"role": "assistant", "tool_calls": [call]}]}


def _data_url_file(text: str) -> dict:
    url = "data:application/json;base64," + base64.b64encode(text.encode()).decode()
    part = {"type": "file", "file": {"filename": "a.json", "file_data": url}}
    return {"model": "m", "messages": [{"role": "user", "content": [part]}]}


DUPLICATES: list[tuple[str, Callable[[str], httpx.Response]]] = [
    ("tool-arguments", lambda g: httpx.post(g + CHAT, json=_tool_args(DUPLICATE))),
    (
        "message-content",
        lambda g: httpx.post(
            g + CHAT, json={"model": "m", "messages": [{"role": "user", "content": DUPLICATE}]}
        ),
    ),
    (
        "jsonl-body",
        lambda g: httpx.post(
            g + "/v1/some/thing",
            content=(DUPLICATE + "\n" + DUPLICATE + "\n").encode(),
            headers={"content-type": "application/jsonl"},
        ),
    ),
    (
        "multipart-jsonl-file",
        lambda g: httpx.post(
            g + FILES,
            data={"purpose": "batch"},
            files={"file": ("b.jsonl", (DUPLICATE + "\n") * 2, "application/jsonl")},
        ),
    ),
    ("data-url-json-file", lambda g: httpx.post(g + CHAT, json=_data_url_file(DUPLICATE))),
]


@pytest.mark.parametrize("send", [d[1] for d in DUPLICATES], ids=[d[0] for d in DUPLICATES])
def test_json_in_strings_and_files_with_a_duplicate_key_goes_on_as_screened(
    send: Callable[[str], httpx.Response], fake: FakeUpstream, gateway: str
) -> None:
    """The gateway's parser keeps the last value; the model reads the string as it stands
    (and a first-wins parser the first value): what goes on is what was screened."""
    fake.json(CHAT, scripts.chat_json("fine"))
    fake.json(FILES, {"id": "file-1"})
    fake.json("/v1/some/thing", {"ok": 1})
    r = send(gateway)
    assert r.status_code == 200, r.text
    assert not reveals(fake.requests[-1].body, BLOCK), fake.requests[-1].body[:300]


def test_json_in_strings_without_duplicates_keeps_its_bytes(
    fake: FakeUpstream, gateway: str
) -> None:
    fake.json(CHAT, scripts.chat_json("fine"))
    args = '{ "q" : "a\\":b",  "r": {"q": 1} }'  # a string holding '":', the same key nested
    r = httpx.post(gateway + CHAT, json=_tool_args(args))
    assert r.status_code == 200, r.text
    sent = json.loads(fake.requests[-1].body)
    assert sent["messages"][0]["tool_calls"][0]["function"]["arguments"] == args
