"""Labelers benchmark: every format through ``labelers.label_file`` (explicit + implicit label).

Figures: images labeled per second at 1024x1024 and 4096x4096 (PNG, JPEG; PNG also through
Pillow's own encoder, the reference the scanline patcher replaced), animated GIF frames per
second (480x270, 24 frames), seconds of 720p video (H.264 + AAC, 25 fps) labeled per second,
seconds of audio labeled per second (WAV, MP3, 60 s stereo 44.1 kHz), PDF pages labeled per
second (100-page PDF). Inputs are synthesised with a fixed seed (smooth gradients plus noise, a chord with
noise). Every timed output is checked to carry one record; the first one is read back with
``inspect_file`` (correctness inside the run, not just speed).

    python -m benchmarks.labelers [--repeat N] [--quick] [--no-write] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

PRODUCER = "001191110102MACQD9K64010000"


def _image(size: int, fmt: str) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(45438)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([x * 200, y * 180, (1 - x) * 160], axis=-1)
    pixels = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _audio(seconds: float, fmt: str) -> bytes:
    import soundfile as sf

    rate = 44100
    rng = np.random.default_rng(45438)
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(0.15 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    signal = np.stack([tone, tone], axis=1) + rng.normal(0, 0.01, (t.size, 2))
    buf = io.BytesIO()
    if fmt == "WAV":
        sf.write(buf, signal.astype(np.float32), rate, format="WAV", subtype="PCM_16")
        return buf.getvalue()
    wav = io.BytesIO()
    sf.write(wav, signal.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    done = subprocess.run(["ffmpeg", "-v", "error", "-f", "wav", "-i", "pipe:0", "-b:a", "128k",
                           "-f", "mp3", "pipe:1"], input=wav.getvalue(), capture_output=True,
                          check=True, timeout=120)
    return done.stdout


def _video(seconds: float) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:  # an MP4 muxer needs a seekable output
        path = Path(tmp) / "in.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                        f"testsrc2=size=1280x720:rate=25:duration={seconds}", "-f", "lavfi",
                        "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags",
                        "+faststart", str(path)], capture_output=True, check=True, timeout=300)
        return path.read_bytes()


def _gif(frames: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(45438)
    y, x = np.mgrid[0:270, 0:480].astype(np.float32)
    images = []
    for i in range(frames):
        base = np.stack([(x + 8 * i) % 256, y * 0.9, (x + y + 4 * i) % 256], axis=-1)
        pixels = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels, "RGB").convert("P", palette=Image.ADAPTIVE))
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return buf.getvalue()


@contextlib.contextmanager
def _pillow_png_encoder() -> Iterator[None]:
    """The reference: PNG re-encoded by Pillow (adaptive filters), as before the patcher."""
    from labelers.formats import png_patch

    saved = png_patch.patch
    png_patch.patch = lambda *_args: None  # type: ignore[assignment]
    try:
        yield
    finally:
        png_patch.patch = saved


def _pdf(pages: int) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica")}))
    for n in range(pages):
        page = writer.add_blank_page(595, 842)
        page[NameObject("/Resources")] = DictionaryObject({
            NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
        lines = "".join(f"BT /F1 11 Tf 60 {780 - 14 * i} Td (Page {n + 1} line {i} of the "
                        f"benchmark document.) Tj ET\n" for i in range(50))
        stream = DecodedStreamObject()
        stream.set_data(lines.encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _time(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def run(repeat: int, quick: bool) -> tuple[str, list[dict[str, object]]]:
    from labelers import LabelSettings

    settings = LabelSettings(PRODUCER, max_bytes=256 * 1024 * 1024, max_pixels=100_000_000,
                             max_video_seconds=3600.0)
    cases: list[tuple[str, str, bytes, float, str]] = []
    for size in (1024,) if quick else (1024, 4096):
        for fmt in ("PNG", "JPEG"):
            cases.append((f"{fmt} {size}x{size}", "images/s", _image(size, fmt), 1.0, "image"))
        cases.append((f"PNG {size}x{size}, Pillow encoder (reference)", "images/s",
                      _image(size, "PNG"), 1.0, "png-reference"))
    frames = 24
    cases.append((f"GIF 480x270, {frames} frames", "frames/s", _gif(frames), float(frames),
                  "gif"))
    video_s = 3.0 if quick else 10.0
    cases.append((f"MP4 720p H.264+AAC, {video_s:.0f} s", "video s/s", _video(video_s), video_s,
                  "video"))
    seconds = 10.0 if quick else 60.0
    for fmt in ("WAV", "MP3"):
        cases.append((f"{fmt} {seconds:.0f} s stereo 44.1 kHz", "audio s/s",
                      _audio(seconds, fmt), seconds, "audio"))
    pages = 20 if quick else 100
    cases.append((f"PDF {pages} pages", "pages/s", _pdf(pages), float(pages), "pdf"))

    rows = []
    for name, unit, data, units, kind in cases:
        with _pillow_png_encoder() if kind == "png-reference" else contextlib.nullcontext():
            rows.append(_measure(name, unit, data, units, settings, repeat))
    lines = ["| input | size in | median per file | rate |", "|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['case']} | {row['input_bytes'] / 1e6:.2f} MB | "
                     f"{row['median_s'] * 1000:.1f} ms | {row['rate']:.2f} {row['unit']} |")
    lines += ["", f"Median of {repeat} runs per input, one process, explicit and implicit "
              "labels both applied (`label_file`, default settings); the first output of each "
              "input is read back with `inspect_file` and must be compliant. PNG is compressed "
              "at zlib level 3 on both PNG rows; the reference row re-encodes through Pillow "
              "(adaptive filters, one thread), the other patches the changed scanlines and "
              "compresses in parallel segments. Benchmarks are hard: figures vary with the "
              "CPU, the load, image content and codec libraries."]
    return "\n".join(lines), rows


def _measure(name: str, unit: str, data: bytes, units: float, settings: object,
             repeat: int) -> dict[str, object]:
    from labelers import inspect_file, label_file

    first = label_file(data, settings=settings)
    report = inspect_file(first.data)
    if not report.compliant:
        raise SystemExit(f"{name}: labeled output is not compliant: {report.problems}")

    def once() -> None:
        out = label_file(data, settings=settings)
        if not (out.implicit and out.explicit):
            raise SystemExit(f"{name}: output lacks a label")

    median = statistics.median(_time(once, repeat))
    return {"case": name, "unit": unit, "median_s": median, "rate": units / median,
            "input_bytes": len(data), "output_bytes": len(first.data),
            "media_type": first.media_type}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.labelers",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per input (median)")
    parser.add_argument("--quick", action="store_true", help="small inputs only (smoke test)")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    args = parser.parse_args(argv)
    markdown, rows = run(max(1, args.repeat), args.quick)
    print(markdown)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    if not args.no_write:
        given = list(argv) if argv is not None else sys.argv[1:]
        command = "python -m benchmarks.labelers" + "".join(f" {a}" for a in given)
        try:
            from benchmarks.results import update_section
        except ImportError:
            path = Path(__file__).parent / "RESULTS-labelers.md"
            path.write_text(f"# Labelers benchmark\n\n```\n{command}\n```\n\n{markdown}\n",
                            encoding="utf-8")
        else:
            update_section("labelers", markdown, command, title="Labelers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
