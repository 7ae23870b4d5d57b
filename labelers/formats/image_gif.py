"""GIF at block level: the record goes into the XMP Application Extension ("XMP DataXMP").

XMP in GIF (Adobe XMP spec part 3): application extension with identifier ``XMP Data`` and
authentication code ``XMP``, then the UTF-8 packet written *raw* (not as sub-blocks), then a
258-byte "magic trailer" (0x01, 0xFF, 0xFE, ... 0x00, 0x00) that lets a reader skipping
sub-blocks land on the block terminator. An existing XMP extension is merged in place; a new
one goes right after the header and global colour table, before any frame. The header is
upgraded to ``GIF89a`` (extensions need it). Image data is copied byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CorruptFileError
from . import xmp
from .base import FoundRecord

__all__ = ["Block", "dimensions", "frame_count", "parse", "read", "write"]

XMP_APP = b"\x21\xff\x0bXMP DataXMP"
MAGIC_TRAILER = bytes([1, *range(255, -1, -1), 0])


@dataclass(slots=True)
class Block:
    """A top-level GIF block: kind (``"ext"``, ``"image"``) and its raw bytes."""

    kind: str
    raw: bytes


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while True:
        if pos >= len(data):
            raise CorruptFileError("GIF is truncated inside a data sub-block")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def parse(data: bytes) -> tuple[bytes, list[Block]]:
    """``(header incl. screen descriptor and global colour table, blocks)``."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise CorruptFileError("not a GIF file (bad signature)")
    flags = data[10]
    pos = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    if pos > len(data):
        raise CorruptFileError("GIF is truncated inside the global colour table")
    header, blocks = data[:pos], []
    while True:
        if pos >= len(data):
            raise CorruptFileError("GIF is truncated (no trailer)")
        start, intro = pos, data[pos]
        if intro == 0x3B:
            break
        if intro == 0x21:
            pos = _skip_sub_blocks(data, pos + 2)
            blocks.append(Block("ext", data[start:pos]))
        elif intro == 0x2C:
            if pos + 10 > len(data):
                raise CorruptFileError("GIF image descriptor is truncated")
            local = data[pos + 9]
            pos += 10 + (3 * (2 << (local & 7)) if local & 0x80 else 0) + 1  # + LZW code size
            pos = _skip_sub_blocks(data, pos)
            blocks.append(Block("image", data[start:pos]))
        else:
            raise CorruptFileError(f"GIF has an unknown block 0x{intro:02X} at byte {pos}")
    if not any(b.kind == "image" for b in blocks):
        raise CorruptFileError("GIF has no image")
    width, height = dimensions_of(header)
    if width == 0 or height == 0:
        raise CorruptFileError(f"GIF has invalid dimensions {width}x{height}")
    return header, blocks


def dimensions_of(header: bytes) -> tuple[int, int]:
    """Logical screen ``(width, height)``."""
    return int.from_bytes(header[6:8], "little"), int.from_bytes(header[8:10], "little")


def dimensions(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from the logical screen descriptor, without decoding."""
    return dimensions_of(parse(data)[0])


def frame_count(data: bytes) -> int:
    """Number of image blocks (frames)."""
    return sum(b.kind == "image" for b in parse(data)[1])


def _packet(block: Block) -> bytes | None:
    if block.kind != "ext" or not block.raw.startswith(XMP_APP):
        return None
    body = block.raw[len(XMP_APP) :]
    if body.endswith(MAGIC_TRAILER):
        return body[: -len(MAGIC_TRAILER)]
    return body.rstrip(b"\x00")  # a writer without the trailer: best effort


def _xmp_block(packet: bytes) -> Block:
    if b"\x00" in packet:
        raise CorruptFileError("XMP packet for GIF must not contain NUL bytes")
    return Block("ext", XMP_APP + packet + MAGIC_TRAILER)


def read(data: bytes) -> list[FoundRecord]:
    """Every AIGC record in the GIF's XMP extension(s)."""
    found: list[FoundRecord] = []
    for block in parse(data)[1]:
        packet = _packet(block)
        if packet is not None:
            found += xmp.records_from_packet(packet)
    return found


def write(data: bytes, json_text: str, label: str) -> bytes:
    """The GIF with exactly one AIGC record in its XMP application extension."""
    header, blocks = parse(data)
    out: list[Block] = []
    merged = False
    for block in blocks:
        packet = _packet(block)
        if packet is None:
            out.append(block)
            continue
        try:
            packet = xmp.merge_packet(packet, None if merged else json_text, label=label)
        except xmp.XmpError as exc:
            raise CorruptFileError(f"existing XMP cannot be merged: {exc}") from None
        out.append(_xmp_block(packet))
        merged = True
    if not merged:
        out.insert(0, _xmp_block(xmp.new_packet(json_text, digital_source=label == "1")))
    return b"GIF89a" + header[6:] + b"".join(b.raw for b in out) + b"\x3b"
