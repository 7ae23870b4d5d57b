"""WebP at RIFF-chunk level: the record goes into the ``XMP `` chunk with the VP8X XMP flag.

A simple WebP (one ``VP8 ``/``VP8L`` chunk) is turned into the extended form by adding a
``VP8X`` header (canvas size from the bitstream header, alpha flag from VP8L) so that it may
carry metadata. An existing ``XMP `` chunk is merged in place; a new one is appended after the
image data and EXIF, as the container spec orders them. The RIFF size and odd-size padding are
recomputed; image chunks are copied byte for byte. EXIF AIGC copies are zero-filled in place.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import CorruptFileError
from . import image_exif, xmp
from .base import FoundRecord

__all__ = ["Chunk", "build", "dimensions", "is_animated", "parse", "read", "write"]

_XMP_FLAG = 0x04
_EXIF_FLAG = 0x08
_ALPHA_FLAG = 0x10
_ANIM_FLAG = 0x02


@dataclass(slots=True)
class Chunk:
    """One RIFF chunk: fourcc and data (padding is added when building)."""

    fourcc: bytes
    data: bytes


def parse(data: bytes) -> list[Chunk]:
    """The chunks of a WebP file; raises CorruptFileError when truncated or damaged."""
    if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise CorruptFileError("not a WebP file (no RIFF/WEBP header)")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = 8 + riff_size
    if end > len(data):
        raise CorruptFileError("WebP is truncated (RIFF size exceeds the file)")
    chunks: list[Chunk] = []
    pos = 12
    while pos < end:
        if pos + 8 > end:
            raise CorruptFileError("WebP chunk header runs past the RIFF end")
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        if pos + 8 + size > end:
            raise CorruptFileError(f"WebP chunk {fourcc!r} runs past the RIFF end")
        chunks.append(Chunk(fourcc, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    if not chunks or chunks[0].fourcc not in (b"VP8 ", b"VP8L", b"VP8X"):
        raise CorruptFileError("WebP has no VP8/VP8L/VP8X chunk first")
    dimensions_of(chunks)
    return chunks


def build(chunks: list[Chunk]) -> bytes:
    """Serialise chunks with sizes, padding and the RIFF header."""
    body = b"".join(
        struct.pack("<4sI", c.fourcc, len(c.data)) + c.data + (b"\x00" if len(c.data) & 1 else b"")
        for c in chunks
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _bitstream_size(chunk: Chunk) -> tuple[int, int, bool]:
    """``(width, height, has_alpha)`` of a VP8/VP8L chunk."""
    d = chunk.data
    if chunk.fourcc == b"VP8 ":
        if len(d) < 10 or d[3:6] != b"\x9d\x01\x2a":
            raise CorruptFileError("WebP VP8 bitstream header is damaged")
        width, height = struct.unpack_from("<HH", d, 6)
        return width & 0x3FFF, height & 0x3FFF, False
    if len(d) < 5 or d[0] != 0x2F:
        raise CorruptFileError("WebP VP8L bitstream header is damaged")
    (bits,) = struct.unpack_from("<I", d, 1)
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)


def dimensions_of(chunks: list[Chunk]) -> tuple[int, int]:
    """Canvas ``(width, height)``."""
    first = chunks[0]
    if first.fourcc == b"VP8X":
        if len(first.data) < 10:
            raise CorruptFileError("WebP VP8X chunk is truncated")
        width = int.from_bytes(first.data[4:7], "little") + 1
        height = int.from_bytes(first.data[7:10], "little") + 1
    else:
        width, height, _ = _bitstream_size(first)
    if width == 0 or height == 0:
        raise CorruptFileError(f"WebP has invalid dimensions {width}x{height}")
    return width, height


def dimensions(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from the headers, without decoding."""
    return dimensions_of(parse(data))


def is_animated(data: bytes) -> bool:
    """True when the VP8X animation flag is set."""
    first = parse(data)[0]
    return first.fourcc == b"VP8X" and bool(first.data[0] & _ANIM_FLAG)


def _exif_tiff(chunk: Chunk) -> tuple[bytes, bytes]:
    """``(prefix, tiff)``: some writers put an ``Exif\\0\\0`` header in the chunk."""
    prefix = b"Exif\x00\x00" if chunk.data.startswith(b"Exif\x00\x00") else b""
    return prefix, chunk.data[len(prefix) :]


def read(data: bytes) -> list[FoundRecord]:
    """Every AIGC carrier in the WebP: ``XMP `` chunk(s) and EXIF."""
    found: list[FoundRecord] = []
    for c in parse(data):
        if c.fourcc == b"XMP ":
            found += xmp.records_from_packet(c.data)
        elif c.fourcc == b"EXIF":
            found += image_exif.records_from_exif(_exif_tiff(c)[1])
    return found


def write(data: bytes, json_text: str, label: str) -> bytes:
    """The WebP with exactly one AIGC record in its ``XMP `` chunk, VP8X flag set."""
    chunks = parse(data)
    if chunks[0].fourcc != b"VP8X":
        width, height, alpha = _bitstream_size(chunks[0])
        header = bytes((_ALPHA_FLAG if alpha else 0, 0, 0, 0))
        header += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        chunks.insert(0, Chunk(b"VP8X", header))
    out: list[Chunk] = []
    merged = False
    for c in chunks:
        if c.fourcc == b"XMP ":
            try:
                packet = xmp.merge_packet(c.data, None if merged else json_text, label=label)
            except xmp.XmpError as exc:
                raise CorruptFileError(f"existing XMP cannot be merged: {exc}") from None
            out.append(Chunk(c.fourcc, packet))
            merged = True
        elif c.fourcc == b"EXIF":
            prefix, tiff = _exif_tiff(c)
            hits = image_exif.find_aigc(tiff)
            out.append(Chunk(c.fourcc, prefix + image_exif.blank(tiff, hits)) if hits else c)
        else:
            out.append(c)
    if not merged:
        at = len(out)
        while at > 1 and out[at - 1].fourcc not in (b"VP8 ", b"VP8L", b"ALPH", b"ANMF", b"EXIF"):
            at -= 1
        out.insert(at, Chunk(b"XMP ", xmp.new_packet(json_text, digital_source=label == "1")))
    flags = out[0].data[0] | _XMP_FLAG
    if any(c.fourcc == b"EXIF" for c in out):
        flags |= _EXIF_FLAG
    out[0] = Chunk(b"VP8X", bytes((flags,)) + out[0].data[1:])
    return build(out)
