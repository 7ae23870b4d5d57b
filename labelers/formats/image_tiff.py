"""TIFF at IFD level: the record goes into the XMP tag 700 of IFD0 (labeling.md §3.4).

Writing never moves existing data: the merged packet and a copy of IFD0 (with tag 700 set,
type 7 as labeling.md notes) are appended at the end of the file and the header is pointed at
the new IFD0. All other offsets stay valid, the next-IFD chain (multi-page files) is kept, and
the old packet bytes are zero-filled so that no stale copy of a record stays in the file.
EXIF-style AIGC copies (ImageDescription, XPComment, Exif UserComment) are zero-filled in place.
Classic TIFF only; BigTIFF is refused.
"""

from __future__ import annotations

import struct

from ..errors import CorruptFileError, UnsupportedMediaError
from . import image_exif, xmp
from .base import FoundRecord

__all__ = ["dimensions", "is_tiff", "read", "write"]

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_XMP_TAG = 700
_MAX_ENTRIES = 4096


def is_tiff(data: bytes) -> bool:
    """True for classic or BigTIFF headers (BigTIFF is sniffed to refuse it clearly)."""
    return data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _header(data: bytes) -> tuple[str, int]:
    if data[:4] in (b"II+\x00", b"MM\x00+"):
        raise UnsupportedMediaError("BigTIFF is not supported")
    if data[:4] == b"II*\x00":
        endian = "<"
    elif data[:4] == b"MM\x00*":
        endian = ">"
    else:
        raise CorruptFileError("not a TIFF file (bad header)")
    if len(data) < 8:
        raise CorruptFileError("TIFF is truncated (header)")
    return endian, struct.unpack_from(endian + "I", data, 4)[0]


def _ifd(data: bytes, endian: str, offset: int) -> tuple[list[bytes], int]:
    """Raw 12-byte entries of the IFD at ``offset`` and its next-IFD pointer."""
    if offset < 8 or offset + 2 > len(data):
        raise CorruptFileError("TIFF IFD offset points outside the file")
    (count,) = struct.unpack_from(endian + "H", data, offset)
    end = offset + 2 + 12 * count + 4
    if count == 0 or count > _MAX_ENTRIES or end > len(data):
        raise CorruptFileError("TIFF IFD is truncated or damaged")
    entries = [data[offset + 2 + 12 * i : offset + 14 + 12 * i] for i in range(count)]
    return entries, struct.unpack_from(endian + "I", data, end - 4)[0]


def _span(data: bytes, endian: str, entry: bytes, ifd_entry_at: int) -> tuple[int, int]:
    _tag, typ, count = struct.unpack(endian + "HHI", entry[:8])
    size = _TYPE_SIZES.get(typ, 1) * count
    at = ifd_entry_at + 8 if size <= 4 else struct.unpack(endian + "I", entry[8:12])[0]
    if at + size > len(data):
        raise CorruptFileError("TIFF tag value runs past the end of the file")
    return at, size


def _ifd0(data: bytes) -> tuple[str, int, list[bytes], int]:
    endian, offset = _header(data)
    entries, next_ifd = _ifd(data, endian, offset)
    return endian, offset, entries, next_ifd


def dimensions(data: bytes) -> tuple[int, int]:
    """``(width, height)`` of the first page, from IFD0 tags 256/257."""
    endian, _, entries, _ = _ifd0(data)
    found: dict[int, int] = {}
    for entry in entries:
        tag, typ = struct.unpack(endian + "HH", entry[:4])
        if tag in (256, 257):
            fmt = "H" if typ == 3 else "I"
            found[tag] = struct.unpack_from(endian + fmt, entry, 8)[0]
    width, height = found.get(256, 0), found.get(257, 0)
    if width == 0 or height == 0:
        raise CorruptFileError(f"TIFF has invalid dimensions {width}x{height}")
    _check_image_data(data, endian, entries)
    return width, height


def _numbers(data: bytes, endian: str, entry: bytes, entry_at: int) -> list[int]:
    typ, count = struct.unpack(endian + "HI", entry[2:8])
    if typ not in (3, 4):
        raise CorruptFileError("TIFF strip/tile tag has an unexpected type")
    at, size = _span(data, endian, entry, entry_at)
    fmt = "H" if typ == 3 else "I"
    return list(struct.unpack_from(f"{endian}{count}{fmt}", data, at))


