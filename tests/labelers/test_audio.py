"""Audio labels: implicit carriers read back by ffprobe / a hand-rolled RIFF walk, the Morse
"AI" rhythm found by onset detection, and hostile files refused."""

from __future__ import annotations

import io
import struct

import mutagen
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutagen.id3 import ID3, TIT2, TXXX

from labelers.errors import CorruptFileError, LabelError, LabelFormatError, UnsupportedMediaError
from labelers.formats import audio, detect
from labelers.record import LabelRecord
from labelers.settings import LabelSettings

from .audio_support import (
    assert_ai_rhythm,
    dominant_hz,
    encode,
    ffmpeg_decode_ok,
    ffmpeg_make,
    ffmpeg_make_pipe,
    ffprobe_tags,
    info_items,
    make_chunk,
    programme,
    stream_hash,
    walk_wav,
    wav_with_chunks,
)

CODE = "001191110102MACQD9K64010000"
SR = 44100
CUE_S = 1.6  # 11-unit pattern + 4-unit guard + 1-unit edge at the default 100 ms unit
WINDOW_S = 1.5  # the cue and part of its guard, never the programme


def record(produce_id: str = "id-0001") -> LabelRecord:
    return LabelRecord(label="1", content_producer=CODE, produce_id=produce_id)


def label_settings(**kw: object) -> LabelSettings:
    return LabelSettings(producer_code=CODE, **kw)


def _sine(seconds: float, sr: int, channels: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return np.repeat((0.2 * np.sin(2 * np.pi * 330 * t))[:, None], channels, axis=1)


@pytest.fixture(scope="module")
def samples() -> dict[str, bytes]:
    """One short file per kind; tagged with a title so carry-over is visible."""
    prog = programme(2.0, SR, 2)
    files = {
        "wav": wav_with_chunks(
            encode(prog, SR, "WAV", "PCM_16"),
            [make_chunk(b"LIST", b"INFO" + make_chunk(b"INAM", b"Hello\0"))],
        ),
        "flac": encode(prog, SR, "FLAC", "PCM_16"),
        "ogg-vorbis": encode(prog, SR, "OGG", "VORBIS"),
        "ogg-opus": encode(programme(2.0, 48000, 2), 48000, "OGG", "OPUS"),
        "mp3": encode(prog, SR, "MP3", "MPEG_LAYER_III"),
        "m4a": ffmpeg_make(["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac"],
                           ".m4a"),
    }
    for kind in ("flac", "ogg-vorbis", "ogg-opus"):
        cls = {"flac": "FLAC", "ogg-vorbis": "OggVorbis", "ogg-opus": "OggOpus"}[kind]
        buf = io.BytesIO(files[kind])
        f = mutagen.File(buf)
        assert type(f).__name__ == cls
        f["title"] = ["Hello"]
        buf.seek(0)
        f.save(buf)
        files[kind] = buf.getvalue()
    buf = io.BytesIO(files["mp3"])
    tags = ID3()
    tags.add(TIT2(encoding=3, text=["Hello"]))
    tags.save(buf)
    files["mp3"] = buf.getvalue()
    return files


TAGGED = ["mp3", "flac", "ogg-vorbis", "ogg-opus", "m4a"]
MEDIA = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac",
         "ogg-vorbis": "audio/ogg", "ogg-opus": "audio/ogg", "m4a": "audio/mp4"}


# ----------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize("kind", list(MEDIA))
def test_sniff_by_content(samples: dict[str, bytes], kind: str) -> None:
    data = samples[kind]
    assert audio.sniff(data)
    assert audio.detect_kind(data) == kind
    assert audio.media_type(data) == MEDIA[kind]


def test_registry_routes_audio_here(samples: dict[str, bytes]) -> None:
    """No other format module (images come first in the registry) claims audio content."""
    for data in samples.values():
        assert detect(data) is audio


