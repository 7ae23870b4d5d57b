"""Video labels (TC260-PG-20257A, GB 45438 §5.4 and Annex E): MP4 and QuickTime MOV.

- ``sniff``: an ISO BMFF/QuickTime file (``ftyp``) with a video track; audio-only MP4/M4A
  belongs to :mod:`.audio`, HEIF/AVIF images are not claimed.
- Implicit record: ``moov/udta/meta`` with ``hdlr mdta``, key ``mdtaAIGC`` in ``keys`` and its
  value (bare 7-field JSON, UTF-8) in ``ilst`` — the guide's layout, which ``ffprobe`` shows as
  the format tag ``AIGC``. An existing ``mdta`` meta is updated in place (:mod:`.mp4meta`);
  otherwise one is added. Box sizes and ``stco``/``co64`` offsets are fixed up; the media data
  is not touched.
- Explicit label: :mod:`.video_explicit` (notice at the start, persistent corner mark; one
  re-encode through PyAV's FFmpeg libraries).
- Limits: ``settings.max_bytes``, ``settings.max_video_seconds`` and ``settings.max_pixels``
  (per frame) are checked from the container header before anything is decoded
  (``MediaLimitError``).
"""

from __future__ import annotations

import io
import re

from ..errors import CorruptFileError, MediaLimitError, UnsupportedMediaError
from ..record import LabelRecord
from ..settings import LabelSettings
from . import mp4meta
from .base import FoundRecord

__all__ = ["add_explicit", "check_limits", "media_type", "probe", "read_implicit", "sniff",
           "write_implicit"]

_NOT_VIDEO_BRANDS = (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis", b"M4A ", b"M4B ",
                     b"M4P ", b"crx ")
# hdlr: version/flags, then pre_defined (0 in MP4, "mhlr" in QuickTime), then the handler type
_VIDE = re.compile(rb"hdlr.{8}vide", re.S)


def sniff(data: bytes) -> bool:
    """True for MP4/MOV content with a video track, or without ``moov`` (truncated: refused
    later as corrupt rather than as an unknown format)."""
    if len(data) < 16 or data[4:8] != b"ftyp" or data[8:12] in _NOT_VIDEO_BRANDS:
        return False
    return _VIDE.search(data) is not None or b"moov" not in data


def media_type(data: bytes) -> str:
    return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"


def read_implicit(data: bytes) -> list[FoundRecord]:
    """Every AIGC value in an ``mdta`` meta (``moov/udta/meta`` or ``moov/meta``)."""
    return [FoundRecord.from_raw(carrier, raw) for carrier, raw in mp4meta.read_aigc(data)]


def write_implicit(data: bytes, record: LabelRecord) -> bytes:
    """Exactly one record, in the first ``mdta`` meta (added when the file has none)."""
    _check_boxes(data)
    payload = record.to_json().encode("utf-8")
    out = mp4meta.write_aigc(data, payload)
    return out if out is not None else mp4meta.add_mdta_meta(data, payload)


def _check_boxes(data: bytes) -> None:
    top = mp4meta.boxes(data, 0, len(data))  # CorruptFileError on sizes past the end
    if not any(b.type == b"moov" for b in top):
        raise CorruptFileError("MP4/MOV file without a moov box (truncated or fragmented)")


def probe(data: bytes) -> tuple[float, int, int]:
    """``(duration s, width, height)`` of the first video stream, from the container header."""
    import av

    try:
        with av.open(io.BytesIO(data), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise UnsupportedMediaError("the file has no video stream")
            stream = container.streams.video[0]
            if container.duration is not None:
                seconds = container.duration / 1_000_000
            elif stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = 0.0
            return seconds, stream.codec_context.width, stream.codec_context.height
    except av.error.FFmpegError as exc:
        raise CorruptFileError(f"FFmpeg cannot read the video: {exc}") from exc


def check_limits(data: bytes, settings: LabelSettings) -> None:
    """Size, duration and frame-size limits, before any frame is decoded."""
    if len(data) > settings.max_bytes:
        raise MediaLimitError(f"video is {len(data)} bytes, over the limit of "
                              f"{settings.max_bytes}")
    _check_boxes(data)
    seconds, width, height = probe(data)
    if seconds > settings.max_video_seconds:
        raise MediaLimitError(f"video is {seconds:.1f} s long, over the limit of "
                              f"{settings.max_video_seconds:g} s")
    if width * height > settings.max_pixels:
        raise MediaLimitError(f"video frames of {width}x{height} exceed the limit of "
                              f"{settings.max_pixels} pixels")


def add_explicit(data: bytes, settings: LabelSettings) -> bytes:
    """Notice at the start (>= ``settings.video_notice_seconds``) and a persistent corner mark."""
    from .video_explicit import label_video

    check_limits(data, settings)
    return label_video(data, settings, quicktime=media_type(data) == "video/quicktime")
