"""JPEG at segment level: the record goes into the standard XMP APP1 segment, losslessly.

Only the header segments before the first SOS are parsed; from SOS on, the bytes are copied
unchanged, so the image is never re-encoded for implicit labeling (labeling.md §11 check 8).

- Standard XMP: APP1 ``http://ns.adobe.com/xap/1.0/\\0`` + packet, at most 65 502 bytes of
  packet. An existing one is merged and replaced in place; a new one goes after the leading
  APP0 (JFIF/JFXX) and APP1 Exif segments, before ICC (APP2), DQT and SOF, as ExifTool does.
- Extended XMP (APP1 ``http://ns.adobe.com/xmp/extension/\\0``) is read and kept as it is. An AIGC
  property inside extended XMP is refused for writing (rewriting the extension means a new
  GUID in the main packet; not supported), and a merged main packet that outgrows one segment
  is refused too, instead of silently splitting it.
- EXIF ``UserComment``/``ImageDescription``/``XPComment`` AIGC copies are zero-filled in place.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import CorruptFileError, UnsupportedMediaError
from . import image_exif, xmp
from .base import FoundRecord

__all__ = ["Segment", "dimensions", "read", "split", "write"]

XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXT_ID = b"http://ns.adobe.com/xmp/extension/\x00"
EXIF_ID = b"Exif\x00\x00"
MAX_XMP = 65502
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_SOF = {*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}


@dataclass(slots=True)
class Segment:
    """A header segment: marker byte and payload (without marker and length)."""

    marker: int
    payload: bytes

    def to_bytes(self) -> bytes:
        """Marker, length and payload as they go into the file."""
        if self.marker in _STANDALONE:
            return bytes((0xFF, self.marker))
        return struct.pack(">BBH", 0xFF, self.marker, len(self.payload) + 2) + self.payload


def split(data: bytes) -> tuple[list[Segment], bytes]:
    """``(header segments, rest from SOS on)``; raises CorruptFileError."""
    if not data.startswith(b"\xff\xd8"):
        raise CorruptFileError("not a JPEG file (no SOI marker)")
    segments: list[Segment] = []
    pos = 2
    while True:
        if pos + 2 > len(data):
            raise CorruptFileError("JPEG is truncated before the image data (no SOS)")
        if data[pos] != 0xFF:
            raise CorruptFileError(f"JPEG marker expected at byte {pos}")
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        if marker in _STANDALONE:
            segments.append(Segment(marker, b""))
            pos += 2
            continue
        if marker in (0xD8, 0xD9):
            raise CorruptFileError("JPEG has no image data (EOI or SOI before SOS)")
        if marker == 0xDA:
            rest = data[pos:]
            if b"\xff\xd9" not in rest:
                raise CorruptFileError("JPEG is truncated (no EOI marker after the image data)")
            return segments, rest
        if pos + 4 > len(data):
            raise CorruptFileError("JPEG is truncated inside a segment header")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > len(data):
            raise CorruptFileError(f"JPEG segment 0x{marker:02X} runs past the end of the file")
        segments.append(Segment(marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length


def dimensions(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from the SOF segment, without decoding."""
    segments, _ = split(data)
    for seg in segments:
        if seg.marker in _SOF:
            if len(seg.payload) < 6:
                raise CorruptFileError("JPEG SOF segment is truncated")
            height, width = struct.unpack_from(">HH", seg.payload, 1)
            if width == 0 or height == 0:
                raise CorruptFileError(f"JPEG has invalid dimensions {width}x{height}")
            return width, height
    raise CorruptFileError("JPEG has no frame header (SOF)")


def _extended_packets(segments: list[Segment]) -> list[bytes]:
    parts: dict[bytes, dict[int, bytes]] = {}
    for seg in segments:
        if seg.marker == 0xE1 and seg.payload.startswith(XMP_EXT_ID):
            body = seg.payload[len(XMP_EXT_ID) :]
            if len(body) < 40:
                continue
            guid, offset = body[:32], struct.unpack_from(">I", body, 36)[0]
            parts.setdefault(guid, {})[offset] = body[40:]
    return [b"".join(chunk for _, chunk in sorted(p.items())) for p in parts.values()]


def read(data: bytes) -> list[FoundRecord]:
    """Every AIGC carrier in the JPEG header: XMP, extended XMP, EXIF."""
    segments, _ = split(data)
    found: list[FoundRecord] = []
    for seg in segments:
        if seg.marker != 0xE1:
            continue
        if seg.payload.startswith(XMP_ID):
            found += xmp.records_from_packet(seg.payload[len(XMP_ID) :])
        elif seg.payload.startswith(EXIF_ID):
            found += image_exif.records_from_exif(seg.payload[len(EXIF_ID) :])
    for packet in _extended_packets(segments):
        found += xmp.records_from_packet(packet, "xmp:extended")
    return found


def write(data: bytes, json_text: str, label: str) -> bytes:
    """The JPEG with exactly one AIGC record in its standard XMP segment; SOS onward unchanged."""
    segments, rest = split(data)
    if any(xmp.find_properties_lenient(p)[0] for p in _extended_packets(segments)):
        raise UnsupportedMediaError(
            "JPEG carries an AIGC property in extended XMP; rewriting extended XMP is not supported"
        )
    out: list[Segment] = []
    merged = False
    for seg in segments:
        if seg.marker == 0xE1 and seg.payload.startswith(XMP_ID):
            packet = seg.payload[len(XMP_ID) :]
            try:
                packet = xmp.merge_packet(packet, None if merged else json_text, label=label)
            except xmp.XmpError as exc:
                raise CorruptFileError(f"existing XMP cannot be merged: {exc}") from None
            out.append(_xmp_segment(packet))
            merged = True
        elif seg.marker == 0xE1 and seg.payload.startswith(EXIF_ID):
            tiff = seg.payload[len(EXIF_ID) :]
            hits = image_exif.find_aigc(tiff)
            out.append(Segment(0xE1, EXIF_ID + image_exif.blank(tiff, hits)) if hits else seg)
        else:
            out.append(seg)
    if not merged:
        at = 0
        while at < len(out) and (
            out[at].marker == 0xE0
            or (out[at].marker == 0xE1 and out[at].payload.startswith(EXIF_ID))
        ):
            at += 1
        packet = xmp.new_packet(json_text, digital_source=label == "1")
        out.insert(at, _xmp_segment(packet))
    return b"\xff\xd8" + b"".join(s.to_bytes() for s in out) + rest


def _xmp_segment(packet: bytes) -> Segment:
    if len(packet) > MAX_XMP:
        raise UnsupportedMediaError(
            f"merged XMP packet is {len(packet)} bytes, more than one JPEG APP1 segment holds "
            f"({MAX_XMP}); extended XMP writing is not supported"
        )
    return Segment(0xE1, XMP_ID + packet)
