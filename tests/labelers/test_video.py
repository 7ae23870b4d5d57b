"""MP4/MOV labels (PG-20257A): record read by ffprobe, visible labels read by OCR on frames
that FFmpeg's own command-line tool extracts, audio kept, limits, and the HTTP contract."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from labelers import LabelSettings, inspect_file, label_file, propagate_file
from labelers.errors import CorruptFileError, MediaLimitError
from service.app import create_app
from service.config import load_settings
from tests.support.server import serve

from .doc_support import PRODUCER, PROPAGATOR
from .image_support import ocr

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
SETTINGS = LabelSettings(producer_code=PRODUCER)


def make_video(tmp: Path, *, seconds: float = 4.0, size: str = "640x360", fmt: str = "mp4",
               extra: tuple[str, ...] = ()) -> bytes:
    out = tmp / f"src.{fmt}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate=25:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", "-c:a", "aac", "-shortest", *extra, str(out)], check=True)
    return out.read_bytes()


def ffprobe(path: Path) -> dict:
    done = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of",
                           "json", str(path)], check=True, capture_output=True)
    return json.loads(done.stdout)


def frame_at(path: Path, seconds: float) -> bytes:
    done = subprocess.run(["ffmpeg", "-v", "error", "-ss", str(seconds), "-i", str(path),
                           "-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "-"],
                          check=True, capture_output=True)
    return done.stdout


def audio_hash(path: Path) -> str:
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-c",
                           "copy", "-f", "streamhash", "-"], check=True, capture_output=True)
    return done.stdout.decode()


@pytest.fixture(scope="module")
def labeled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    tmp = tmp_path_factory.mktemp("video")
    src = tmp / "in.mp4"
    src.write_bytes(make_video(tmp))
    out = label_file(src.read_bytes(), settings=SETTINGS, produce_id="vid-1")
    path = tmp / "out.mp4"
    path.write_bytes(out.data)
    return src, path, out


def test_record_in_mp4_metadata_read_by_ffprobe(labeled) -> None:
    src, path, out = labeled
    probe = ffprobe(path)
    assert probe["format"]["tags"]["AIGC"] == out.record.to_json()
    assert json.loads(probe["format"]["tags"]["AIGC"])["ProduceID"] == "vid-1"
    assert [s["codec_type"] for s in probe["streams"]] == ["video", "audio"]
    assert float(probe["format"]["duration"]) == pytest.approx(4.0, abs=0.1)
    assert audio_hash(src) == audio_hash(path)  # audio packets carried over unchanged
    data = path.read_bytes()
    moov, mdat = data.find(b"moov"), data.find(b"mdat")
    assert 0 < moov < mdat  # faststart: the record sits at the head of the file
    report = inspect_file(data)
    assert report.compliant and report.media_type == "video/mp4"
    assert [f.carrier for f in report.found] == ["mp4:moov/udta/meta:mdta:AIGC"]


@pytest.mark.parametrize("seconds", [0.5, 1.5])
def test_notice_and_mark_visible_at_start(labeled, seconds: float) -> None:
    _, path, _ = labeled
    lines = ocr(frame_at(path, seconds))
    assert any("本内容由人工智能生成" in text for text, _ in lines), lines
    marks = [box for text, box in lines if "AI生成" in text and "人工智能" not in text]
    assert marks and marks[0][0] > 320 and marks[0][1] > 180  # bottom-right corner
    assert marks[0][3] - marks[0][1] >= 0.05 * 360  # OCR box height >= 5 % of the short side


def test_mark_persists_after_the_notice(labeled) -> None:
    _, path, _ = labeled
    lines = ocr(frame_at(path, 3.5))
    assert not any("人工智能" in text for text, _ in lines)
    assert any("AI生成" in text for text, _ in lines)


def test_idempotent_and_propagation_keeps_producer_fields(labeled) -> None:
    _, path, out = labeled
    again = label_file(path.read_bytes(), settings=SETTINGS)
    assert again.unchanged and again.record == out.record
    prop = propagate_file(path.read_bytes(), propagator_code=PROPAGATOR, propagate_id="post-9",
                          settings=SETTINGS)
    assert prop.record.produce_id == "vid-1" and prop.record.content_propagator == PROPAGATOR
    assert not prop.explicit  # no second re-encode for a labeled file


def test_quicktime_mov(tmp_path: Path) -> None:
    src = make_video(tmp_path, seconds=2.5, size="320x240", fmt="mov")
    out = label_file(src, settings=SETTINGS)
    assert out.media_type == "video/quicktime" and out.data[8:12] == b"qt  "
    path = tmp_path / "out.mov"
    path.write_bytes(out.data)
    assert ffprobe(path)["format"]["tags"]["AIGC"] == out.record.to_json()
    assert any("AI生成" in text for text, _ in ocr(frame_at(path, 1.5)))


def test_limits_and_damage(tmp_path: Path) -> None:
    src = make_video(tmp_path, seconds=2.0, size="320x240")
    with pytest.raises(MediaLimitError, match="over the limit"):
        label_file(src, settings=LabelSettings(PRODUCER, max_video_seconds=1.0))
    with pytest.raises(MediaLimitError, match="pixels"):
        label_file(src, settings=LabelSettings(PRODUCER, max_pixels=320 * 200))
    with pytest.raises(CorruptFileError):
        label_file(src[: len(src) // 2], settings=SETTINGS)


def test_generator_tag_is_a_trace(tmp_path: Path) -> None:
    src = make_video(tmp_path, seconds=2.0, size="320x240",
                     extra=("-metadata", "comment=Generated with Sora"))
    out = propagate_file(src, propagator_code=PROPAGATOR, propagate_id="p1", detect=True,
                         settings=SETTINGS)
    assert out.record.label == "3" and out.explicit
    assert [t.source for t in out.traces] == ["generator-name"]


def test_http_label_and_inspect_video(tmp_path: Path) -> None:
    src = make_video(tmp_path, seconds=2.5, size="320x240")
    settings = load_settings(data_dir=tmp_path / "var",
                             database=f"sqlite:///{tmp_path / 'r.sqlite3'}",
                             labels={"producer_code": PRODUCER, "video_max_seconds": 10,
                                     "max_upload_bytes": 4_000_000})
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=120) as client:
        r = client.post("/label", files={"file": ("a.mp4", src, "video/mp4")})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "video/mp4"
        report = client.post("/label/inspect", files={"file": ("a.mp4", r.content)}).json()
        assert report["compliant"] and report["media_type"] == "video/mp4"
        long = make_video(tmp_path, seconds=12.0, size="160x120")
        r = client.post("/label", files={"file": ("b.mp4", long, "video/mp4")})
        assert r.status_code == 422 and r.json()["error"]["code"] == "media_limit_exceeded"
        r = client.post("/label", files={"file": ("c.mp4", b"\0" * 4_100_000, "video/mp4")})
        assert r.status_code == 413