@pytest.mark.parametrize("data", [
    b"", b"RIFF", b"\x89PNG\r\n\x1a\n" + bytes(40), b"RIFF\x10\0\0\0WEBPVP8 ",
    b"ID3\x04\0\0\0\0\0\x10" + bytes(16), bytes(range(256)) * 4, b"OggS" + bytes(60),
    b"\xff\xf1\x50\x80" + bytes(200),  # AAC ADTS, not MPEG layer III
])
def test_sniff_rejects_other_content(data: bytes) -> None:
    assert not audio.sniff(data)
    with pytest.raises(UnsupportedMediaError):
        audio.read_implicit(data)
    with pytest.raises(UnsupportedMediaError):
        audio.write_implicit(data, record())


# ----------------------------------------------------------------------------- implicit


@pytest.mark.parametrize("kind", TAGGED)
def test_implicit_read_back_by_ffprobe(samples: dict[str, bytes], kind: str) -> None:
    original = samples[kind]
    rec = record()
    out = audio.write_implicit(original, rec)
    again = audio.write_implicit(out, rec)  # idempotent: still one record
    assert ffprobe_tags(again)["AIGC"] == rec.to_json()
    assert stream_hash(again) == stream_hash(original)  # audio packets untouched
    found = audio.read_implicit(again)
    assert [f.record for f in found] == [rec]
    assert found[0].problems == []
    if kind != "m4a":
        assert ffprobe_tags(again)["title"] == "Hello"  # other tags kept


def test_mp3_single_txxx_frame_utf8(samples: dict[str, bytes]) -> None:
    out = audio.write_implicit(audio.write_implicit(samples["mp3"], record("a")), record("b"))
    frames = ID3(io.BytesIO(out)).getall("TXXX:AIGC")
    assert len(frames) == 1 and frames[0].encoding == 3
    assert frames[0].text == [record("b").to_json()]
    assert ID3(io.BytesIO(out)).version[:2] == (2, 4)


def test_mp3_id3v23_stays_v23(samples: dict[str, bytes]) -> None:
    buf = io.BytesIO(samples["mp3"])
    tags = ID3(buf)
    buf.seek(0)
    tags.save(buf, v2_version=3)
    out = audio.write_implicit(buf.getvalue(), record())
    assert ID3(io.BytesIO(out)).version[:2] == (2, 3)
    assert ffprobe_tags(out)["AIGC"] == record().to_json()


def test_mp3_duplicates_all_read_then_replaced(samples: dict[str, bytes]) -> None:
    buf = io.BytesIO(samples["mp3"])
    tags = ID3(buf)
    tags.add(TXXX(encoding=3, desc="AIGC", text=[record("a").to_json()]))
    tags.add(TXXX(encoding=3, desc="aigc_v1", text=['{"Label":1}']))
    buf.seek(0)
    tags.save(buf)
    found = {f.carrier: f for f in audio.read_implicit(buf.getvalue())}
    assert sorted(found) == ["id3:TXXX:AIGC", "id3:TXXX:aigc_v1"]  # both copies visible
    assert found["id3:TXXX:AIGC"].record == record("a")
    assert found["id3:TXXX:AIGC"].problems == []
    lower = found["id3:TXXX:aigc_v1"]
    assert lower.record is None and any("'aigc_v1'" in p for p in lower.problems)
    out = audio.write_implicit(buf.getvalue(), record("c"))
    assert [f.record for f in audio.read_implicit(out)] == [record("c")]


def test_vorbis_duplicates_all_read_then_replaced(samples: dict[str, bytes]) -> None:
    buf = io.BytesIO(samples["flac"])
    f = mutagen.File(buf)
    f.tags.append(("AIGC", record("a").to_json()))
    f.tags.append(("aigc", record("b").to_json()))
    buf.seek(0)
    f.save(buf)
    found = audio.read_implicit(buf.getvalue())
    assert [x.record for x in found] == [record("a"), record("b")]
    out = audio.write_implicit(buf.getvalue(), record("c"))
    assert mutagen.File(io.BytesIO(out)).tags["AIGC"] == [record("c").to_json()]


