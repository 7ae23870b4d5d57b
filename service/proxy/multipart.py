"""``multipart/form-data`` request bodies (file uploads, transcriptions, image edits).

Parsed with python-multipart; every part keeps its raw header bytes, so a body in which
nothing was masked is rebuilt byte-identical in content, and a masked one changes only the
data of the parts that were masked. A body that does not parse is refused (400), and so is a
part another parser could read differently from this one: a ``Content-Transfer-Encoding``
other than the identity (base64 and quoted-printable are decoded by some servers, so the text
the model API reads is not the text screened), a repeated ``Content-Disposition``,
``Content-Type`` or ``Content-Transfer-Encoding`` header (parsers differ in which one wins),
and RFC 2231 extended parameters (``filename*=UTF-8''...``: python-multipart drops them, other
servers prefer them to ``filename``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from service.errors import BadRequest

from .payloads import charset_of

__all__ = ["Multipart", "Part", "parse_multipart"]

_SINGLE = (b"content-disposition", b"content-type", b"content-transfer-encoding")
_IDENTITY = (b"7bit", b"8bit", b"binary")
#: name*=, filename*=, filename*0=, filename*1*= (RFC 2231 charsets and continuations)
_EXTENDED = re.compile(rb";\s*[!#$%&'+.^_`|~\w-]+\*[0-9]*\*?\s*=")


class InvalidMultipart(BadRequest):
    """The multipart body cannot be parsed."""

    code = "invalid_multipart"


@dataclass(slots=True)
class Part:
    headers: list[tuple[bytes, bytes]]
    data: bytes = b""
    name: str = ""
    filename: str | None = None
    content_type: str = ""
    charset: str | None = None  # declared; once read as text, the codec it was read in

    def render(self) -> bytes:
        head = b"".join(k + b": " + v + b"\r\n" for k, v in self.headers)
        return head + b"\r\n" + self.data


@dataclass(slots=True)
class Multipart:
    boundary: bytes
    parts: list[Part] = field(default_factory=list)

    def render(self) -> bytes:
        sep = b"--" + self.boundary
        out = [sep + b"\r\n" + p.render() + b"\r\n" for p in self.parts]
        return b"".join(out) + sep + b"--\r\n"


def parse_multipart(body: bytes, content_type: str) -> Multipart:
    """Parse ``body``; raises ``InvalidMultipart``."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidMultipart("The multipart body has no boundary.")
    parts: list[Part] = []
    state: dict = {"field": b"", "value": b"", "data": []}

    def on_part_begin() -> None:
        parts.append(Part([]))
        state["data"] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        parts[-1].headers.append((state["field"], state["value"]))
        state["field"] = state["value"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"].append(data[start:end])

    def on_part_end() -> None:
        parts[-1].data = b"".join(state["data"])

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    parser = MultipartParser(boundary, callbacks, max_header_count=32, max_header_size=16384)
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # noqa: BLE001 - python-multipart raises several error types
        raise InvalidMultipart(f"The multipart body cannot be parsed: {exc}.") from None
    if not parts:
        raise InvalidMultipart("The multipart body has no parts.")
    for part in parts:
        _check_headers(part.headers)
        for key, value in part.headers:
            low = key.lower()
            if low == b"content-disposition":
                _, opts = parse_options_header(value)
                part.name = opts.get(b"name", b"").decode("utf-8", "replace")
                fname = opts.get(b"filename")
                part.filename = fname.decode("utf-8", "replace") if fname is not None else None
            elif low == b"content-type":
                header = value.decode("latin-1")
                part.content_type = header.split(";")[0].strip().lower()
                part.charset = charset_of(header)
    return Multipart(boundary, parts)


def _check_headers(headers: list[tuple[bytes, bytes]]) -> None:
    """Refuse part headers that parsers read differently (see the module doc)."""
    names = [k.strip().lower() for k, _ in headers]
    for name in _SINGLE:
        if names.count(name) > 1:
            raise InvalidMultipart(f"A multipart part repeats its {name.decode()} header.")
    for name, (_, value) in zip(names, headers, strict=True):
        if name == b"content-transfer-encoding" and value.strip().lower() not in _IDENTITY:
            raise InvalidMultipart(
                "A multipart part with a Content-Transfer-Encoding cannot be screened (some "
                "servers decode it); send the part's bytes as they are."
            )
        if name == b"content-disposition" and _EXTENDED.search(value):
            raise InvalidMultipart(
                "A multipart part with an extended (RFC 2231) parameter such as filename* "
                'cannot be screened; send the name as filename="..." in UTF-8.'
            )
