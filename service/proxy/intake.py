"""Request intake: read the body, parse it by what it is, validate it, screen every text.

A body is parsed by its content type (JSON, JSON Lines, multipart, form, text) and, when the
type says nothing useful, by its content (``payloads.sniff``). What cannot be parsed is not
forwarded: 400 (bad JSON, bad multipart) or 415 (a document the gateway cannot read, or media
on a route that takes none), in the protocol's envelope. The query string is screened too.

``screen_request`` is the one input-screening step (the lexicon, today); a slower second
verdict (a guard model) runs beside the upstream call (``guards``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

import orjson

from service.errors import BadRequest, InvalidJSON, UnsupportedMedia

from .call import Call, ClientGone
from .decisions import Decisions
from .multipart import Multipart, parse_multipart
from .payloads import (
    DOCUMENT,
    JSONL_TYPES,
    MEDIA,
    OPAQUE,
    TEXT,
    charset_of,
    decode_text,
    in_audio,
    named_text,
    sniff,
    unreadable_kind,
)
from .views import escaped_terms
from .walker import Walk, ident

__all__ = ["Body", "parse_body", "read_body", "screen_request"]

_JSON_TYPES = ("application/json", "application/x-json")
_SAFE = "!$&'()*+,;=:@-._~"
_PRELUDE = frozenset({"system", "instructions"})


async def read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


@dataclass(slots=True)
class Body:
    """A parsed request body: ``kind`` and its screenable ``value``."""

    kind: str  # "empty" | "json" | "jsonl" | "multipart" | "form" | "text" | "media"
    raw: bytes
    value: Any = None
    content_type: str = ""
    codec: str = "utf-8"  # of a text body

    def serialize(self, changed: bool) -> bytes:
        """The bytes to forward: JSON and JSON Lines always as parsed (no duplicate keys
        survive), multipart always rebuilt from its parts (no preamble or epilogue, which
        the parser skips, goes on unscreened)."""
        if self.kind == "json":
            return orjson.dumps(self.value)
        if self.kind == "jsonl":
            return b"".join(orjson.dumps(v) + b"\n" for v in self.value)
        if self.kind == "multipart":
            return self.value.render()
        if not changed:
            return self.raw
        if self.kind == "form":
            return urlencode([(k, v) for k, v in self.value]).encode("ascii")
        if self.kind == "text":
            return self.value[0].encode(self.codec)
        return self.raw


def _media_type(headers: list[tuple[str, str]]) -> tuple[str, str]:
    for name, value in headers:
        if name == "content-type":
            return value.split(";")[0].strip().lower(), value
    return "", ""


def parse_body(raw: bytes, call: Call) -> Body:
    """Parse the request body; raises ``BadRequest`` / ``UnsupportedMedia``."""
    adapter = call.adapter
    if not raw:
        if adapter is not None and call.scope.get("method") == "POST":
            raise BadRequest("The request body must be a JSON object.")
        return Body("empty", raw)
    for name in ("content-type", "content-encoding"):  # servers differ in which one wins
        if sum(1 for k, _ in call.headers if k == name) > 1:
            raise BadRequest(f"The request repeats its {name} header.", code="invalid_headers")
    encoding = call.header("content-encoding")
    if encoding and encoding.strip().lower() != "identity":
        raise UnsupportedMedia(
            f"A {encoding} request body cannot be screened; send it uncompressed.",
            code="encoded_body",
        )
    mtype, full = _media_type(call.headers)
    protocol = adapter is not None
    if mtype.startswith("multipart/form-data"):
        if adapter is not None and not adapter.multipart:
            raise BadRequest("The request body must be a JSON object, not multipart/form-data.")
        return Body("multipart", raw, parse_multipart(raw, full), mtype)
    if protocol or mtype in _JSON_TYPES or mtype.endswith("+json"):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidJSON("The request body is not valid JSON.") from None
        if protocol and not isinstance(value, dict):
            raise BadRequest("The request body must be a JSON object.")
        return Body("json", raw, value, mtype)
    if mtype in JSONL_TYPES:
        try:
            lines = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
        except orjson.JSONDecodeError:
            raise InvalidJSON("The request body is not valid JSON Lines.") from None
        return Body("jsonl", raw, lines, mtype)
    if mtype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(
                raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict"
            )
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("The form body cannot be parsed.", code="invalid_form") from None
        return Body("form", raw, [list(p) for p in pairs], mtype)
    charset = charset_of(full)
    found = sniff(raw, charset)
    if found.kind == TEXT:
        text, codec = found.text or "", found.codec
        if text.lstrip()[:1] in ("{", "["):
            try:
                return Body("json", raw, orjson.loads(text), "application/json")
            except orjson.JSONDecodeError:
                pass
        return Body("text", raw, [text], mtype, codec)
    _refuse_file(found.kind, found.media_type, call.route.takes_media)
    _refuse_named_text(found.media_type, None, mtype)
    return Body("media", raw, None, mtype)


def _refuse_file(kind: str, media_type: str, takes_media: bool, audio: bool = False) -> None:
    """Refuse what cannot pass: documents, bytes of no known kind (but raw audio under an
    ``audio`` object), and media on a route that takes none."""
    if unreadable_kind(kind, audio):
        raise UnsupportedMedia(
            f"A {media_type} file cannot be screened (no document text reader is installed); "
            "send its text instead."
            if kind == DOCUMENT
            else "Bytes of no known kind cannot be screened; send text in UTF-8 (or UTF-16 "
            "with a byte order mark, or with its charset declared).",
            code="unscreenable_file",
        )
    if kind in (MEDIA, OPAQUE) and not takes_media:
        raise UnsupportedMedia(
            f"This route takes no media files ({media_type}).", code="media_not_accepted"
        )


def _refuse_named_text(media_type: str, filename: str | None, content_type: str) -> None:
    """Refuse media bytes named or typed as text: a server going by the name or the type
    (file search, batch) reads the text behind the magic number, which the gateway did not."""
    if named_text(filename, content_type):
        raise UnsupportedMedia(
            f"A file named or typed as text holds {media_type} bytes; send it as what it is.",
            code="unscreenable_file",
        )


def _collect(body: Body, walk: Walk, call: Call) -> list[tuple[Any, Any]]:
    """Collect the body's texts into ``walk``; returns multipart (part, holder) pairs."""
    files: list[tuple[Any, Any]] = []
    if body.kind in ("json", "jsonl"):
        if isinstance(body.value, str):
            holder = [body.value]
            walk.add(holder)
            body.value = holder[0]
        else:
            walk.add(body.value)
    elif body.kind in ("form", "text"):
        walk.add(body.value)
    elif body.kind == "multipart":
        mp: Multipart = body.value
        for part in mp.parts:
            # the field's name and file name reach the model API too (a form's keys are text)
            names = [part.name, *([part.filename] if part.filename else [])]
            if part.filename is None:  # a form field: text, whatever bytes it starts with
                decoded = decode_text(part.data, part.charset)
            else:
                found = sniff(part.data, part.charset)
                if found.kind != TEXT:
                    _refuse_file(found.kind, found.media_type, call.route.takes_media)
                    _refuse_named_text(found.media_type, part.filename, part.content_type)
                    walk.add(names, ("<multipart>", part.name, "filename"))
                    files.append((part, None, names))
                    continue
                decoded = found.text, found.codec
            if decoded is None:
                raise BadRequest(
                    f"The form field {part.name!r} is not text.", code="invalid_multipart"
                )
            text, part.charset = decoded
            holder = [text, *names]
            walk.add(holder, ("<multipart>", part.name))
            files.append((part, holder, names))
    return files


