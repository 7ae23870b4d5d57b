"""Helpers for the audio label tests: test signals, independent readers, a rhythm detector.

Nothing here imports the code under test: the chunk walk, the ffprobe/ffmpeg calls and the
onset detector are written from the format specifications, not from ``labelers``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np
import soundfile as sf

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")


def programme(seconds: float, samplerate: int, channels: int, *, level: float = 0.1,
              seed: int = 0) -> np.ndarray:
    """Deterministic noisy programme, float64 frames (n, channels), RMS about ``level``."""
    rng = np.random.default_rng(seed)
    n = max(1, int(seconds * samplerate))
    return np.clip(rng.normal(0.0, level, size=(n, channels)), -0.99, 0.99)


def encode(samples: np.ndarray, samplerate: int, fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, samplerate, format=fmt, subtype=subtype)
    return buf.getvalue()


def ffmpeg_make(args: list[str], suffix: str) -> bytes:
    """Run ffmpeg writing a temporary file (MP4 needs a seekable output); return its bytes."""
    assert FFMPEG, "ffmpeg is required"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out" + suffix)
        subprocess.run([FFMPEG, "-v", "error", "-nostdin", *args, path],
                       capture_output=True, check=True, timeout=60)
        with open(path, "rb") as f:
            return f.read()


def ffmpeg_make_pipe(args: list[str]) -> bytes:
    """Run ffmpeg writing to a pipe (streamed output, sizes unknown); return the bytes."""
    assert FFMPEG, "ffmpeg is required"
    return subprocess.run([FFMPEG, "-v", "error", "-nostdin", *args, "pipe:1"],
                          capture_output=True, check=True, timeout=60).stdout


def ffprobe_tags(data: bytes) -> dict[str, str]:
    """Format and stream tags as ffprobe reports them (stream tags win on clashes)."""
    assert FFPROBE, "ffprobe is required"
    proc = subprocess.run(
        [FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", "pipe:0"],
        input=data, capture_output=True, check=True, timeout=60,
    )
    info = json.loads(proc.stdout)
    tags = dict(info.get("format", {}).get("tags", {}))
    for stream in info.get("streams", []):
        tags.update(stream.get("tags", {}))
    return tags


def ffmpeg_decode_ok(data: bytes, rate: int = 48000) -> float:
    """Decode fully with ffmpeg (errors fail); return the decoded duration in seconds."""
    assert FFMPEG
    proc = subprocess.run(
        [FFMPEG, "-v", "error", "-nostdin", "-i", "pipe:0", "-f", "f32le", "-ac", "1",
         "-ar", str(rate), "pipe:1"],
        input=data, capture_output=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return len(proc.stdout) / 4 / rate


def stream_hash(data: bytes) -> str:
    """ffmpeg streamhash of the audio packets (copied, not decoded)."""
    assert FFMPEG
    proc = subprocess.run(
        [FFMPEG, "-v", "error", "-nostdin", "-i", "pipe:0", "-map", "0:a", "-c", "copy",
         "-f", "streamhash", "pipe:1"],
        input=data, capture_output=True, check=True, timeout=60,
    )
    return proc.stdout.decode()


@dataclass
class WalkedChunk:
    id: bytes
    size: int
    data: bytes
    pad: bytes  # the byte after odd-sized data (b"" when even)


def walk_wav(data: bytes) -> tuple[int, list[WalkedChunk]]:
    """Independent RIFF walk: (RIFF size field, top-level chunks). Asserts the structure."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    riff_size = struct.unpack("<I", data[4:8])[0]
    chunks = []
    pos = 12
    while pos < 8 + riff_size:
        cid = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        assert len(body) == size, f"chunk {cid!r} truncated"
        pad = data[pos + 8 + size : pos + 9 + size] if size % 2 else b""
        chunks.append(WalkedChunk(cid, size, body, pad))
        pos += 8 + size + size % 2
    assert pos == 8 + riff_size, "chunks do not add up to the RIFF size"
    return riff_size, chunks


def info_items(list_body: bytes) -> dict[bytes, bytes]:
    """Sub-chunks of a LIST/INFO body."""
    assert list_body[:4] == b"INFO"
    out, pos = {}, 4
    while pos + 8 <= len(list_body):
        cid = list_body[pos : pos + 4]
        size = struct.unpack("<I", list_body[pos + 4 : pos + 8])[0]
        out[cid] = list_body[pos + 8 : pos + 8 + size]
        pos += 8 + size + size % 2
    return out


def make_chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def wav_with_chunks(pcm_wav: bytes, extra: list[bytes]) -> bytes:
    """Insert extra serialised chunks before the data chunk of a plain WAV."""
    _, chunks = walk_wav(pcm_wav)
    body = b"WAVE"
    for c in chunks:
        if c.id == b"data":
            body += b"".join(extra)
        body += make_chunk(c.id, c.data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@dataclass
class Burst:
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


def bursts(samples: np.ndarray, samplerate: int, *, frame_s: float = 0.005) -> list[Burst]:
    """Tone bursts by envelope and threshold: RMS per 5 ms frame, half of the window's max."""
    mono = samples.astype(np.float64).reshape(samples.shape[0], -1).mean(axis=1)
    hop = max(1, int(frame_s * samplerate))
    n = mono.size // hop
    env = np.sqrt(np.mean(mono[: n * hop].reshape(n, hop) ** 2, axis=1))
    if env.size == 0 or env.max() == 0:
        return []
    on = env > 0.5 * env.max()
    out, start = [], None
    for i, flag in enumerate(on):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append(Burst(start * frame_s, i * frame_s))
            start = None
    if start is not None:
        out.append(Burst(start * frame_s, n * frame_s))
    return out


def dominant_hz(samples: np.ndarray, samplerate: int) -> float:
    mono = samples.astype(np.float64).reshape(samples.shape[0], -1).mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
    return float(np.fft.rfftfreq(mono.size, 1 / samplerate)[int(np.argmax(spectrum))])


def assert_ai_rhythm(samples: np.ndarray, samplerate: int) -> list[Burst]:
    """Four bursts: short-long-short-short, A-I gap at least twice the intra-letter gaps."""
    found = bursts(samples, samplerate)
    assert len(found) == 4, f"expected 4 tone bursts, found {len(found)}: {found}"
    d = [b.length for b in found]
    short = max(d[0], d[2], d[3])
    assert d[1] >= 2.5 * short, f"not short-long-short-short: {d}"
    assert max(d[0], d[2], d[3]) <= 1.5 * min(d[0], d[2], d[3]), f"shorts differ: {d}"
    gaps = [found[i + 1].start - found[i].end for i in range(3)]
    assert gaps[1] >= 2 * max(gaps[0], gaps[2]), f"A-I gap not clearly longer: {gaps}"
    return found
