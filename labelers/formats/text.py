"""Plain text and Markdown.

- Plain text has no metadata container (labeling.md §3.4): only the explicit notice applies;
  ``write_implicit`` returns the text unchanged and ``CARRIES_IMPLICIT`` says so per kind.
- Markdown (PG-TXT §6.5): YAML front matter at the head, key ``AIGC:`` holding the 7 keys as a
  nested mapping with single-quoted values. The front matter is edited as text (only the
  ``AIGC`` block is replaced or added), so other keys keep their exact formatting.
- Explicit notice: a line at the start (after any front matter) or at the end. The testable
  definition of "start/end" is AigcTotal's: the first or last 64 characters after trimming
  whitespace hold both elements (人工智能/AI and 生成/合成).
- Markdown vs plain text cannot always be told by content; front matter decides, and the API
  passes ``markdown=True`` when the file name or declared media type says Markdown.
"""

from __future__ import annotations

import json
import re

from ..errors import CorruptFileError
from ..record import FIELDS, LabelRecord
from ..settings import LabelSettings, has_required_elements
from .base import FoundRecord

__all__ = [
    "add_explicit",
    "add_notice",
    "has_notice",
    "media_type",
    "read_implicit",
    "sniff",
    "write_implicit",
]

_FRONT = re.compile(r"\A(\ufeff?)---[ \t]*(\r?\n)(.*?)(?:^|\r?\n)---[ \t]*(?:\r?\n|\Z)", re.S | re.M)
_MAX_FRONT_MATTER = 1024 * 1024


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"text is not valid UTF-8: {exc}") from exc


_MARKUP = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml|<!doctype|<html|<svg)", re.I)


def _is_json(data: bytes) -> bool:
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(stripped)
    except (ValueError, RecursionError):
        return False
    return True


def sniff(data: bytes) -> bool:
    """True for UTF-8 text without NUL bytes (checked on the first 64 KiB for speed).

    XML/HTML/SVG and JSON documents are not plain text: a notice line would break them or
    stay invisible, so they are unsupported rather than silently mislabeled.
    """
    head = data[:65536]
    if b"\x00" in head or _MARKUP.match(head) or _is_json(data):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a character cut at the 64 KiB boundary is fine
            return False
    return True


def _front(text: str) -> re.Match[str] | None:
    return _FRONT.match(text[: _MAX_FRONT_MATTER])


def media_type(data: bytes, *, markdown: bool | None = None) -> str:
    """``text/markdown`` (front matter or ``markdown=True``) or ``text/plain``."""
    if markdown is None:
        markdown = _front(data[:_MAX_FRONT_MATTER].decode("utf-8", "replace")) is not None
    return "text/markdown; charset=utf-8" if markdown else "text/plain; charset=utf-8"


def carries_implicit(data: bytes, *, markdown: bool | None = None) -> bool:
    """Whether this kind of text has an implicit carrier (Markdown yes, plain text no)."""
    return media_type(data, markdown=markdown).startswith("text/markdown")


# ---------------------------------------------------------------- implicit (Markdown)

_KEY_LINE = re.compile(r"^AIGC[ \t]*:(.*)$")


def _aigc_block(front: str) -> tuple[int, int, str] | None:
    """(start, end, inline value) of the top-level AIGC key block inside the front matter."""
    lines = front.splitlines(keepends=True)
    offset = 0
    for i, line in enumerate(lines):
        m = _KEY_LINE.match(line.rstrip("\r\n"))
        if m:
            end = offset + len(line)
            for following in lines[i + 1 :]:
                if following.strip() and not following[:1].isspace():
                    break
                end += len(following)
            return offset, end, m.group(1).strip()
        offset += len(line)
    return None


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    return value


def _parse_block(block: str, inline: str) -> str:
    """The AIGC block as a JSON string (for the common record parser)."""
    if inline:
        text = _unquote(inline) if inline[0] in "'\"" else inline
        return text  # flow mapping {"Label": ...} or a JSON string
    fields: dict[str, str] = {}
    for line in block.splitlines()[1:]:
        if not line.strip() or line.strip().startswith("#"):
            continue
        key, sep, value = line.strip().partition(":")
        if not sep:
            raise ValueError(f"unexpected line in AIGC block: {line.strip()!r}")
        fields[key.strip()] = _unquote(value)
    return json.dumps(fields, separators=(",", ":"))


def read_implicit(data: bytes, *, markdown: bool | None = None) -> list[FoundRecord]:
    """The AIGC record of the Markdown front matter (plain text has none)."""
    text = _decode(data)
    m = _front(text)
    if m is None:
        return []
    front = m.group(3)
    block = _aigc_block(front)
    if block is None:
        return []
    start, end, inline = block
    try:
        raw = _parse_block(front[start:end], inline)
    except ValueError as exc:
        return [FoundRecord("markdown:front-matter", front[start:end], None, [str(exc)])]
    return [FoundRecord.from_raw("markdown:front-matter", raw)]


def _yaml_block(record: LabelRecord, newline: str) -> str:
    values = record.to_dict()
    lines = ["AIGC:"] + [f"  {k}: '{values[k].replace(chr(39), chr(39) * 2)}'" for k in FIELDS]
    return newline.join(lines) + newline


def write_implicit(data: bytes, record: LabelRecord, *, markdown: bool | None = None) -> bytes:
    """Set the front matter ``AIGC`` block (Markdown); plain text is returned unchanged."""
    if not carries_implicit(data, markdown=markdown):
        return data
    text = _decode(data)
    newline = "\r\n" if "\r\n" in text[:4096] else "\n"
    block = _yaml_block(record, newline)
    m = _front(text)
    if m is None:
        bom = "\ufeff" if text.startswith("\ufeff") else ""
        body = text[len(bom):]
        return f"{bom}---{newline}{block}---{newline}{body}".encode()
    front = m.group(3)
    found = _aigc_block(front)
    if found is None:
        sep = "" if not front or front.endswith(("\n", "\r")) else newline
        new_front = front + sep + block
    else:
        start, end, _ = found
        new_front = front[:start] + block + front[end:]
    head = f"{m.group(1)}---{m.group(2)}{new_front}"
    if not head.endswith(("\n", "\r")):
        head += newline
    return (head + f"---{newline}" + text[m.end():]).encode()


# ---------------------------------------------------------------- explicit


def has_notice(text: str) -> bool:
    """True if the first or last 64 characters (whitespace trimmed) hold both elements."""
    body = text
    m = _front(text)
    if m is not None:
        body = text[m.end():]
    body = body.strip()
    return has_required_elements(body[:64]) or has_required_elements(body[-64:])


def add_notice(text: str, notice: str, position: str = "end") -> str:
    """``text`` with ``notice`` on its own line at the start (after front matter) or end."""
    newline = "\r\n" if "\r\n" in text[:4096] else "\n"
    m = _front(text)
    head, body = (text[: m.end()], text[m.end():]) if m else ("", text)
    if head == "" and body.startswith("\ufeff"):
        head, body = "\ufeff", body[1:]
    if position == "start":
        return head + notice + newline + newline + body
    if not body.strip():
        return head + notice + newline
    return head + body.rstrip() + newline + newline + notice + newline


def add_explicit(data: bytes, settings: LabelSettings, *, markdown: bool | None = None) -> bytes:
    """Add ``settings.text_notice`` at ``settings.text_position`` unless a notice is there."""
    text = _decode(data)
    if has_notice(text) and settings.text_notice in text:
        return data
    return add_notice(text, settings.text_notice, settings.text_position).encode()