def screen_request(body: Body, call: Call, decisions: Decisions, walk: Walk) -> bool:
    """Screen every text of the request (body and query); mask in place. True: changed."""
    files = _collect(body, walk, call)
    # texts are scanned joined in the order the model reads them: a system prompt (Anthropic
    # ``system``, Responses ``instructions``) before the conversation, wherever its key stands
    walk.refs.sort(key=lambda ref: not ref.path or ref.path[0] not in _PRELUDE)
    segments: list[str] = []
    # a path segment can carry text too: every one of a generic route; on a protocol route,
    # its names (an Azure deployment, a video id) when they are not identifier-shaped
    names = [unquote(s) for s in call.route.path.split("/")[1:]]
    if call.route.kind == "generic" or not all(ident(s) for s in names):
        segments = names
        walk.add(segments, ("<path>",))
    query = call.scope.get("query_string") or b""
    pairs: list[list[str]] = []
    if query:
        try:
            # strict: a percent-escape that is not UTF-8 (GBK, say) would be read as U+FFFD
            # here and as the term by a server that decodes it in another charset
            text = query.decode("utf-8")
            pairs = [list(p) for p in parse_qsl(text, keep_blank_values=True, errors="strict")]
        except UnicodeDecodeError:
            raise BadRequest(
                "The query string is not UTF-8 (percent-escapes included).", code="invalid_query"
            ) from None
        walk.add(pairs, ("<query>",))
    decisions.screen_walk(walk)
    if not decisions.blocked and not walk.too_deep and escaped_terms(walk.refs, decisions):
        decisions.blocked = True  # a term spelled in escapes the model reads through
    if walk.too_deep and not decisions.blocked:
        raise BadRequest(
            "Text is nested too deep (objects, arrays or JSON and data inside strings) to be screened.",
            code="nested_too_deep",
        )
    if walk.remote_tools:
        raise BadRequest(
            "A remote MCP server cannot be screened (the model API would read its tools' "
            "output unscreened); call the tools from your application instead.",
            code="unscreenable_tool",
        )
    if walk.remote:
        raise UnsupportedMedia(
            "A document given by URL cannot be screened (the model API would fetch it); send "
            "its text, or upload it through the gateway.",
            code="unscreenable_file",
        )
    for path, payload, container, _ in walk.payloads:
        _refuse_file(payload.kind, payload.media_type, call.route.takes_media, in_audio(path))
        if payload.kind == MEDIA:  # a data URL's type and the file's name, beside it
            name = container.get("filename") if isinstance(container, dict) else None
            _refuse_named_text(
                payload.media_type, name if isinstance(name, str) else None, payload.declared
            )
    if not walk.changed:
        return False
    for part, holder, names in files:
        if holder is not None:
            part.data = holder[0].encode(part.charset or "utf-8")
            names = holder[1:]
        filename = names[1] if len(names) > 1 else part.filename
        if names[0] != part.name or filename != part.filename:
            part.name, part.filename = names[0], filename
            part.headers = [
                (k, _disposition(part.name, part.filename))
                if k.lower() == b"content-disposition"
                else (k, v)
                for k, v in part.headers
            ]
    if pairs:
        call.scope["query_string"] = urlencode([(k, v) for k, v in pairs]).encode("ascii")
    if segments:
        call.path = "/" + "/".join(quote(s, safe=_SAFE) for s in segments)
    return True


def _disposition(name: str, filename: str | None) -> bytes:
    def quoted(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    head = f'form-data; name="{quoted(name)}"'
    return (head if filename is None else f'{head}; filename="{quoted(filename)}"').encode()