@pytest.mark.parametrize("produce_id", ["even-id1", "odd-id1"])
def test_wav_chunk_written_correctly(samples: dict[str, bytes], produce_id: str) -> None:
    original = samples["wav"]
    rec = record(produce_id)
    out = audio.write_implicit(original, rec)
    riff_size, chunks = walk_wav(out)
    assert riff_size == len(out) - 8
    aigc = [c for c in chunks if c.id == b"AIGC"]
    assert len(aigc) == 1
    payload = rec.to_json().encode()
    assert aigc[0].size == len(payload) and aigc[0].data == payload
    assert aigc[0].pad == (b"\0" if len(payload) % 2 else b"")
    ids = [c.id for c in chunks]
    assert ids.index(b"AIGC") < ids.index(b"data")
    _, before = walk_wav(original)
    data_of = {c.id: c.data for c in before}
    assert {c.id: c.data for c in chunks if c.id != b"AIGC"} == data_of  # PCM, fmt, LIST kept
    assert info_items(data_of[b"LIST"])[b"INAM"] == b"Hello\0"
    assert ffmpeg_decode_ok(out) == pytest.approx(2.0, abs=1e-3)
    assert [f.record for f in audio.read_implicit(out)] == [rec]
    assert audio.write_implicit(out, rec) == out  # idempotent


def test_wav_gtkit_style_duplicates_read_and_collapsed(samples: dict[str, bytes]) -> None:
    wrapped = record("a").to_wrapped_json().encode()
    info = b"INFO" + make_chunk(b"INAM", b"Hi\0\0") + make_chunk(b"AIGC", wrapped)
    data = wav_with_chunks(
        samples["wav"], [make_chunk(b"AIGC", wrapped), make_chunk(b"LIST", info)]
    )
    found = audio.read_implicit(data)
    assert [f.carrier for f in found][-2:] == ["wav:AIGC", "wav:LIST/INFO/AIGC"]
    assert len(found) == 2 and all(f.record == record("a") for f in found)
    out = audio.write_implicit(data, record("a"))
    _, chunks = walk_wav(out)
    assert [c.id for c in chunks].count(b"AIGC") == 1
    for c in chunks:
        if c.id == b"LIST":
            assert b"AIGC" not in info_items(c.data)
    assert [f.record for f in audio.read_implicit(out)] == [record("a")]


_SUBTYPES = {"PCM_16": "int16", "PCM_24": "int32", "FLOAT": "float32", "PCM_U8": "int16"}


_SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=_SLOW)
@given(
    sr=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000]),
    channels=st.integers(1, 6),
    frames=st.integers(1, 3000),
    subtype=st.sampled_from(sorted(_SUBTYPES)),
    produce_id=st.text(alphabet="abcdefXYZ0123456789-_.", min_size=1, max_size=33),
    odd_chunk=st.booleans(),
    junk_after=st.sampled_from([b"", b"x", b"TAG" + bytes(125)]),
)
def test_wav_round_trip_property(sr: int, channels: int, frames: int, subtype: str,
                                 produce_id: str, odd_chunk: bool, junk_after: bytes) -> None:
    rng = np.random.default_rng(frames)
    x = rng.uniform(-0.5, 0.5, size=(frames, channels))
    original = encode(x, sr, "WAV", subtype)
    if odd_chunk:  # an odd-sized chunk after data: its pad byte and the RIFF size must stay
        extra = make_chunk(b"note", b"odd!!")
        original = original[:4] + struct.pack("<I", len(original) - 8 + len(extra)) + (
            original[8:] + extra)
    original += junk_after  # bytes after the RIFF form are kept as they are
    rec = record(produce_id)
    out = audio.write_implicit(original, rec)
    riff_size, chunks = walk_wav(out)
    assert [c.id for c in chunks].count(b"AIGC") == 1
    assert out.endswith(junk_after) and len(out) - 8 - riff_size == len(junk_after)
    if odd_chunk:
        assert (chunks[-1].id, chunks[-1].data, chunks[-1].pad) == (b"note", b"odd!!", b"\0")
    dtype = _SUBTYPES[subtype]
    before, _ = sf.read(io.BytesIO(original), dtype=dtype)
    after, after_sr = sf.read(io.BytesIO(out), dtype=dtype)
    assert after_sr == sr and np.array_equal(before, after)
    assert [f.record for f in audio.read_implicit(out)] == [rec]

    labeled = audio.write_implicit(
        audio.add_explicit(out, label_settings(audio_morse="both")), rec
    )
    y, y_sr = sf.read(io.BytesIO(labeled), dtype=dtype, always_2d=True)
    info = sf.info(io.BytesIO(labeled))
    assert (y_sr, info.channels, info.subtype) == (sr, channels, subtype)
    cue = round(0.1 * sr) * 16
    assert y.shape[0] == frames + 2 * cue
    assert np.array_equal(y[cue : cue + frames], before.reshape(frames, channels))
    assert [f.record for f in audio.read_implicit(labeled)] == [rec]


