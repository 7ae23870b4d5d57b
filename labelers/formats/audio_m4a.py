"""M4A (AAC in MP4) decode and encode through PyAV, for the audible label of M4A files.

libsndfile has no AAC, so M4A goes through FFmpeg's libraries from the PyAV wheel (no system
ffmpeg): decoded to float32, the Morse cue added by :mod:`.audio_explicit` like for any other
format, then encoded with FFmpeg's native AAC encoder at the source bit rate (128 kb/s when
unknown), same sample rate and channel layout, into an M4A (``ipod``) container. iTunes tags are
copied over by :mod:`.audio_tags`; the caller writes the AIGC record afterwards.

Limits: the declared duration and the decoded size are checked before decoding, and decoding
stops as soon as the decoded size passes ``max_decoded_bytes``.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from labelers.errors import CorruptFileError

__all__ = ["decode", "encode"]

_FRAME = 1024  # AAC frame size


def decode(data: bytes, max_seconds: float, max_decoded_bytes: int) -> tuple[np.ndarray, int,
                                                                               str, int]:
    """``(samples (frames, channels) float32, rate, layout name, bit rate)``."""
    import av

    try:
        with av.open(io.BytesIO(data), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise CorruptFileError("M4A file without an audio stream")
            stream = container.streams.audio[0]
            rate, channels = stream.rate, stream.channels
            if not (0 < (rate or 0) <= 768_000 and 0 < channels <= 64):
                raise CorruptFileError(f"absurd audio header: {rate} Hz, {channels} channels")
            seconds = (container.duration or 0) / 1_000_000
            if seconds > max_seconds:
                raise CorruptFileError(f"audio declares {seconds:.0f} s, over the "
                                       f"{max_seconds:.0f} s limit")
            limit = max_decoded_bytes // (4 * channels)
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
            blocks, total = [], 0
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    block = out.to_ndarray()  # (channels, n)
                    total += block.shape[1]
                    if total > limit:
                        raise CorruptFileError("audio decodes past the max_uncompressed_bytes "
                                               "limit")
                    blocks.append(block)
            layout, bit_rate = stream.layout.name, stream.bit_rate or 128_000
    except CorruptFileError:
        raise
    except (av.error.FFmpegError, ValueError) as exc:
        raise CorruptFileError(f"cannot decode M4A audio: {exc}") from exc
    if not blocks:
        raise CorruptFileError("audio holds no samples")
    samples = np.concatenate(blocks, axis=1).T.astype(np.float32, copy=False)
    return np.ascontiguousarray(samples), rate, layout, int(bit_rate)


def encode(samples: np.ndarray, rate: int, layout: str, bit_rate: int) -> bytes:
    """AAC-encode ``samples`` (frames, channels) float into an M4A container."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="ipod") as container:
        stream: Any = container.add_stream("aac", rate=rate, layout=layout)
        stream.bit_rate = bit_rate
        planar = np.ascontiguousarray(np.clip(samples, -1.0, 1.0).T.astype(np.float32))
        for start in range(0, planar.shape[1], _FRAME):
            frame = av.AudioFrame.from_ndarray(planar[:, start:start + _FRAME], format="fltp",
                                               layout=layout)
            frame.rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()
