"""Helpers for the image label tests: sample images, independent readers (ExifTool, pyexiv2,
hand-written PNG/JPEG walkers that share no code with the labelers), OCR."""

from __future__ import annotations

import functools
import io
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
EXIFTOOL_CONFIG = """\
%Image::ExifTool::UserDefined = ('Image::ExifTool::XMP::Main' => { TC260 => { SubDirectory => {
    TagTable => 'Image::ExifTool::UserDefined::TC260' } } });
%Image::ExifTool::UserDefined::TC260 = ( GROUPS => { 0 => 'XMP', 1 => 'XMP-TC260', 2 => 'Image' },
    NAMESPACE => { 'TC260' => 'http://www.tc260.org.cn/ns/AIGC/1.0/' }, WRITABLE => 'string',
    AIGC => { } );
1;
"""


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def gradient(width: int, height: int, seed: int = 0) -> Image.Image:
    """A photo-like RGB test image (gradient plus noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1),
                    (x + y) * 127 // max(1, width + height - 2)], axis=-1)
    arr = np.clip(arr + rng.integers(-20, 20, arr.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def busy(width: int, height: int, seed: int = 1) -> Image.Image:
    """High-contrast random blocks: a worst case for legibility."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 2, (height // 6 + 1, width // 6 + 1)) * 255
    arr = np.kron(blocks, np.ones((6, 6)))[:height, :width].astype(np.uint8)
    return Image.fromarray(np.stack([arr, 255 - arr, arr], axis=-1), "RGB")


@functools.cache
def exiftool_available() -> bool:
    return shutil.which("exiftool") is not None


def exiftool(paths: list[Path], tmp: Path) -> list[dict[str, object]]:
    """ExifTool's view (-G1 -a, JSON) of files, with the TC260 namespace configured."""
    config = tmp / "tc260.cfg"
    config.write_text(EXIFTOOL_CONFIG)
    out = subprocess.run(
        ["exiftool", "-config", str(config), "-j", "-G1", "-a", "-struct", *map(str, paths)],
        capture_output=True, check=True, timeout=60,
    ).stdout
    return json.loads(out)


def pyexiv2_xmp(data: bytes) -> dict[str, object]:
    import pyexiv2

    pyexiv2.registerNs(TC260_NS, "TC260")
    with pyexiv2.ImageData(data) as img:
        return img.read_xmp()


def png_chunks(data: bytes) -> list[tuple[bytes, bytes, bool]]:
    """``(type, data, crc ok)`` of every PNG chunk (independent walker)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        out.append((ctype, body, zlib.crc32(ctype + body) == crc))
        pos += 12 + length
    return out


def jpeg_parts(data: bytes) -> tuple[list[bytes], bytes]:
    """``(header segments as raw bytes, bytes from the first SOS on)`` (independent walker)."""
    assert data[:2] == b"\xff\xd8"
    pos, segments = 2, []
    while data[pos + 1] != 0xDA:
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segments.append(data[pos : pos + 2 + length])
        pos += 2 + length
    return segments, data[pos:]


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    pos, out = 12, []
    while pos < len(data):
        fourcc, size = struct.unpack("<4sI", data[pos : pos + 8])
        out.append((fourcc, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


@functools.cache
def ocr_engine():  # noqa: ANN201 - third-party type
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def ocr(data: bytes) -> list[tuple[str, tuple[float, float, float, float]]]:
    """``(text, (x0, y0, x1, y1))`` of every line the OCR engine reads."""
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[:, :, ::-1].copy()
    result, _ = ocr_engine()(image)
    found = []
    for box, text, _score in result or []:
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        found.append((text, (min(xs), min(ys), max(xs), max(ys))))
    return found