def _check_image_data(data: bytes, endian: str, entries: list[bytes]) -> None:
    """Every strip or tile of the first page lies inside the file (truncation check)."""
    _, offset = _header(data)
    values: dict[int, list[int]] = {}
    for i, entry in enumerate(entries):
        tag = struct.unpack(endian + "H", entry[:2])[0]
        if tag in (273, 279, 324, 325):
            values[tag] = _numbers(data, endian, entry, offset + 2 + 12 * i)
    for offsets_tag, counts_tag in ((273, 279), (324, 325)):
        if offsets_tag in values:
            counts = values.get(counts_tag, [])
            if len(counts) != len(values[offsets_tag]):
                raise CorruptFileError("TIFF strip/tile offsets and byte counts disagree")
            if any(o + c > len(data) for o, c in zip(values[offsets_tag], counts, strict=True)):
                raise CorruptFileError("TIFF is truncated (image data past the end of the file)")
            return
    raise CorruptFileError("TIFF has no strip or tile offsets")


def _xmp_span(data: bytes) -> tuple[int, int] | None:
    endian, offset, entries, _ = _ifd0(data)
    for i, entry in enumerate(entries):
        if struct.unpack(endian + "H", entry[:2])[0] == _XMP_TAG:
            return _span(data, endian, entry, offset + 2 + 12 * i)
    return None


def read(data: bytes) -> list[FoundRecord]:
    """Every AIGC carrier: XMP tag 700 and EXIF-style tags of the file itself."""
    dimensions(data)
    found: list[FoundRecord] = []
    span = _xmp_span(data)
    if span is not None:
        found += xmp.records_from_packet(data[span[0] : span[0] + span[1]])
    found += image_exif.records_from_exif(data)
    return found


def write(data: bytes, json_text: str, label: str) -> bytes:
    """The TIFF with exactly one AIGC record in its IFD0 XMP tag; nothing else moves."""
    dimensions(data)
    endian, ifd_offset, entries, next_ifd = _ifd0(data)
    span = _xmp_span(data)
    if span is not None and _is_our_tail(data, span, ifd_offset, len(entries)):
        # Our own earlier write: drop the appended packet and IFD0 instead of appending again,
        # so relabeling is deterministic (and the content hash of a signed label stable).
        old = data[span[0] : span[0] + span[1]]
        data = data[: span[0]]
        out = bytearray(image_exif.blank(data, image_exif.find_aigc(data)))
        try:
            packet = xmp.merge_packet(old, json_text, label=label)
        except xmp.XmpError as exc:
            raise CorruptFileError(f"existing XMP cannot be merged: {exc}") from None
        return _append(out, endian, packet, entries, next_ifd)
    out = bytearray(image_exif.blank(data, image_exif.find_aigc(data)))
    try:
        if span is None:
            packet = xmp.new_packet(json_text, digital_source=label == "1")
        else:
            old = data[span[0] : span[0] + span[1]]
            packet = xmp.merge_packet(old, json_text, label=label)
            out[span[0] : span[0] + span[1]] = bytes(span[1])
    except xmp.XmpError as exc:
        raise CorruptFileError(f"existing XMP cannot be merged: {exc}") from None
    return _append(out, endian, packet, entries, next_ifd)


def _is_our_tail(data: bytes, span: tuple[int, int], ifd_offset: int, count: int) -> bool:
    start, size = span
    return (
        start % 2 == 0
        and ifd_offset == start + size + (size & 1)
        and ifd_offset + 2 + 12 * count + 4 == len(data)
    )


def _append(out: bytearray, endian: str, packet: bytes, entries: list[bytes],
            next_ifd: int) -> bytes:
    if len(out) % 2:
        out += b"\x00"
    packet_at = len(out)
    out += packet
    if len(out) % 2:
        out += b"\x00"
    xmp_entry = struct.pack(endian + "HHII", _XMP_TAG, 7, len(packet), packet_at)
    kept = [e for e in entries if struct.unpack(endian + "H", e[:2])[0] != _XMP_TAG]
    new_entries = sorted([*kept, xmp_entry], key=lambda e: struct.unpack(endian + "H", e[:2])[0])
    ifd_at = len(out)
    if ifd_at + 6 + 12 * len(new_entries) > 2**32:
        raise UnsupportedMediaError("TIFF would exceed 4 GiB")
    out += struct.pack(endian + "H", len(new_entries))
    # An inline value (<= 4 bytes) lives inside its entry and moves with it; an offset value
    # stays where it is, so copying the entries verbatim keeps every tag valid.
    out += b"".join(new_entries)
    out += struct.pack(endian + "I", next_ifd)
    out[4:8] = struct.pack(endian + "I", ifd_at)
    return bytes(out)
