"""The explicit video label (GB 45438 §5.4, PG-20257A): notice at the start, mark in a corner.

Judgement calls:

- Two overlays, both drawn with the shipped label font (:mod:`labelers.fonts`): the notice
  ``settings.text_notice`` (本内容由人工智能生成) centred on the frame for the first
  ``settings.video_notice_seconds`` (default 3 s, the GB floor is 2 s at normal speed), and
  ``settings.explicit_text`` (AI生成) in ``settings.image_position`` on every frame, "视频播放
  周边" being the player's job. Both have an inked glyph height of at least
  ``settings.image_text_height`` (6 %) of the shorter side, white on a dark translucent plate
  with a dark halo, so they stay legible over any picture.
- Frames are blended in YUV 4:2:0 (the overlays are grey, so U = V = 128 under any matrix): no
  full-frame RGB round trip. Video is re-encoded once with libx264 (CRF 18, preset veryfast,
  yuv420p) at the source frame timestamps; audio packets are copied unchanged; the container
  (MP4 or MOV) is kept, ``moov`` first (faststart). Container metadata other than AIGC is not
  carried over (the caller writes the record afterwards).
- Odd frame sizes (not encodable as 4:2:0) and streams FFmpeg cannot decode are refused.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import CorruptFileError, UnsupportedMediaError
from ..fonts import find_font
from ..settings import LabelSettings
from .image_text import _overlay, place_label

__all__ = ["Overlay", "label_video", "overlays"]


@dataclasses.dataclass(frozen=True, slots=True)
class Overlay:
    """A grey overlay in YUV terms: luma and alpha at full size, alpha at chroma size."""

    x: int
    y: int
    luma: np.ndarray  # float32, h x w
    alpha: np.ndarray  # float32 0..1, h x w
    chroma_alpha: np.ndarray  # float32 0..1, h/2 x w/2 (x, y even)

    def blend(self, planes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Blend into Y, U, V planes (uint8, modified in place)."""
        y, u, v = planes
        h, w = self.luma.shape
        region = y[self.y:self.y + h, self.x:self.x + w].astype(np.float32)
        region += (self.luma - region) * self.alpha
        y[self.y:self.y + h, self.x:self.x + w] = np.rint(region).astype(np.uint8)
        ch, cw = self.chroma_alpha.shape
        cy, cx = self.y // 2, self.x // 2
        for plane in (u, v):
            part = plane[cy:cy + ch, cx:cx + cw].astype(np.float32)
            part += (128.0 - part) * self.chroma_alpha
            plane[cy:cy + ch, cx:cx + cw] = np.rint(part).astype(np.uint8)


def _to_overlay(layer: Image.Image, x: int, y: int) -> Overlay:
    x, y = x - (x & 1), y - (y & 1)
    w, h = layer.size
    w, h = w + (w & 1), h + (h & 1)
    padded = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    padded.paste(layer, (0, 0))
    rgba = np.asarray(padded, dtype=np.float32)
    grey = rgba[..., :3].mean(axis=2)
    alpha = rgba[..., 3] / 255.0
    luma = 16.0 + grey * (219.0 / 255.0)  # limited range, same for BT.601 and BT.709
    chroma_alpha = alpha.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    return Overlay(x, y, luma.astype(np.float32), alpha.astype(np.float32),
                   chroma_alpha.astype(np.float32))


def overlays(width: int, height: int, settings: LabelSettings) -> tuple[Overlay, Overlay]:
    """``(start notice, corner mark)`` for frames of ``width`` x ``height``."""
    canvas = Image.new("RGB", (width, height), (128, 128, 128))
    mark_font = find_font(settings.font_path, settings.explicit_text)
    mark = place_label(canvas, settings, mark_font)
    mark = dataclasses.replace(mark, plate=True, text_color=(255, 255, 255))
    corner = _to_overlay(_overlay(mark, mark_font), mark.box[0], mark.box[1])
    notice_settings = settings.replace(explicit_text=settings.text_notice)
    notice_font = find_font(settings.font_path, settings.text_notice)
    notice = place_label(canvas, notice_settings, notice_font)
    notice = dataclasses.replace(notice, plate=True, text_color=(255, 255, 255))
    x0, y0, x1, y1 = notice.box
    x = (width - (x1 - x0)) // 2
    y = (height - (y1 - y0)) // 2
    return _to_overlay(_overlay(notice, notice_font), x, y), corner


def _planes(arr: np.ndarray, width: int, height: int) -> tuple[np.ndarray, ...]:
    y = arr[:height]
    chroma = arr[height:].reshape(2, height // 2, width // 2)
    return y, chroma[0], chroma[1]


def label_video(data: bytes, settings: LabelSettings, *, quicktime: bool = False) -> bytes:
    """Re-encode the video with the notice and the corner mark (see module docstring)."""
    import av

    try:
        source = av.open(io.BytesIO(data), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise CorruptFileError(f"FFmpeg cannot read the video: {exc}") from exc
    with source:
        vin = source.streams.video[0]
        width, height = vin.codec_context.width, vin.codec_context.height
        if width % 2 or height % 2 or not width or not height:
            raise UnsupportedMediaError(f"video frames of {width}x{height}: odd or zero sizes "
                                        "cannot be encoded as 4:2:0")
        notice, corner = overlays(width, height, settings)
        # faststart rewrites the file after encoding: FFmpeg needs a real, re-readable file
        with tempfile.TemporaryDirectory(prefix="aigc-video-") as tmp:
            target = Path(tmp) / ("out.mov" if quicktime else "out.mp4")
            _encode(av, source, vin, target, settings, notice, corner, (width, height))
            out = target.read_bytes()
    if not out:
        raise CorruptFileError("the video produced no output")
    return out


def _encode(av: Any, source: Any, vin: Any, target: Path, settings: LabelSettings,
            notice: Overlay, corner: Overlay, size: tuple[int, int]) -> None:
    width, height = size
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    sink = av.open(str(target), mode="w", options={"movflags": "+faststart"})
    with sink:
        vout = sink.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        vout.time_base = vin.time_base
        vout.options = {"crf": "18", "preset": "veryfast"}
        audio = {s.index: sink.add_stream_from_template(s) for s in source.streams.audio}
        time_base = vin.time_base
        first: int | None = None
        last_pts = -1
        try:
            for packet in source.demux(vin, *source.streams.audio):
                if packet.stream.type == "audio":
                    if packet.dts is None:
                        continue
                    packet.stream = audio[packet.stream.index]
                    sink.mux(packet)
                    continue
                for frame in packet.decode():
                    pts = max(frame.pts if frame.pts is not None else last_pts + 1, last_pts + 1)
                    last_pts = pts
                    first = pts if first is None else first
                    arr = frame.to_ndarray(format="yuv420p")
                    planes = _planes(arr, width, height)
                    if float((pts - first) * time_base) < settings.video_notice_seconds:
                        notice.blend(planes)
                    corner.blend(planes)
                    new = av.VideoFrame.from_ndarray(arr, format="yuv420p")
                    new.pts, new.time_base = pts, time_base
                    sink.mux(vout.encode(new))
            sink.mux(vout.encode(None))
        except av.error.FFmpegError as exc:
            raise CorruptFileError(f"FFmpeg cannot decode the video: {exc}") from exc
