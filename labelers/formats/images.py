"""Image labels (GB 45438 §5.2 explicit, Annex E implicit): PNG, JPEG, WebP, GIF, TIFF.

The format module interface is described in :mod:`labelers.formats.base`.

- ``sniff``/``media_type`` look at magic bytes only (a wrong file extension cannot mislead
  them). HEIF/AVIF and BMP are not claimed and fall through to UnsupportedMediaError.
- ``write_implicit``: the record (bare JSON) goes into XMP under the TC260 namespace, merged
  into the existing packet, plus ``Iptc4xmpExt:DigitalSourceType`` = trainedAlgorithmicMedia for
  Label "1" (:mod:`.xmp`). Work is done at container level (:mod:`.image_png`,
  :mod:`.image_jpeg`, :mod:`.image_webp`, :mod:`.image_gif`, :mod:`.image_tiff`): pixels and compressed image data are copied byte
  for byte; a JPEG is never re-encoded for metadata.
- ``read_implicit``: every carrier (XMP with any prefix bound to the namespace, element or
  attribute form; PNG text chunks keyed ``AIGC``; EXIF UserComment/ImageDescription/XPComment),
  each copy flagged as a duplicate when there is more than one.
- ``add_explicit``: visible text drawn by :mod:`.image_text`, then re-encoded in the same format
  and mode, keeping ICC profile, EXIF, XMP and other metadata.

Judgement call: alternative carriers (PNG ``tEXt AIGC``, EXIF UserComment) are superseded when
we write: they are removed (text chunks) or zero-filled in place (EXIF) so that exactly one
record remains (GB §6.1 c). The caller (``labelers.api``) is responsible for carrying another
party's fields into the record it passes (propagation) or refusing; this module does not
decide whose label wins.
"""

from __future__ import annotations

from ..errors import UnsupportedMediaError
from ..record import LabelRecord
from ..settings import LabelSettings
from . import image_gif, image_jpeg, image_png, image_text, image_tiff, image_webp
from .base import FoundRecord

__all__ = [
    "add_explicit",
    "dimensions",
    "kind",
    "media_type",
    "read_implicit",
    "sniff",
    "write_implicit",
]

MEDIA_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "tiff": "image/tiff",
}
_CONTAINERS = {
    "png": image_png,
    "jpeg": image_jpeg,
    "webp": image_webp,
    "gif": image_gif,
    "tiff": image_tiff,
}


def _detect(data: bytes) -> str | None:
    if data.startswith(image_png.SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if image_tiff.is_tiff(data):
        return "tiff"
    return None


def kind(data: bytes) -> str:
    """``"png"``, ``"jpeg"``, ``"webp"``, ``"gif"`` or ``"tiff"``; else UnsupportedMediaError."""
    found = _detect(data)
    if found is None:
        raise UnsupportedMediaError(
            "not a supported image (PNG, JPEG, WebP, GIF, TIFF), sniffed by content"
        )
    return found


def sniff(data: bytes) -> bool:
    """True for PNG, JPEG, WebP, GIF and TIFF content."""
    return _detect(data) is not None


def media_type(data: bytes) -> str:
    """``image/png``, ``image/jpeg``, ``image/webp``, ``image/gif`` or ``image/tiff``."""
    return MEDIA_TYPES[kind(data)]


def dimensions(data: bytes) -> tuple[int, int]:
    """``(width, height)`` read from the headers, without decoding pixels."""
    return _CONTAINERS[kind(data)].dimensions(data)


def write_implicit(data: bytes, record: LabelRecord) -> bytes:
    """Return the image with exactly one AIGC record, in XMP; pixels untouched.

    Raises ``CorruptFileError`` for damaged files or an existing XMP packet that cannot be
    parsed (we never drop another party's metadata to make room).
    """
    return _CONTAINERS[kind(data)].write(data, record.to_json(), record.label)


def read_implicit(data: bytes) -> list[FoundRecord]:
    """Every AIGC record in the image, parsed leniently; duplicates flagged on each copy."""
    found = _CONTAINERS[kind(data)].read(data)
    if len(found) > 1:
        for item in found:
            item.problems.append(
                f"duplicate: {len(found)} AIGC records in one file (GB 45438 §6.1 c) allows one)"
            )
    return found


def add_explicit(data: bytes, settings: LabelSettings) -> bytes:
    """Draw ``settings.explicit_text`` on an edge or corner (glyph height >= 5% of the shortest
    side), re-encoded in the same format with metadata kept.

    Raises ``MissingFontError`` without a CJK font, ``CorruptFileError`` for damaged or hostile
    files (dimensions checked from the header before decoding), ``UnsupportedMediaError`` for
    animated images or images too small for a legible label. Never returns an unlabeled image.
    """
    return image_text.label_image(kind(data), data, settings)
