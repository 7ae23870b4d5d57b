"""Re-encode a labeled PNG by patching only the scanlines the label changed.

Why (benchmarks/labelers.py, profiled): re-encoding a 1024x1024 PNG through Pillow costs about
four times the zlib compression itself, because Pillow tries all five filters on every row;
the label touches a few percent of the rows. So:

1. inflate the original IDAT stream: the *filtered* scanlines of every row;
2. keep the filtered bytes of every unchanged row as they are (a row's filter depends only on
   itself and the row above, so an unchanged row below an unchanged row stays valid);
3. re-filter the changed rows, and the row right below each, with the Up filter (numpy);
4. compress with zlib at the same level Pillow would use (3), in row-aligned segments run in
   parallel threads: each segment is a raw deflate stream primed with the previous 32 KiB
   (``zdict``) and ended with a sync flush, so the concatenation is one valid zlib stream
   (header + blocks + Adler-32 of the whole).

Only the plain case is patched: non-interlaced, 8-bit grey / grey+alpha / RGB / RGBA, pixels of
the same mode and size, one inflated length matching the header. Anything else returns None
and the caller uses Pillow's encoder. Ancillary chunks are kept by the caller.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from . import image_png

__all__ = ["LEVEL", "patch"]

LEVEL = 3  # as image_codec._PNG_LEVEL
_CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # PNG colour type -> samples per pixel
_MODES = {0: "L", 4: "LA", 2: "RGB", 6: "RGBA"}
_WINDOW = 32 * 1024
_SEGMENT_MIN = 512 * 1024  # below this, one segment (thread overhead is not worth it)
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                   thread_name_prefix="aigc-png")
    return _POOL


def _compress(data: bytes, level: int = LEVEL) -> bytes:
    """One zlib stream of ``data``, compressed in parallel row-independent segments."""
    workers = _pool()._max_workers
    count = max(1, min(workers, len(data) // _SEGMENT_MIN))
    bounds = [len(data) * i // count for i in range(count + 1)]

    def segment(i: int) -> bytes:
        start, end = bounds[i], bounds[i + 1]
        if i:
            comp = zlib.compressobj(level, zlib.DEFLATED, -15,
                                    zdict=data[max(0, start - _WINDOW):start])
        else:
            comp = zlib.compressobj(level, zlib.DEFLATED, -15)
        out = comp.compress(data[start:end])
        return out + comp.flush(zlib.Z_FINISH if i == count - 1 else zlib.Z_SYNC_FLUSH)

    parts = list(_pool().map(segment, range(count))) if count > 1 else [segment(0)]
    header = b"\x78\x5e"  # deflate, 32 KiB window, FLEVEL 1 (fast), check bits valid
    return header + b"".join(parts) + struct.pack(">I", zlib.adler32(data))


def patch(original: bytes, source: Image.Image, labeled: Image.Image) -> bytes | None:
    """The PNG ``original`` with the pixels of ``labeled``; None when not the plain case."""
    chunks = image_png.parse(original)
    ihdr = chunks[0].data
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", ihdr)
    channels = _CHANNELS.get(colour)
    if (channels is None or depth != 8 or interlace or image_png.is_animated(original)
            or source.mode != _MODES[colour] or labeled.mode != source.mode
            or labeled.size != (width, height) or source.size != (width, height)):
        return None
    idat = b"".join(c.data for c in chunks if c.type == b"IDAT")
    stride = 1 + width * channels
    try:
        filtered = zlib.decompress(idat)
    except zlib.error:
        return None
    if len(filtered) != stride * height:
        return None
    old = np.asarray(source).reshape(height, width * channels)
    new = np.asarray(labeled).reshape(height, width * channels)
    changed = np.flatnonzero(np.any(old != new, axis=1))
    if changed.size == 0:
        return original
    rows = np.frombuffer(filtered, dtype=np.uint8).reshape(height, stride).copy()
    redo = np.union1d(changed, changed + 1)
    redo = redo[redo < height]
    above = np.where(redo[:, None] > 0, new[np.maximum(redo - 1, 0)], 0).astype(np.uint8)
    rows[redo, 0] = 2  # Up
    rows[redo, 1:] = new[redo] - above  # uint8 arithmetic wraps mod 256, as the filter wants
    stream = _compress(rows.tobytes())
    first = next(i for i, c in enumerate(chunks) if c.type == b"IDAT")
    kept = [c for c in chunks if c.type != b"IDAT"]
    kept.insert(first, image_png.Chunk(b"IDAT", stream))
    return image_png.build(kept)
