"""The scanline-patching PNG re-encoder: output pixels equal the labeled image exactly, read by
Pillow and by FFmpeg's PNG decoder; parallel segments form one valid zlib stream."""

from __future__ import annotations

import io
import shutil
import subprocess
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from labelers.formats import image_png, png_patch

from .image_support import encode, gradient


def _labeled(image: Image.Image, box: tuple[int, int, int, int], seed: int) -> Image.Image:
    out = image.copy()
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    patch = rng.integers(0, 256, (y1 - y0, x1 - x0, len(image.getbands())), dtype=np.uint8)
    out.paste(Image.fromarray(patch.squeeze(-1) if patch.shape[-1] == 1 else patch,
                              image.mode), (x0, y0))
    return out


@settings(max_examples=40, deadline=None)
@given(mode=st.sampled_from(["L", "LA", "RGB", "RGBA"]), width=st.integers(8, 90),
       height=st.integers(8, 90), data=st.data())
def test_patched_png_decodes_to_the_labeled_pixels(monkeypatch_segments, mode: str, width: int,
                                                   height: int, data: st.DataObject) -> None:
    source = gradient(width, height).convert(mode)
    x0 = data.draw(st.integers(0, width - 1))
    y0 = data.draw(st.integers(0, height - 1))
    box = (x0, y0, data.draw(st.integers(x0 + 1, width)), data.draw(st.integers(y0 + 1, height)))
    original = encode(source, "PNG")
    labeled = _labeled(source, box, data.draw(st.integers(0, 1000)))
    out = png_patch.patch(original, Image.open(io.BytesIO(original)).convert(mode), labeled)
    assert out is not None
    back = Image.open(io.BytesIO(out))
    assert back.mode == mode and np.array_equal(np.asarray(back), np.asarray(labeled))
    idat = b"".join(c.data for c in image_png.parse(out) if c.type == b"IDAT")
    zlib.decompress(idat)  # one valid zlib stream (Adler-32 checked)


@pytest.fixture(scope="module")
def monkeypatch_segments():
    old = png_patch._SEGMENT_MIN
    png_patch._SEGMENT_MIN = 256  # force several parallel segments on small images
    yield
    png_patch._SEGMENT_MIN = old


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_ffmpeg_decodes_the_same_pixels(monkeypatch_segments) -> None:
    source = gradient(300, 200)
    original = encode(source, "PNG")
    labeled = _labeled(source, (200, 150, 290, 190), 7)
    out = png_patch.patch(original, source, labeled)
    done = subprocess.run(["ffmpeg", "-v", "error", "-f", "png_pipe", "-i", "pipe:0", "-f",
                           "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], input=out,
                          capture_output=True, check=True)
    assert done.stdout == np.asarray(labeled).tobytes()


def test_not_the_plain_case_falls_back() -> None:
    palette = gradient(64, 64).convert("P")
    data = encode(palette, "PNG")
    assert png_patch.patch(data, palette, palette) is None
    grey16 = Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 8).astype(np.uint16))
    assert png_patch.patch(encode(grey16, "PNG"), grey16, grey16) is None
    same = gradient(64, 64)
    assert png_patch.patch(encode(same, "PNG"), same, same) == encode(same, "PNG")  # no change
