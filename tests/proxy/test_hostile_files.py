"""Issue 11, files, media and generic routes: downloads the upstream answers (batch output,
file contents, transcripts) and uploads the client sends (batch input, form fields, images
that are text), in the shapes a reader takes that the gateway's first reading missed. None
reveals a masked or blocked term. Assertions read every byte with an independent reader."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.lexicon import BLOCK, MASK

from . import scripts
from .reveal import reveals


def _esc(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


def _line(t: str) -> str:
    """A batch output line whose answer holds ``t`` (``json.dumps``: ``\\u``-escaped)."""
    return json.dumps({"custom_id": "r1", "response": {"body": {"output_text": t}}})


@dataclass
class Answer:
    id: str
    path: str
    body: bytes
    ctype: str
    method: str = "GET"
    headers: list[tuple[str, str]] = field(default_factory=list)


def _answers(t: str) -> list[Answer]:
    jsonl_bad = (_line(t) + "\n" + "{truncated\n").encode()
    bom_json = ("\ufeff" + json.dumps({"text": t})).encode()
    html_ent = "<p>" + "".join(f"&#{ord(c)};" for c in t) + "</p>"
    b64_part = base64.b64encode(t.encode()).decode()
    return [
        # a JSONL download with one line that does not parse: lenient readers skip that line
        Answer("jsonl-bad-line-text", "/v1/files/f1/content", jsonl_bad, "text/plain"),
        Answer(
            "jsonl-bad-line-octet", "/v1/files/f1/content", jsonl_bad, "application/octet-stream"
        ),
        Answer("jsonl-bad-line-untyped", "/v1/files/f1/content", jsonl_bad, ""),
        Answer(
            "batch-results-bad-line",
            "/v1/messages/batches/b1/results",
            jsonl_bad,
            "application/binary",
        ),
        # JSON after a byte order mark (``utf-8-sig`` readers, requests' ``.json()``)
        Answer(
            "bom-json-octet",
            "/v1/containers/c/files/f/content",
            bom_json,
            "application/octet-stream",
        ),
        Answer("bom-json-untyped", "/v1/vector_stores/v/files/f/content", bom_json, ""),
        # HTML entities a browser renders; JSON Lines that does not parse inside a JSON string
        Answer("html-entities", "/v1/files/f5/content", html_ent.encode(), "text/html"),
        Answer(
            "json-string-jsonl-bad-line",
            "/v1/batches/b1",
            json.dumps({"output": jsonl_bad.decode()}).encode(),
            "application/json",
        ),
        # a multipart answer whose part is base64
        Answer(
            "multipart-base64-part",
            "/v1/files/f2/content",
            (
                "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                f"{b64_part}\r\n--b--\r\n"
            ).encode(),
            "multipart/mixed; boundary=b",
        ),
    ]


ANSWER_IDS = [a.id for a in _answers(BLOCK)]


@pytest.mark.parametrize("index", range(len(ANSWER_IDS)), ids=ANSWER_IDS)
@pytest.mark.parametrize("term", [BLOCK, MASK], ids=["block", "mask"])
def test_text_downloads_never_reveal_the_term(
    index: int, term: str, fake: FakeUpstream, gateway: str
) -> None:
    case = _answers(f"答{term}了")[index]
    fake.reply(case.path, Reply([case.body], content_type=case.ctype, headers=case.headers))
    r = httpx.request(case.method, gateway + case.path)
    assert not reveals(r.content, term), r.text[:300]
    assert r.status_code in (403, 502), r.text[:300]


@pytest.mark.parametrize(
    "case",
    [
        Answer(
            "gzip-text",
            "/v1/files/f3/content",
            gzip.compress(BLOCK.encode()),
            "text/plain",
            headers=[("content-encoding", "gzip")],
        ),
        Answer(
            "srt",
            "/v1/audio/translations",
            f"1\n00:00:00,000 --> 00:00:01,000\n{BLOCK}\n".encode(),
            "text/plain",
            method="POST",
        ),
        Answer("image-type-text", "/v1/files/f4/content", BLOCK.encode(), "image/png"),
        Answer(
            "x-jsonl",
            "/v1/messages/batches/b/results",
            (_line(BLOCK) + "\n").encode() * 2,
            "application/x-jsonl",
        ),
    ],
    ids=lambda c: c.id,
)
def test_variants_that_held(case: Answer, fake: FakeUpstream, gateway: str) -> None:
    fake.reply(case.path, Reply([case.body], content_type=case.ctype, headers=case.headers))
    r = httpx.request(
        case.method, gateway + case.path, data={"model": "w"} if case.method == "POST" else None
    )
    assert not reveals(r.content, BLOCK), r.text[:300]
    assert r.status_code in (403, 502), r.text[:300]


def _words(t: str) -> bytes:
    return json.dumps({"text": "ok", "words": [{"word": c, "start": 0} for c in f"答{t}"]}).encode()


@pytest.mark.parametrize("term", [BLOCK, MASK], ids=["block", "mask"])
def test_a_term_split_over_values_between_keys_is_found(
    term: str, fake: FakeUpstream, gateway: str
) -> None:
    # a transcript's words, one character each: the key "word" sat between the halves
    fake.reply("/v1/audio/transcriptions", Reply([_words(term)], content_type="application/json"))
    r = httpx.post(gateway + "/v1/audio/transcriptions", data={"model": "w"})
    words = "".join(w["word"] for w in r.json().get("words", []))
    assert term not in words and r.status_code == (403 if term == BLOCK else 200), r.text
    if term == MASK:
        assert words == "答" + "*" * len(MASK)
    fake.json("/v1/some/route", {"ok": True})
    r = httpx.post(gateway + "/v1/some/route", json={"parts": [{"p": c} for c in term]})
    if term == BLOCK:
        assert r.status_code == 400 and fake.requests[-1].path == "/v1/audio/transcriptions"
    else:
        sent = "".join(p["p"] for p in fake.requests[-1].json()["parts"])
        assert r.status_code == 200 and sent == "*" * len(MASK)


def _png_with_text(t: str) -> bytes:
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("parameters", f"prompt: {t}")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


MEDIA_WITH_TEXT = {
    # text behind a PNG's magic number: a client expecting JSON Lines reads it
    "png-then-jsonl": lambda t: scripts.png_bytes() + ("\n" + _line(t) + "\n").encode(),
    "png-then-text": lambda t: scripts.png_bytes() + t.encode(),
    "png-metadata": _png_with_text,
}


@pytest.mark.parametrize("make", MEDIA_WITH_TEXT.values(), ids=MEDIA_WITH_TEXT.keys())
@pytest.mark.parametrize("term", [BLOCK, MASK], ids=["block", "mask"])
def test_media_downloads_with_text_in_them_are_screened(
    make: Callable[[str], bytes], term: str, fake: FakeUpstream, gateway: str
) -> None:
    fake.reply("/v1/files/p/content", Reply([make(term)], content_type="application/octet-stream"))
    r = httpx.get(gateway + "/v1/files/p/content")
    assert r.status_code == 403 and not reveals(r.content, term), r.status_code
    assert r.json()["error"]["code"] == "content_policy_violation"


def test_clean_downloads_and_uploads_still_pass(fake: FakeUpstream, gateway: str) -> None:
    png = _png_with_text("a cat on a mat")
    fake.reply("/v1/files/p/content", Reply([png], content_type="application/octet-stream"))
    r = httpx.get(gateway + "/v1/files/p/content")
    assert r.status_code == 200 and r.content == png
    lenient = (_line("好的 \u4f60") + "\n{cut\n").encode()
    fake.reply("/v1/files/f/content", Reply([lenient], content_type="text/plain"))
    r = httpx.get(gateway + "/v1/files/f/content")
    assert r.status_code == 200 and r.content == lenient
    # batch results as application/x-jsonl (was 502: parsed as one JSON document)
    results = (_line(f"好{MASK}") + "\n").encode() * 2
    fake.reply(
        "/v1/messages/batches/b/results", Reply([results], content_type="application/x-jsonl")
    )
    r = httpx.get(gateway + "/v1/messages/batches/b/results")
    assert r.status_code == 200 and r.text.count("好****") == 2, r.text
    fake.json("/v1/files", {"id": "file-1"})
    r = httpx.post(gateway + "/v1/files", files={"file": _file("cat.png", png, "image/png")})
    assert r.status_code == 200 and png in fake.requests[-1].body


# -- uploads ---------------------------------------------------------------------------------


def _file(name: str, data: bytes, ctype: str = "application/octet-stream") -> tuple:
    return (name, data, ctype)


def _input_file(png: bytes, t: str) -> dict:
    data = base64.b64encode(png + t.encode()).decode()
    return {
        "type": "input_file",
        "filename": "notes.txt",
        "file_data": f"data:image/png;base64,{data}",
    }


def _uploads(t: str) -> list[tuple[str, str, dict]]:
    """(id, path, httpx keyword arguments) of uploads carrying ``t``."""
    png = scripts.png_bytes()
    line = json.dumps({"custom_id": "1", "body": {"messages": [{"role": "user", "content": t}]}})
    text_b64 = base64.b64encode(f"看{t}".encode()).decode()
    return [
        # a PNG header in front of text: the server reads a .txt/.jsonl file as text
        ("png-named-txt", "/v1/files", {"files": {"file": _file("notes.txt", png + t.encode())}}),
        (
            "png-named-jsonl",
            "/v1/files",
            {
                "data": {"purpose": "batch"},
                "files": {"file": _file("b.jsonl", png + b"\n" + line.encode())},
            },
        ),
        (
            "png-typed-text",
            "/v1/files",
            {"files": {"file": _file("b.bin", png + t.encode(), "text/plain")}},
        ),
        (
            "png-transcription-srt",
            "/v1/audio/transcriptions",
            {"files": {"file": _file("a.md", png + t.encode())}},
        ),
        (
            "png-raw-body-text",
            "/v1/files",
            {"content": png + t.encode(), "headers": {"content-type": "text/plain"}},
        ),
        (
            "png-input-file-txt",
            "/v1/responses",
            {"json": {"model": "m", "input": [{"role": "user", "content": [_input_file(png, t)]}]}},
        ),
        # held in main already: nested batch input, form fields, text given as an image
        (
            "batch-jsonl-bad-line",
            "/v1/files",
            {"files": {"file": _file("b.jsonl", (line + "\n{x\n").encode())}},
        ),
        (
            "transcription-prompt",
            "/v1/audio/transcriptions",
            {"data": {"prompt": t}, "files": {"file": _file("a.wav", b"RIFF")}},
        ),
        (
            "edit-image-list-text",
            "/v1/images/edits",
            {
                "data": {"prompt": "p"},
                "files": [
                    ("image[]", _file("a.png", png)),
                    ("image[]", _file("b.png", f"{t}".encode())),
                ],
            },
        ),
        (
            "ollama-images-text",
            "/api/chat",
            {
                "json": {
                    "model": "l",
                    "messages": [{"role": "user", "content": "hi", "images": [text_b64]}],
                }
            },
        ),
        (
            "anthropic-batch",
            "/v1/messages/batches",
            {
                "json": {
                    "requests": [
                        {
                            "custom_id": "1",
                            "params": {
                                "model": "c",
                                "max_tokens": 5,
                                "messages": [{"role": "user", "content": t}],
                            },
                        }
                    ]
                }
            },
        ),
        (
            "uploads-create",
            "/v1/uploads",
            {
                "json": {
                    "filename": f"{t}.jsonl",
                    "purpose": "batch",
                    "bytes": 1,
                    "mime_type": "text/jsonl",
                }
            },
        ),
        (
            "gemini-generate",
            "/v1beta/models/g:generateContent",
            {"json": {"contents": [{"parts": [{"text": t}]}]}},
        ),
        ("rerank-documents", "/v1/rerank", {"json": {"query": "q", "documents": [{"text": t}]}}),
    ]


UPLOAD_IDS = [u[0] for u in _uploads(BLOCK)]


@pytest.mark.parametrize("index", range(len(UPLOAD_IDS)), ids=UPLOAD_IDS)
def test_uploads_never_carry_the_term(index: int, fake: FakeUpstream, gateway: str) -> None:
    _, path, kwargs = _uploads(f"答{BLOCK}了")[index]
    fake.json(path, {"ok": True})
    r = httpx.post(gateway + path, **kwargs)
    assert r.status_code in (400, 415), r.text[:300]
    assert fake.requests == []  # refused before the model API (a polyglot hides from reveals)
