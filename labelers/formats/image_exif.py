"""AIGC records in EXIF (TIFF-structured) blocks: find them, and neutralise them in place.

Producers that do not follow PG-IMG's "统一走 XMP" write the record into EXIF: PG-IMG Annex B and
``w946974762`` use ``UserComment`` (0x9286, 8-byte charset prefix then the wrapped JSON); others
use ``ImageDescription`` (0x010E) or Windows ``XPComment`` (0x9C9C, UTF-16LE). Readers accept
all three. A value counts as a record only when it looks like a JSON object mentioning ``AIGC``
or ``Label``, so a prose description that mentions AIGC is left alone.

When our writer puts the record into XMP, such an EXIF copy would be a second record (GB 45438
§6.1 c). The caller has already carried its fields over into the new record, so
:func:`blank` zero-fills the value *in place*: sizes and offsets stay valid, and no other
EXIF byte changes (maker notes with absolute offsets survive).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .base import FoundRecord

__all__ = ["ExifHit", "blank", "find_aigc", "records_from_exif"]

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_IFD0_TAGS = {0x010E: "ImageDescription", 0x9C9C: "XPComment"}
_EXIF_TAGS = {0x9286: "UserComment"}
_EXIF_POINTER = 0x8769
_MAX_ENTRIES = 1000


@dataclass(frozen=True, slots=True)
class ExifHit:
    """An AIGC-looking value: tag name, decoded text, problems, and its byte span."""

    tag: str
    text: str
    problems: tuple[str, ...]
    offset: int
    length: int


def _entries(tiff: bytes, endian: str, offset: int) -> list[tuple[int, int, int, int]]:
    """``(tag, type, count, value offset)`` of one IFD; stops quietly at broken structure."""
    if offset <= 0 or offset + 2 > len(tiff):
        return []
    (count,) = struct.unpack_from(endian + "H", tiff, offset)
    out = []
    for i in range(min(count, _MAX_ENTRIES)):
        pos = offset + 2 + 12 * i
        if pos + 12 > len(tiff):
            break
        tag, typ, n = struct.unpack_from(endian + "HHI", tiff, pos)
        size = _TYPE_SIZES.get(typ, 1) * n
        value_at = pos + 8 if size <= 4 else struct.unpack_from(endian + "I", tiff, pos + 8)[0]
        if value_at + size > len(tiff):
            continue
        out.append((tag, typ, size, value_at))
    return out


def _decode(tag: str, raw: bytes, endian: str) -> tuple[str, list[str]]:
    problems: list[str] = []
    if tag == "UserComment":
        prefix, body = raw[:8], raw[8:]
        if prefix.startswith(b"UNICODE"):
            text = body.decode("utf-16-be" if endian == ">" else "utf-16-le", "replace")
        elif prefix.startswith(b"ASCII") or prefix == b"\x00" * 8:
            try:
                text = body.decode("ascii")
            except UnicodeDecodeError:
                text = body.decode("utf-8", "replace")
                problems.append("EXIF UserComment: non-ASCII bytes under an ASCII charset prefix")
        else:
            text = raw.decode("utf-8", "replace")
            problems.append("EXIF UserComment: missing 8-byte charset prefix")
    elif tag == "XPComment":
        text = raw.decode("utf-16-le", "replace")
    else:
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            problems.append(f"EXIF {tag}: non-ASCII bytes in an ASCII field")
    return text.strip("\x00 \t\r\n"), problems


def _looks_like_record(text: str) -> bool:
    return text.startswith("{") and ("AIGC" in text or '"Label"' in text)


def find_aigc(tiff: bytes) -> list[ExifHit]:
    """AIGC records in a TIFF-structured EXIF block (starting at the byte-order mark)."""
    if tiff[:4] == b"II*\x00":
        endian = "<"
    elif tiff[:4] == b"MM\x00*":
        endian = ">"
    else:
        return []
    (ifd0,) = struct.unpack_from(endian + "I", tiff, 4)
    hits: list[ExifHit] = []
    for tags, ifd in ((_IFD0_TAGS, ifd0), (_EXIF_TAGS, None)):
        if ifd is None:
            pointer = [e for e in _entries(tiff, endian, ifd0) if e[0] == _EXIF_POINTER]
            if not pointer or pointer[0][2] != 4:
                continue
            ifd = struct.unpack_from(endian + "I", tiff, pointer[0][3])[0]
        for tag, _typ, size, at in _entries(tiff, endian, ifd):
            name = tags.get(tag)
            if name is None:
                continue
            text, problems = _decode(name, tiff[at : at + size], endian)
            if _looks_like_record(text):
                hits.append(ExifHit(name, text, tuple(problems), at, size))
    return hits


def blank(tiff: bytes, hits: list[ExifHit]) -> bytes:
    """``tiff`` with the values of ``hits`` zero-filled (same length, offsets unchanged)."""
    out = bytearray(tiff)
    for hit in hits:
        out[hit.offset : hit.offset + hit.length] = bytes(hit.length)
    return bytes(out)


def records_from_exif(tiff: bytes) -> list[FoundRecord]:
    """Every AIGC-looking EXIF value as FoundRecords (carrier ``exif:<Tag>``)."""
    return [
        FoundRecord.from_raw(f"exif:{hit.tag}", hit.text, problems=list(hit.problems))
        for hit in find_aigc(tiff)
    ]
