"""The audible label: decode, add the Morse "AI" cue (and voice notice), re-encode, keep metadata.

Decoding and encoding go through libsndfile (``soundfile``), which reads and writes WAV, FLAC,
Ogg Vorbis/Opus and MP3 (M4A/AAC goes through PyAV instead, :mod:`.audio_m4a`) (Layer III; an MPEG Layer II input is written back as Layer III, the
only MPEG layer libsndfile encodes). A constant-bitrate MP3 is re-encoded at its bitrate;
VBR input gets LAME's default VBR.

- Samples are read in the file's own integer width when it is PCM (``int16``/``int32``), so the
  programme part of a WAV or FLAC result is bit-identical to the input; lossy codecs are read
  as float32 and re-encoded (one generation loss, unavoidable when the signal changes).
- Before decoding, the input size is checked against ``settings.max_bytes``, the declared
  length against ``settings.max_audio_seconds`` and the decoded size against
  ``settings.max_uncompressed_bytes`` (256 MiB by default: about 25 min of 16-bit stereo at
  44.1 kHz; raise it for long programmes): a small file cannot make us allocate gigabytes.
  WAV sizes are checked by the RIFF walk first; a WAV or FLAC that delivers fewer frames than it
  declares is refused as truncated.
- Metadata survives the re-encode: WAV chunks other than ``fmt ``/``fact``/``PEAK``/``data``
  (LIST/INFO, an existing AIGC chunk, bext, ...), the ID3v2 tag (and a trailing ID3v1) of MP3,
  Vorbis comments and pictures of FLAC/Ogg. The caller then writes the implicit record.
- Idempotent: where the Morse cue is already present (``morse.has_cue``) it is not added
  again; when nothing is left to add the input is returned unchanged (no re-encoding). This
  check is skipped with a voice notice, which cannot be recognised.
- The voice notice (``settings.audio_voice``) is a recording the operator supplies
  (``settings.voice_path``, any format libsndfile reads, at most 30 s); it is resampled by linear
  interpolation, mixed to the programme's channel count, level-matched like the cue and placed
  before the Morse cue. Nothing is synthesised from text: no TTS engine is guaranteed present.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from labelers.errors import CorruptFileError, LabelFormatError, UnsupportedMediaError
from labelers.settings import LabelSettings

from . import audio_m4a, audio_tags, morse, riff

_VOICE_MAX_S = 30.0
_DEFAULT_MAX_SECONDS = 4 * 3600.0
_DEFAULT_MAX_DECODED = 256 * 1024 * 1024
_WRITE_BLOCK = 1 << 15
_MAX_CHANNELS = 64
_MAX_RATE = 768_000
_INT16 = {"PCM_S8", "PCM_U8", "PCM_16", "ULAW", "ALAW", "IMA_ADPCM", "MS_ADPCM", "GSM610"}
_INT32 = {"PCM_24", "PCM_32"}
_FLOAT64 = {"DOUBLE"}
_SOUNDFILE_FORMATS = {
    "wav": None, "flac": "FLAC", "ogg-vorbis": "OGG", "ogg-opus": "OGG", "mp3": "MP3"
}


@dataclass(frozen=True, slots=True)
class Decoded:
    """Decoded programme and the encoding parameters to write it back with."""

    samples: np.ndarray  # (frames, channels)
    samplerate: int
    format: str
    subtype: str
    endian: str


def add_cue(kind: str, data: bytes, settings: LabelSettings) -> bytes:
    """The file with the explicit audio label added per ``settings``; see the module doc."""
    if len(data) > settings.max_bytes:
        raise CorruptFileError(f"audio file of {len(data)} bytes exceeds max_bytes")
    if settings.audio_morse == "none" and not settings.audio_voice:
        raise LabelFormatError("no explicit audio label configured (audio_morse/audio_voice)")
    decoded = decode(kind, data, settings.max_audio_seconds, settings.max_uncompressed_bytes)
    params = _params(settings)
    x = decoded.samples
    wanted = {
        "start": settings.audio_morse in ("start", "both", "none"),  # "none": voice notice alone
        "end": settings.audio_morse in ("end", "both"),
    }
    if not settings.audio_voice:  # idempotent: an existing Morse cue is not added twice
        for where in ("start", "end"):
            if wanted[where] and morse.has_cue(x, decoded.samplerate, params,
                                               at_start=where == "start"):
                wanted[where] = False
    if not any(wanted.values()):
        return data  # already labeled where asked: no re-encoding, no generation loss
    blocks = _label_blocks(decoded, settings, params)
    parts = [blocks["start"]] if wanted["start"] else []
    parts.append(x)
    if wanted["end"]:
        parts.append(blocks["end"])
    cbr = audio_tags.mp3_cbr_bitrate(data) if kind == "mp3" else 0
    out = encode(kind, decoded, np.concatenate(parts), cbr_bitrate=cbr)
    return carry_metadata(kind, data, out)


def find_cue(kind: str, data: bytes, settings: LabelSettings | None) -> list[str]:
    """Positions (``"start"``, ``"end"``) where the Morse cue with the settings' timing is."""
    params = _params(settings) if settings else morse.CueParams()
    max_seconds = settings.max_audio_seconds if settings else _DEFAULT_MAX_SECONDS
    max_decoded = settings.max_uncompressed_bytes if settings else _DEFAULT_MAX_DECODED
    decoded = decode(kind, data, max_seconds, max_decoded)
    return [
        where
        for where in ("start", "end")
        if morse.has_cue(decoded.samples, decoded.samplerate, params, at_start=where == "start")
    ]


