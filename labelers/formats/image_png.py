"""PNG at chunk level: read every AIGC carrier, write the record as XMP ``iTXt`` before IDAT.

Carrier (PG-IMG, labeling.md §3.4): ``iTXt`` keyword ``XML:com.adobe.xmp``, uncompressed,
before the first ``IDAT`` (we put a new one right after ``IHDR``, as ExifTool does; an existing
one before IDAT is updated where it is). Also read: ``tEXt``/``zTXt``/``iTXt`` chunks whose
keyword contains ``AIGC`` (PG-IMG Annex B, Doubao raw JSON) and EXIF in ``eXIf``. On writing,
those alternative copies are removed (text chunks) or zero-filled (EXIF) so that one record is
left; the caller has carried their fields into the new record. Pixels (IDAT) are never touched.
Every chunk CRC is checked on reading; a bad CRC, a chunk running past the end or a missing
IEND is a corrupt file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ..errors import CorruptFileError
from . import image_exif, xmp
from .base import FoundRecord

__all__ = ["SIGNATURE", "Chunk", "build", "dimensions", "is_animated", "parse", "read", "write"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
MAX_TEXT = 16 * 1024 * 1024  # decompressed zTXt/iTXt limit (zlib bombs)
MAX_DIMENSION = 2**31 - 1


@dataclass(slots=True)
class Chunk:
    """One PNG chunk: 4-byte type and data (the CRC is recomputed when building)."""

    type: bytes
    data: bytes


def parse(data: bytes) -> list[Chunk]:
    """All chunks of a PNG; raises CorruptFileError for a truncated or damaged file."""
    if not data.startswith(SIGNATURE):
        raise CorruptFileError("not a PNG file (bad signature)")
    chunks: list[Chunk] = []
    pos = len(SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise CorruptFileError("PNG is truncated (no IEND chunk)")
        length, ctype = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if length > 2**31 - 1 or end > len(data):
            raise CorruptFileError(f"PNG chunk {ctype!r} runs past the end of the file")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(ctype + body) != crc:
            raise CorruptFileError(f"PNG chunk {ctype!r} has a bad CRC")
        chunks.append(Chunk(ctype, body))
        pos = end
        if ctype == b"IEND":
            break
    if chunks[0].type != b"IHDR" or len(chunks[0].data) != 13:
        raise CorruptFileError("PNG does not start with a valid IHDR chunk")
    if not any(c.type == b"IDAT" for c in chunks):
        raise CorruptFileError("PNG has no image data (IDAT)")
    width, height = struct.unpack_from(">II", chunks[0].data)
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise CorruptFileError(f"PNG has invalid dimensions {width}x{height}")
    return chunks


def build(chunks: list[Chunk]) -> bytes:
    """Serialise chunks with fresh lengths and CRCs."""
    out = [SIGNATURE]
    for c in chunks:
        out.append(struct.pack(">I4s", len(c.data), c.type))
        out.append(c.data)
        out.append(struct.pack(">I", zlib.crc32(c.type + c.data)))
    return b"".join(out)


def dimensions(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from IHDR, without decoding pixels."""
    chunks = parse(data)
    return struct.unpack_from(">II", chunks[0].data)


def is_animated(data: bytes) -> bool:
    """True for APNG (an ``acTL`` chunk before IDAT)."""
    return any(c.type == b"acTL" for c in parse(data))


def _inflate(blob: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(blob, MAX_TEXT)
    except zlib.error as exc:
        raise CorruptFileError(f"PNG text chunk does not decompress: {exc}") from None
    if inflater.unconsumed_tail:
        raise CorruptFileError(f"PNG text chunk expands beyond {MAX_TEXT} bytes")
    return out


def _text_chunk(c: Chunk) -> tuple[bytes, bytes, bool] | None:
    """``(keyword, text bytes, is_utf8)`` of a tEXt/zTXt/iTXt chunk, else None."""
    if c.type not in (b"tEXt", b"zTXt", b"iTXt") or b"\x00" not in c.data:
        return None
    keyword, _, rest = c.data.partition(b"\x00")
    if c.type == b"tEXt":
        return keyword, rest, False
    if c.type == b"zTXt":
        return keyword, _inflate(rest[1:]), False
    if len(rest) < 2:
        raise CorruptFileError("PNG iTXt chunk is truncated")
    compressed, rest = rest[0], rest[2:]
    parts = rest.split(b"\x00", 2)
    if len(parts) != 3:
        raise CorruptFileError("PNG iTXt chunk is truncated")
    text = parts[2]
    return keyword, _inflate(text) if compressed else text, True


def _is_aigc_keyword(keyword: bytes) -> bool:
    return b"aigc" in keyword.lower()


def read(data: bytes) -> list[FoundRecord]:
    """Every AIGC carrier in the PNG (XMP, AIGC text chunks, eXIf), in file order."""
    found: list[FoundRecord] = []
    for c in parse(data):
        if c.type == b"eXIf":
            found += image_exif.records_from_exif(c.data)
            continue
        text = _text_chunk(c)
        if text is None:
            continue
        keyword, payload, utf8 = text
        if keyword == XMP_KEYWORD:
            found += xmp.records_from_packet(payload)
        elif _is_aigc_keyword(keyword):
            problems = []
            if not utf8 and any(b > 0x7E for b in payload):
                problems.append(f"PNG {c.type.decode()}: non-ASCII bytes (Latin-1 chunk)")
            raw = payload.decode("utf-8" if utf8 else "latin-1", "replace")
            found.append(FoundRecord.from_raw(f"png:{c.type.decode()}", raw, problems=problems))
    return found


def _xmp_chunk(packet: bytes) -> Chunk:
    return Chunk(b"iTXt", XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + packet)


def write(data: bytes, json_text: str, label: str) -> bytes:
    """The PNG with exactly one AIGC record, in an XMP iTXt chunk before IDAT."""
    chunks = parse(data)
    first_idat = next(i for i, c in enumerate(chunks) if c.type == b"IDAT")
    out: list[Chunk] = []
    placed_at: int | None = None
    merged: bytes | None = None
    for index, c in enumerate(chunks):
        if c.type == b"eXIf":
            hits = image_exif.find_aigc(c.data)
            out.append(Chunk(c.type, image_exif.blank(c.data, hits)) if hits else c)
            continue
        text = _text_chunk(c)
        if text is None:
            out.append(c)
            continue
        keyword, payload, _ = text
        if keyword == XMP_KEYWORD:
            try:
                if merged is None:
                    merged = xmp.merge_packet(payload, json_text, label=label)
                    if index < first_idat:
                        placed_at = len(out)
                        out.append(_xmp_chunk(merged))
                else:  # a second XMP packet (invalid, but seen): keep it minus AIGC
                    out.append(_xmp_chunk(xmp.merge_packet(payload, None)))
            except xmp.XmpError as exc:
                raise CorruptFileError(f"existing XMP cannot be merged: {exc}") from None
        elif not _is_aigc_keyword(keyword):
            out.append(c)
    if merged is None:
        merged = xmp.new_packet(json_text, digital_source=label == "1")
    if placed_at is None:
        out.insert(1, _xmp_chunk(merged))
    return build(out)
