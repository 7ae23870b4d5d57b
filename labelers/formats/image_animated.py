"""The explicit label on every frame of an animated GIF, WebP or PNG (APNG).

Judgement calls:

- Every frame is decoded as Pillow composites it (disposal and blending applied, full
  canvas), the label is drawn on it, and the animation is re-encoded with the source's
  per-frame durations and loop count. The placement is measured on the first frame and always
  gets its plate (the background under a corner changes from frame to frame).
- GIF frames are re-quantised by Pillow (a palette per frame, transparency kept); WebP stays
  lossless when the source was lossless (VP8L), else quality 90; APNG stays lossless. The ICC
  profile and comments are carried over; the XMP record is written afterwards by the caller.
- Decoded size (frames x width x height x 4) is bounded by ``settings.max_uncompressed_bytes``
  before the first frame is decoded: a small GIF with thousands of frames is a bomb too.
"""

from __future__ import annotations

import dataclasses
import io

from PIL import Image

from ..errors import CorruptFileError, MediaLimitError
from ..fonts import find_font
from ..settings import LabelSettings
from .image_text import _overlay, place_label

__all__ = ["label_animation"]

_FORMATS = {"gif": "GIF", "webp": "WEBP", "png": "PNG"}


def label_animation(kind: str, data: bytes, settings: LabelSettings) -> bytes:
    """``data`` re-encoded with the label on every frame (same format, timing and loop)."""
    font = find_font(settings.font_path, settings.explicit_text)
    try:
        source = Image.open(io.BytesIO(data))
        frames_total = getattr(source, "n_frames", 1)
        width, height = source.size
        if frames_total * width * height * 4 > settings.max_uncompressed_bytes:
            raise MediaLimitError(
                f"animation of {frames_total} frames of {width}x{height} decodes to more than "
                f"{settings.max_uncompressed_bytes} bytes")
        info = dict(source.info)
        frames, durations = [], []
        layer = placement = None
        for index in range(frames_total):
            source.seek(index)
            frame = source.convert("RGBA")
            if placement is None:
                placement = dataclasses.replace(place_label(frame, settings, font), plate=True)
                layer = _overlay(placement, font)
            frame.alpha_composite(layer, placement.box[:2])
            frames.append(frame)
            durations.append(int(source.info.get("duration", info.get("duration", 100)) or 0))
    except (OSError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        if isinstance(exc, MediaLimitError):
            raise
        raise CorruptFileError(f"cannot decode the animation: {exc}") from exc
    options: dict[str, object] = {"save_all": True, "append_images": frames[1:],
                                  "duration": durations}
    if "loop" in info:
        options["loop"] = info["loop"]
    if info.get("icc_profile"):
        options["icc_profile"] = info["icc_profile"]
    if kind == "gif":
        if info.get("comment"):
            options["comment"] = info["comment"]
        options["disposal"] = 2
    elif kind == "webp":
        lossless = b"VP8L" in data
        options.update(lossless=lossless, quality=100 if lossless else 90,
                       background=info.get("background", (0, 0, 0, 0)))
        if not isinstance(options["background"], tuple):
            options["background"] = (0, 0, 0, 0)
    else:
        options.update(disposal=0, blend=0)
    out = io.BytesIO()
    frames[0].save(out, _FORMATS[kind], **options)
    return out.getvalue()
