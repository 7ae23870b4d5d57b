"""``multipart/form-data`` request bodies (file uploads, transcriptions, image edits).

Parsed with python-multipart; every part keeps its raw header bytes, so a body in which
nothing was masked is rebuilt byte-identical in content, and a masked one changes only the
data of the parts that were masked. A body that does not parse is refused (400).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from service.errors import BadRequest

from .payloads import charset_of

__all__ = ["Multipart", "Part", "parse_multipart"]


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
