"""Animated GIF, WebP and APNG: the label on every frame, frame timing and loop count kept.

Frames are read back by Pillow and, for GIF and APNG, counted and timed by ffprobe (an
independent decoder); OCR reads the label on every frame."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labelers import LabelSettings, inspect_file, label_file
from labelers.errors import MediaLimitError

from .doc_support import PRODUCER
from .image_support import gradient, ocr

DURATIONS = [100, 250, 400]
COLOURS = [(200, 40, 40), (40, 160, 60), (30, 60, 200)]


def animation(fmt: str, size: tuple[int, int] = (320, 240), loop: int = 3) -> bytes:
    frames = []
    for i, colour in enumerate(COLOURS):
        frame = gradient(*size, seed=i)
        frame.paste(colour, (20 + 40 * i, 20, 60 + 40 * i, 60))  # moving square
        frames.append(frame)
    buf = io.BytesIO()
    options = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=DURATIONS,
                   loop=loop, **options)
    return buf.getvalue()


def frames_of(data: bytes) -> list[tuple[Image.Image, int]]:
    image = Image.open(io.BytesIO(data))
    out = []
    for i in range(image.n_frames):
        image.seek(i)
        out.append((image.convert("RGB"), image.info.get("duration")))
    return out


@pytest.mark.parametrize(("fmt", "media_type"), [("GIF", "image/gif"), ("WEBP", "image/webp"),
                                                 ("PNG", "image/png")])
def test_every_frame_labeled_timing_and_loop_kept(fmt: str, media_type: str) -> None:
    src = animation(fmt)
    out = label_file(src, settings=LabelSettings(PRODUCER))
    assert out.explicit and out.media_type == media_type
    frames = frames_of(out.data)
    assert [d for _, d in frames] == DURATIONS
    assert Image.open(io.BytesIO(out.data)).info.get("loop") == 3
    for index, (frame, _) in enumerate(frames):
        buf = io.BytesIO()
        frame.save(buf, "PNG")
        assert any("AI生成" in t for t, _ in ocr(buf.getvalue())), (fmt, index)
        # the moving square is still where that frame put it (content kept, frame order kept)
        x = 40 + 40 * index
        assert np.abs(np.asarray(frame)[40, x].astype(int) - COLOURS[index]).max() < 40
    report = inspect_file(out.data)
    assert report.compliant, report.problems


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
@pytest.mark.parametrize("fmt", ["GIF", "PNG"])
def test_ffprobe_sees_the_same_frames_and_durations(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"a.{fmt.lower()}"
    path.write_bytes(label_file(animation(fmt), settings=LabelSettings(PRODUCER)).data)
    done = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_frames",
                           "-show_entries", "frame=duration_time,pkt_duration_time", "-of",
                           "json", str(path)], check=True, capture_output=True)
    frames = json.loads(done.stdout)["frames"]
    assert len(frames) == 3
    got = [float(f.get("duration_time") or f.get("pkt_duration_time")) for f in frames]
    assert got == pytest.approx([d / 1000 for d in DURATIONS], abs=0.011)


def test_frame_bomb_refused() -> None:
    src = animation("GIF", size=(200, 150))
    with pytest.raises(MediaLimitError, match="decodes to more than"):
        label_file(src, settings=LabelSettings(PRODUCER, max_uncompressed_bytes=200 * 150 * 8))


def test_http_contract_same_content_type(tmp_path: Path) -> None:
    import httpx

    from service.app import create_app
    from service.config import load_settings
    from tests.support.server import serve

    settings = load_settings(data_dir=tmp_path / "var",
                             database=f"sqlite:///{tmp_path / 'r.sqlite3'}",
                             labels={"producer_code": PRODUCER})
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        for fmt, media_type in (("GIF", "image/gif"), ("WEBP", "image/webp"),
                                ("PNG", "image/png")):
            r = client.post("/label", files={"file": ("a.bin", animation(fmt), media_type)})
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == media_type
            assert len(frames_of(r.content)) == 3
            report = client.post("/label/inspect", files={"file": ("a", r.content)}).json()
            assert report["compliant"] and report["media_type"] == media_type