# ----------------------------------------------------------------------------- explicit


@pytest.mark.parametrize("placement", ["start", "end", "both"])
def test_wav_rhythm_found_by_onset_detection(samples: dict[str, bytes], placement: str) -> None:
    original = samples["wav"]
    out = audio.add_explicit(original, label_settings(audio_morse=placement))
    y, sr = sf.read(io.BytesIO(out), always_2d=True)
    n_cues = 2 if placement == "both" else 1
    assert y.shape[0] / sr == pytest.approx(2.0 + n_cues * CUE_S, abs=1e-3)
    window = int(WINDOW_S * sr)
    checked = []
    if placement in ("start", "both"):
        checked.append(y[:window])
    if placement in ("end", "both"):
        checked.append(y[-window:])
    for part in checked:
        found = assert_ai_rhythm(part, sr)
        assert found[0].length == pytest.approx(0.1, abs=0.015)  # configured unit
        assert 700 <= dominant_hz(part, sr) <= 900
    ref, _ = sf.read(io.BytesIO(original), always_2d=True)
    offset = int(round(CUE_S * sr)) if placement != "end" else 0
    assert np.array_equal(y[offset : offset + ref.shape[0]], ref)  # programme untouched
    _, chunks = walk_wav(out)
    assert info_items(next(c for c in chunks if c.id == b"LIST").data)[b"INAM"] == b"Hello\0"


@pytest.mark.parametrize("kind", ["mp3", "flac", "ogg-vorbis", "ogg-opus"])
def test_explicit_each_codec(samples: dict[str, bytes], kind: str) -> None:
    original = audio.write_implicit(samples[kind], record("old"))
    before = sf.info(io.BytesIO(original))
    out = audio.add_explicit(original, label_settings(audio_morse="start"))
    out = audio.write_implicit(out, record("new"))
    after = sf.info(io.BytesIO(out))
    assert audio.detect_kind(out) == kind
    assert (after.samplerate, after.channels, after.format) == (
        before.samplerate, before.channels, before.format)
    assert after.subtype == before.subtype
    assert after.duration == pytest.approx(before.duration + CUE_S, abs=0.06)
    assert ffmpeg_decode_ok(out) == pytest.approx(after.duration, abs=0.08)
    tags = ffprobe_tags(out)
    assert tags["title"] == "Hello" and tags["AIGC"] == record("new").to_json()
    y, sr = sf.read(io.BytesIO(out), always_2d=True)
    assert_ai_rhythm(y[: int(WINDOW_S * sr)], sr)
    assert 700 <= dominant_hz(y[: int(WINDOW_S * sr)], sr) <= 900


def test_m4a_explicit_cue_through_pyav(samples: dict[str, bytes]) -> None:
    from mutagen.mp4 import MP4

    buf = io.BytesIO(samples["m4a"])
    tagged = MP4(buf)
    tagged["\xa9nam"] = ["Hello"]
    buf.seek(0)
    tagged.save(buf)
    original = audio.write_implicit(buf.getvalue(), record("old"))
    out = audio.write_implicit(audio.add_explicit(original, label_settings()), record("new"))
    assert audio.detect_kind(out) == "m4a"
    tags = ffprobe_tags(out)
    assert tags["title"] == "Hello" and tags["AIGC"] == record("new").to_json()
    # decoded by the ffmpeg command-line tool, not by the library that wrote it
    y, sr = sf.read(io.BytesIO(_ffmpeg_wav(out)), always_2d=True)
    assert y.shape[0] / sr == pytest.approx(1.0 + CUE_S, abs=0.1)
    assert_ai_rhythm(y[: int(WINDOW_S * sr)], sr)
    assert 700 <= dominant_hz(y[: int(WINDOW_S * sr)], sr) <= 900
    assert audio.has_explicit(out) == ["start"]
    assert audio.add_explicit(out, label_settings()) == out  # idempotent: no second cue