def _params(settings: LabelSettings) -> morse.CueParams:
    try:
        return morse.CueParams(
            unit_s=settings.morse_unit_ms / 1000.0, frequency_hz=float(settings.morse_freq_hz)
        )
    except ValueError as exc:
        raise LabelFormatError(f"audio cue settings: {exc}") from exc


def _label_blocks(
    decoded: Decoded, settings: LabelSettings, params: morse.CueParams
) -> dict[str, np.ndarray]:
    """The start and end label blocks in the programme's dtype and channel count."""
    x = decoded.samples
    sr, channels = decoded.samplerate, x.shape[1]
    rms = morse.programme_rms(x, sr, scale=_full_scale(x.dtype))
    peak = morse.cue_peak(rms)
    voice = _voice(settings, sr, channels, rms) if settings.audio_voice else None
    blocks: dict[str, np.ndarray] = {}
    for where in ("start", "end"):
        pieces = []
        if voice is not None:
            pieces.append(voice)
        if settings.audio_morse != "none":
            pieces.append(morse.synthesize(sr, channels, peak, params, at_start=where == "start"))
        block = np.concatenate(pieces) if pieces else np.zeros((0, channels))
        blocks[where] = _to_dtype(block, x.dtype)
    return blocks


def _voice(settings: LabelSettings, samplerate: int, channels: int, rms: float) -> np.ndarray:
    if not settings.voice_path:
        raise LabelFormatError("audio_voice needs voice_path: a recording of the voice notice")
    try:
        info = sf.info(settings.voice_path)
        if info.frames > _VOICE_MAX_S * info.samplerate:
            raise LabelFormatError(f"voice notice longer than {_VOICE_MAX_S:.0f} s")
        v, vsr = sf.read(settings.voice_path, dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise LabelFormatError(f"cannot read voice notice {settings.voice_path!r}: {exc}") from exc
    mono = v.mean(axis=1)
    if vsr != samplerate and mono.size:
        n = max(1, round(mono.size * samplerate / vsr))
        mono = np.interp(np.arange(n) * (vsr / samplerate), np.arange(mono.size), mono)
    level = morse.programme_rms(mono[:, None], samplerate)
    if level > 0:
        mono = mono * (morse.cue_peak(rms) / np.sqrt(2.0) / level)
        mono = np.clip(mono, -morse.MAX_PEAK, morse.MAX_PEAK)
    gap = np.zeros(round(0.3 * samplerate))
    return np.repeat(np.concatenate([gap, mono, gap])[:, None], channels, axis=1)


# ------------------------------------------------------------------------ decode/encode


def decode(kind: str, data: bytes, max_seconds: float, max_decoded_bytes: int) -> Decoded:
    """Decode the whole programme; raise CorruptFileError on anything unreadable or hostile.

    ``max_seconds`` bounds the declared duration, ``max_decoded_bytes`` the decoded size (in
    the sample width we read), both checked before the samples are allocated.
    """
    if kind == "m4a":
        samples, sr, layout, bit_rate = audio_m4a.decode(data, max_seconds, max_decoded_bytes)
        return Decoded(samples, sr, "M4A", f"AAC:{layout}:{bit_rate}", "FILE")
    if kind == "wav":
        riff.parse_wave(data)  # sizes checked before libsndfile sees the bytes
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            sr, channels, frames = f.samplerate, f.channels, f.frames
            if not (0 < sr <= _MAX_RATE and 0 < channels <= _MAX_CHANNELS):
                raise CorruptFileError(f"absurd audio header: {sr} Hz, {channels} channels")
            if frames > max_seconds * sr:
                raise CorruptFileError(
                    f"audio declares {frames / sr:.0f} s, over the {max_seconds:.0f} s limit"
                )
            dtype = _read_dtype(f.subtype)
            decoded_bytes = frames * channels * np.dtype(dtype).itemsize
            if decoded_bytes > max_decoded_bytes:
                raise CorruptFileError(
                    f"audio decodes to {decoded_bytes} bytes, over the "
                    f"{max_decoded_bytes}-byte limit (max_uncompressed_bytes)"
                )
            if f.seekable():
                samples = f.read(dtype=dtype, always_2d=True)
            else:  # some codecs (GSM 6.10, G.72x) cannot seek: read blocks up to the limit
                max_frames = max_decoded_bytes // (channels * np.dtype(dtype).itemsize)
                samples = _read_blocks(f, dtype, channels, max_frames)
            fmt, subtype, endian = f.format, f.subtype, f.endian
    except CorruptFileError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, MemoryError, OverflowError) as exc:
        raise CorruptFileError(f"cannot decode audio: {exc}") from exc
    if kind in ("wav", "flac") and frames > 0 and samples.shape[0] != frames:
        raise CorruptFileError(
            f"audio truncated: {samples.shape[0]} of {frames} declared frames decoded"
        )
    if samples.shape[0] == 0:
        raise CorruptFileError("audio holds no samples")
    return Decoded(samples, sr, fmt, subtype, endian)