def _ffmpeg_wav(data: bytes) -> bytes:
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".m4a") as fh:
        fh.write(data)
        fh.flush()
        return subprocess.run(["ffmpeg", "-v", "error", "-i", fh.name, "-f", "wav", "-"],
                              check=True, capture_output=True).stdout


@pytest.mark.parametrize("level", [0.0, 0.01, 0.1, 0.9])
def test_cue_level_matches_programme(level: float) -> None:
    x = _sine(1.0, 16000, 1) / 0.2 * level * np.sqrt(2)  # RMS = level
    data = encode(x, 16000, "WAV", "FLOAT")
    y, sr = sf.read(io.BytesIO(audio.add_explicit(data, label_settings())), always_2d=True)
    cue = y[: int(WINDOW_S * sr)]
    found = assert_ai_rhythm(cue, sr) if level else None
    peak = float(np.max(np.abs(cue)))
    if level == 0.0:
        assert peak == pytest.approx(10 ** (-30 / 20), rel=0.01)  # audible floor
        return
    assert found
    dash = cue[int((found[1].start + 0.02) * sr) : int((found[1].end - 0.02) * sr)]
    cue_rms = float(np.sqrt(np.mean(dash**2)))
    expected = min(max(level, 10 ** (-30 / 20) / np.sqrt(2)), 10 ** (-3 / 20) / np.sqrt(2))
    assert 20 * np.log10(cue_rms / expected) == pytest.approx(0.0, abs=0.5)
    assert peak <= 10 ** (-3 / 20) + 1e-6


def test_voice_notice_from_operator_recording(tmp_path, samples: dict[str, bytes]) -> None:
    voice = tmp_path / "notice.wav"
    sf.write(voice, _sine(0.8, 22050, 1), 22050)
    out = audio.add_explicit(
        samples["wav"], label_settings(audio_voice=True, voice_path=str(voice), audio_morse="none")
    )
    y, sr = sf.read(io.BytesIO(out), always_2d=True)
    assert y.shape[0] / sr == pytest.approx(2.0 + 0.8 + 0.6, abs=0.01)
    with pytest.raises(LabelFormatError):
        audio.add_explicit(samples["wav"], label_settings(audio_voice=True, audio_morse="none"))


# ----------------------------------------------------------------------------- hostile


def _flac_absurd_length(flac: bytes) -> bytes:
    data = bytearray(flac)
    word = int.from_bytes(data[18:26], "big") | ((1 << 36) - 1)  # STREAMINFO total samples
    data[18:26] = word.to_bytes(8, "big")
    return bytes(data)


def _hostile(samples: dict[str, bytes]) -> dict[str, bytes]:
    wav = samples["wav"]
    return {
        "wav-claims-4GB": wav[:4] + struct.pack("<I", 0xFFFFFFF0) + wav[8:],
        "wav-truncated": wav[: len(wav) // 2],
        "wav-chunk-overrun": wav_with_chunks(wav, [b"junk" + struct.pack("<I", 1 << 31)]),
        "wav-no-data": wav[:12] + make_chunk(b"fmt ", wav[20:36]),
        "wav-header-only": wav[:40],
        "mp3-id3-truncated": samples["mp3"][:60],
        "flac-truncated-head": samples["flac"][:60],
        "ogg-truncated": samples["ogg-vorbis"][:200],
        "m4a-truncated": samples["m4a"][:300],
    }


@pytest.mark.parametrize("name", [
    "wav-claims-4GB", "wav-truncated", "wav-chunk-overrun", "wav-no-data", "wav-header-only",
    "mp3-id3-truncated", "flac-truncated-head", "ogg-truncated", "m4a-truncated",
])
def test_hostile_files_rejected(samples: dict[str, bytes], name: str) -> None:
    data = _hostile(samples)[name]
    with pytest.raises(CorruptFileError):
        audio.read_implicit(data)
    with pytest.raises(CorruptFileError):
        audio.write_implicit(data, record())
    with pytest.raises(CorruptFileError):
        audio.add_explicit(data, label_settings())


def test_decoding_bombs_refused(samples: dict[str, bytes]) -> None:
    with pytest.raises(CorruptFileError, match="limit"):
        audio.add_explicit(_flac_absurd_length(samples["flac"]), label_settings())
    with pytest.raises(CorruptFileError, match="limit"):
        audio.add_explicit(samples["wav"], label_settings(max_audio_seconds=1.0))
    with pytest.raises(CorruptFileError, match="max_bytes"):
        audio.add_explicit(samples["wav"], label_settings(max_bytes=1000))
    silence = encode(np.zeros((SR * 20, 2)), SR, "FLAC", "PCM_16")  # tiny file, 3.5 MB of PCM
    assert len(silence) < 100_000
    with pytest.raises(CorruptFileError, match="max_uncompressed_bytes"):
        audio.add_explicit(silence, label_settings(max_uncompressed_bytes=1 << 20))


def test_truncated_flac_audio_refused_for_explicit(samples: dict[str, bytes]) -> None:
    data = samples["flac"]
    with pytest.raises(CorruptFileError):
        audio.add_explicit(data[: len(data) // 2], label_settings())


def test_rf64_unsupported(samples: dict[str, bytes]) -> None:
    data = b"RF64" + samples["wav"][4:]
    assert audio.sniff(data)
    with pytest.raises(UnsupportedMediaError, match="RF64"):
        audio.write_implicit(data, record())


def test_long_ogg_vorbis_encodes_in_blocks() -> None:
    """libsndfile 1.2 crashes (SIGSEGV) writing over ~2M frames of Vorbis in one call."""
    x = programme(100.0, 22050, 2, level=0.05)
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", 22050, 2, format="OGG", subtype="VORBIS") as f:
        for start in range(0, x.shape[0], 8192):
            f.write(x[start : start + 8192])
    out = audio.add_explicit(buf.getvalue(), label_settings(audio_morse="end"))
    assert sf.info(io.BytesIO(out)).duration == pytest.approx(100.0 + CUE_S, abs=0.05)


@pytest.mark.parametrize("faststart", [False, True])
@pytest.mark.parametrize("with_record", [False, True])
def test_m4a_mdta_keys_updated_in_place(samples: dict[str, bytes], tmp_path, faststart: bool,
                                        with_record: bool) -> None:
    """Files with QuickTime mdta metadata (ffmpeg use_metadata_tags) keep that layout."""
    src = tmp_path / "in.m4a"
    src.write_bytes(samples["m4a"])
    flags = "use_metadata_tags" + ("+faststart" if faststart else "")
    extra = ["-metadata", "AIGC=" + record("old").to_json()] if with_record else []
    data = ffmpeg_make(["-i", str(src), "-metadata", "title=Hi", *extra, "-movflags", flags,
                        "-c", "copy"], ".m4a")
    assert b"mdtatitle" in data and (data.find(b"moov") < data.find(b"mdat")) == faststart
    if with_record:
        assert [f.record for f in audio.read_implicit(data)] == [record("old")]
    out = audio.write_implicit(audio.write_implicit(data, record("x")), record("new"))
    found = audio.read_implicit(out)
    assert [(f.carrier, f.record) for f in found] == [
        ("mp4:moov/udta/meta:mdta:AIGC", record("new"))]
    assert b"com.apple.iTunes" not in out
    tags = ffprobe_tags(out)
    assert tags["AIGC"] == record("new").to_json() and tags["title"] == "Hi"
    assert stream_hash(out) == stream_hash(data)  # chunk offsets still point at the frames
    ffmpeg_decode_ok(out)


def test_m4a_box_overrun_rejected(samples: dict[str, bytes]) -> None:
    data = bytearray(samples["m4a"])
    moov = data.find(b"moov") - 4
    data[moov : moov + 4] = struct.pack(">I", len(data) * 4)
    with pytest.raises(CorruptFileError):
        audio.read_implicit(bytes(data))
    with pytest.raises(CorruptFileError):
        audio.write_implicit(bytes(data), record())


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=_SLOW)
@given(
    kind=st.sampled_from(list(MEDIA)),
    cut=st.integers(0, 4000),
    flips=st.lists(st.tuples(st.integers(0, 3999), st.integers(0, 255)), max_size=6),
)
def test_damaged_files_give_label_errors_only(samples: dict[str, bytes], kind: str, cut: int,
                                              flips: list[tuple[int, int]]) -> None:
    """Damaged headers: either a result or a LabelError, never another exception."""
    data = bytearray(samples[kind][: max(cut, 12)] if cut < 4000 else samples[kind])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    for action in (audio.read_implicit, lambda d: audio.write_implicit(d, record())):
        try:
            action(bytes(data))
        except LabelError:
            pass


@pytest.mark.parametrize("kind", ["wav", "mp3", "ogg-opus"])
def test_explicit_label_idempotent(samples: dict[str, bytes], kind: str) -> None:
    both = label_settings(audio_morse="both")
    assert audio.has_explicit(samples[kind]) == []
    once = audio.add_explicit(samples[kind], both)
    assert audio.has_explicit(once) == ["start", "end"]
    assert audio.add_explicit(once, both) == once  # cue found at both ends: unchanged bytes
    start_only = audio.add_explicit(samples[kind], label_settings(audio_morse="start"))
    then_end = audio.add_explicit(start_only, both)  # only the missing end cue is added
    expected = sf.info(io.BytesIO(samples[kind])).duration + 2 * CUE_S
    assert sf.info(io.BytesIO(then_end)).duration == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("signal", ["noise", "sine800", "silence", "beeps"])
def test_cue_detector_rejects_programme_without_cue(signal: str) -> None:
    sr = 16000
    if signal == "noise":
        x = programme(3.0, sr, 1)
    elif signal == "silence":
        x = np.zeros((3 * sr, 1))
    else:
        t = np.arange(3 * sr) / sr
        tone = 0.3 * np.sin(2 * np.pi * 800 * t)
        if signal == "beeps":  # 800 Hz, equal 100 ms beeps: Morse "EEEE", not "AI"
            tone *= (t % 0.2) < 0.1
        x = tone[:, None]
    data = encode(x, sr, "WAV", "PCM_16")
    assert audio.has_explicit(data) == []
    out = audio.add_explicit(data, label_settings())
    assert sf.info(io.BytesIO(out)).duration == pytest.approx(3.0 + CUE_S, abs=1e-3)


_VALUE = st.text(alphabet="abcXYZ019-_.:/+=", max_size=2048)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=_SLOW)
@given(kind=st.sampled_from(list(MEDIA)), first=_VALUE, second=_VALUE)
def test_rewrite_depends_only_on_last_record(samples: dict[str, bytes], kind: str, first: str,
                                             second: str) -> None:
    """Bytes outside the record never depend on an earlier record (integrity hashes the file
    rewritten with a neutral record, before and after labeling)."""
    neutral = LabelRecord(label="1")
    a = LabelRecord(label="1", content_producer=CODE, produce_id="p", reserved_code1=first)
    b = LabelRecord(label="3", content_propagator=CODE, reserved_code2=second)
    direct = audio.write_implicit(samples[kind], neutral)
    assert audio.write_implicit(audio.write_implicit(samples[kind], a), neutral) == direct
    chained = audio.write_implicit(audio.write_implicit(samples[kind], a), b)
    assert audio.write_implicit(chained, neutral) == direct


def test_streamed_wav_sizes_filled_in() -> None:
    """ffmpeg (and TTS APIs) writing WAV to a pipe leave 0xFFFFFFFF as RIFF and data sizes."""
    data = ffmpeg_make_pipe(["-f", "lavfi", "-i", "sine=frequency=500:duration=0.5",
                             "-ac", "1", "-f", "wav"])
    assert data[4:8] == b"\xff\xff\xff\xff"
    out = audio.write_implicit(data, record())
    riff_size, chunks = walk_wav(out)
    assert riff_size == len(out) - 8
    pcm = next(c for c in chunks if c.id == b"data")
    assert pcm.size == len(data) - data.find(b"data") - 8  # all samples, sizes now real
    assert [f.record for f in audio.read_implicit(out)] == [record()]
    labeled = audio.add_explicit(data, label_settings())
    assert sf.info(io.BytesIO(labeled)).duration == pytest.approx(0.5 + CUE_S, abs=1e-3)
    assert walk_wav(labeled)[0] == len(labeled) - 8


def test_wav_missing_final_pad_byte_repaired() -> None:
    x = encode(np.zeros((101, 1)), 8000, "WAV", "PCM_U8")  # 101 bytes of samples: odd
    _, chunks = walk_wav(x)
    assert next(c for c in chunks if c.id == b"data").pad == b"\0"
    unpadded = x[:-1]
    unpadded = unpadded[:4] + struct.pack("<I", len(unpadded) - 8) + unpadded[8:]
    out = audio.write_implicit(unpadded, record())
    riff_size, chunks = walk_wav(out)
    assert riff_size == len(out) - 8 and chunks[-1].pad == b"\0"


@pytest.mark.parametrize("kind", ["wav", "mp3", "flac", "ogg-vorbis", "ogg-opus", "m4a"])
def test_api_label_inspect_propagate_with_content_binding(samples: dict[str, bytes],
                                                          kind: str) -> None:
    """Through labelers.api: the signed record binds the audio bytes and survives propagation."""
    from labelers.api import inspect_file, label_file, propagate_file
    from labelers.settings import SigningConfig

    key = b"k" * 32
    cfg = label_settings(signing=SigningConfig(key=key))
    out = label_file(samples[kind], settings=cfg)
    assert out.explicit and out.media_type == MEDIA[kind]
    report = inspect_file(out.data, verify_key=key)
    assert report.compliant and report.signatures["producer"].state == "valid"
    assert ffprobe_tags(out.data).get("AIGC", out.record.to_json()) == out.record.to_json()
    assert label_file(out.data, settings=cfg).unchanged  # idempotent, no second cue
    shared = propagate_file(out.data, propagator_code=CODE[:22] + "20000", propagate_id="p-1",
                            settings=cfg)
    after = inspect_file(shared.data, verify_key=key)
    assert after.compliant and after.record.produce_id == out.record.produce_id
    assert {k: v.state for k, v in after.signatures.items()} == {"producer": "valid",
                                                                 "propagator": "valid"}
    tampered = bytearray(shared.data)
    # a byte of audio data: near the end, except M4A where moov (the tags) is at the end
    at = shared.data.find(b"mdat") + 200 if kind == "m4a" else len(tampered) - 100
    tampered[at] ^= 0x55
    broken = inspect_file(bytes(tampered), verify_key=key)
    assert broken.signatures["producer"].state == "invalid"


@pytest.mark.parametrize(("rate", "channels", "bitrate"), [
    (44100, 2, 320_000), (44100, 1, 128_000), (22050, 1, 64_000), (8000, 1, 32_000)])
def test_mp3_constant_bitrate_kept(rate: int, channels: int, bitrate: int) -> None:
    from mutagen.mp3 import MP3

    data = ffmpeg_make_pipe(["-f", "lavfi", "-i", "sine=duration=1", "-ar", str(rate),
                             "-ac", str(channels), "-b:a", str(bitrate), "-f", "mp3"])
    out = audio.add_explicit(data, label_settings())
    info = MP3(io.BytesIO(out)).info
    assert (info.sample_rate, info.channels) == (rate, channels)
    assert info.bitrate == pytest.approx(bitrate, abs=1000)


@pytest.mark.parametrize("subtype", ["IMA_ADPCM", "MS_ADPCM", "GSM610", "G721_32", "ULAW",
                                     "ALAW", "DOUBLE"])
def test_wav_codecs_keep_their_encoding(subtype: str) -> None:
    data = encode(programme(1.0, 8000, 1), 8000, "WAV", subtype)
    before = sf.info(io.BytesIO(data))
    out = audio.write_implicit(audio.add_explicit(data, label_settings()), record())
    after = sf.info(io.BytesIO(out))
    assert (after.subtype, after.samplerate, after.channels) == (subtype, 8000, 1)
    assert after.duration == pytest.approx(before.duration + CUE_S, abs=0.06)
    y, sr = sf.read(io.BytesIO(out), always_2d=True)
    assert_ai_rhythm(y[: int(WINDOW_S * sr)], sr)
    assert [c.id for c in walk_wav(out)[1]].count(b"AIGC") == 1