def _read_blocks(f: sf.SoundFile, dtype: str, channels: int, max_frames: int) -> np.ndarray:
    blocks: list[np.ndarray] = []
    total = 0
    while True:
        block = f.read(_WRITE_BLOCK, dtype=dtype, always_2d=True)
        total += block.shape[0]
        if total > max_frames:
            raise CorruptFileError("audio decodes past the max_uncompressed_bytes limit")
        if block.shape[0] == 0:
            break
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.zeros((0, channels), dtype=dtype)


def encode(kind: str, decoded: Decoded, samples: np.ndarray, *, cbr_bitrate: int = 0) -> bytes:
    """Encode ``samples`` with the decoded file's format, codec, rate and channel count.

    ``cbr_bitrate`` (MP3 only, bits/s): encode constant-bitrate at about that rate, as the
    input was; 0 keeps libsndfile's default (LAME VBR).
    """
    if kind == "m4a":
        _, layout, bit_rate = decoded.subtype.split(":")
        return audio_m4a.encode(samples, decoded.samplerate, layout, int(bit_rate))
    fmt = _SOUNDFILE_FORMATS[kind] or decoded.format
    subtype = "MPEG_LAYER_III" if kind == "mp3" else decoded.subtype
    options: dict[str, object] = {}
    if kind == "mp3" and cbr_bitrate:
        # libsndfile maps the compression level linearly onto the bitrate range of the MPEG
        # version the sample rate implies (snapped to a standard rate); 1.0 itself is refused.
        sr = decoded.samplerate
        high, low = (320_000, 32_000) if sr >= 32000 else (160_000, 8_000) if sr >= 16000 else (
            64_000, 8_000)
        level = (high - cbr_bitrate) / (high - low)
        options = {"bitrate_mode": "CONSTANT", "compression_level": min(0.99, max(0.0, level))}
    try:
        return _write(fmt, subtype, decoded, samples, options)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        if options:  # e.g. a rate LAME cannot do at this sample rate: fall back to VBR
            return encode(kind, decoded, samples)
        raise UnsupportedMediaError(
            f"cannot re-encode {kind} ({fmt}/{subtype}) with libsndfile: {exc}"
        ) from exc


def _write(fmt: str, subtype: str, decoded: Decoded, samples: np.ndarray,
           options: dict[str, object]) -> bytes:
    buf = io.BytesIO()
    endian = decoded.endian if fmt.startswith("WAV") else "FILE"
    with sf.SoundFile(buf, "w", decoded.samplerate, samples.shape[1], subtype=subtype,
                      format=fmt, endian=endian, **options) as g:  # type: ignore[arg-type]
        # Block writes: libsndfile 1.2 crashes (SIGSEGV) writing ~2M frames of Vorbis at once.
        for start in range(0, samples.shape[0], _WRITE_BLOCK):
            g.write(samples[start : start + _WRITE_BLOCK])
    return buf.getvalue()


def _read_dtype(subtype: str) -> str:
    if subtype in _INT16:
        return "int16"
    if subtype in _INT32:
        return "int32"
    if subtype in _FLOAT64:
        return "float64"
    return "float32"


def _full_scale(dtype: np.dtype) -> float:
    """Factor that maps samples of ``dtype`` (as soundfile reads them) to full scale 1.0."""
    if dtype == np.int16:
        return 1 / 32768.0
    if dtype == np.int32:
        return 1 / 2147483648.0
    return 1.0


def _to_dtype(block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.int16:
        return np.round(block * 32767.0).astype(np.int16)
    if dtype == np.int32:
        return np.round(block * 2147483647.0).astype(np.int32)
    return block.astype(dtype)


# ------------------------------------------------------------------------ metadata


def carry_metadata(kind: str, original: bytes, encoded: bytes) -> bytes:
    """Copy the original file's metadata onto the freshly encoded file."""
    if kind == "wav":
        return _carry_wav(original, encoded)
    return audio_tags.copy_tags(kind, original, encoded)


_WAV_CODEC_CHUNKS = {b"fmt ", b"fact", b"PEAK", b"data"}


def _carry_wav(original: bytes, encoded: bytes) -> bytes:
    old, new = riff.parse_wave(original), riff.parse_wave(encoded)
    new_fmt = [c.raw(encoded) for c in new.chunks if c.id in _WAV_CODEC_CHUNKS - {b"data"}]
    new_data = [c.raw(encoded) for c in new.find(b"data")]
    out: list[bytes] = []
    for chunk in old.chunks:
        if chunk.id == b"fmt ":
            out.extend(new_fmt)
        elif chunk.id == b"data":
            out.extend(new_data)
        elif chunk.id not in _WAV_CODEC_CHUNKS:
            out.append(chunk.raw(original))
    return riff.assemble(out, original[old.form_end :])
