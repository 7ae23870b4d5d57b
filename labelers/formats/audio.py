"""Audio labels (GB 45438 §5.3 explicit, Annex E implicit): WAV, MP3, FLAC, Ogg, M4A.

The format module interface is described in :mod:`labelers.formats.base`.

- ``sniff``/``media_type`` look at the content only (magic bytes and the first frame header),
  never at a file name, so a wrong extension cannot mislead them.
- ``write_implicit``/``read_implicit``: carriers as in :mod:`labelers.formats.audio_tags`
  (MP3 ID3v2 ``TXXX:AIGC``, FLAC/Ogg Vorbis comment ``AIGC``, WAV RIFF chunk ``AIGC``, M4A
  QuickTime ``mdta`` key ``AIGC`` when the file uses that layout, else the freeform atom
  ``----:com.apple.iTunes:AIGC``). Writing leaves exactly one record and all other metadata
  and the audio bytes untouched, and the bytes outside the record depend only on the record
  written last (no tag padding), which the content binding of ``labelers.integrity`` needs.
- ``add_explicit``: the Morse "AI" rhythm (and optionally a recorded voice notice) at the start,
  the end or both, level-matched, re-encoded in the same container, codec, sample rate and
  channel count (see :mod:`labelers.formats.audio_explicit`). M4A is refused there: libsndfile
  has no AAC codec, and we do not shell out to ffmpeg inside the library.

Which of the two "Opus" media types to report: ``audio/ogg`` for both Ogg codecs (RFC 7845
registers ``audio/ogg`` for Opus in Ogg; ``audio/opus`` is for RTP).
"""

from __future__ import annotations

from labelers.errors import UnsupportedMediaError
from labelers.record import LabelRecord
from labelers.settings import LabelSettings

from . import audio_explicit, audio_tags, riff
from .base import FoundRecord

__all__ = [
    "add_explicit",
    "detect_kind",
    "has_explicit",
    "media_type",
    "read_implicit",
    "sniff",
    "write_implicit",
]

MEDIA_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg-vorbis": "audio/ogg",
    "ogg-opus": "audio/ogg",
    "m4a": "audio/mp4",
}
_M4A_BRANDS = (b"M4A ", b"M4B ", b"M4P ")
_MP3_SCAN = 4096  # zero padding tolerated between an ID3 tag and the first MPEG frame


def detect_kind(data: bytes) -> str | None:
    """``"wav"``, ``"mp3"``, ``"flac"``, ``"ogg-vorbis"``, ``"ogg-opus"``, ``"m4a"`` or None."""
    if riff.is_wave(data):
        return "wav"
    head = _skip_id3(data)
    if head > len(data):
        return "mp3"  # an ID3v2 tag running past the end: a truncated MP3, refused later
    if data[head : head + 4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return _ogg_codec(data)
    if len(data) >= 12 and data[4:8] == b"ftyp" and _is_audio_mp4(data):
        return "m4a"
    pos = head
    while pos < min(len(data), head + _MP3_SCAN) and data[pos] == 0:
        pos += 1
    if _mpeg_frame_length(data, pos) and (head > 0 or _mpeg_frame_chain(data, pos)):
        return "mp3"
    return None


def sniff(data: bytes) -> bool:
    """True for WAV, MP3, FLAC, Ogg Vorbis/Opus and audio-only M4A content."""
    return detect_kind(data) is not None


def media_type(data: bytes) -> str:
    """The IANA media type of sniffed audio (``audio/wav``, ``audio/mpeg``, ...)."""
    return MEDIA_TYPES[_kind(data)]


def write_implicit(data: bytes, record: LabelRecord) -> bytes:
    """Return the file with exactly one AIGC record (bare JSON) in its format's carrier."""
    return audio_tags.write(_kind(data), data, record.to_json())


def read_implicit(data: bytes) -> list[FoundRecord]:
    """Every AIGC value in the file, one entry per copy, parsed leniently.

    Copies are not merged, so duplicates are visible to the caller (``labelers.api`` reports
    more than one as a GB 45438 §6.1 c) problem).
    """
    values = audio_tags.read(_kind(data), data)
    return [FoundRecord.from_raw(carrier, raw, problems=list(p)) for carrier, raw, p in values]


def add_explicit(data: bytes, settings: LabelSettings) -> bytes:
    """Add the audible label (Morse "AI" rhythm, optional voice notice) per ``settings``.

    The result keeps format, codec, sample rate, channels and the file's metadata; its
    implicit record is written by the caller afterwards. Raises ``UnsupportedMediaError``
    (unknown content) or ``CorruptFileError`` and never returns partial output.
    """
    return audio_explicit.add_cue(_kind(data), data, settings)


def has_explicit(data: bytes, settings: LabelSettings | None = None) -> list[str]:
    """Where the Morse "AI" cue is found: a subset of ``["start", "end"]``.

    Decodes the audio (same limits as :func:`add_explicit`). For inspection and for
    propagation's "explicit label detected" (Label "3").
    """
    return audio_explicit.find_cue(_kind(data), data, settings)


def _kind(data: bytes) -> str:
    kind = detect_kind(data)
    if kind is None:
        raise UnsupportedMediaError("not a supported audio file (WAV, MP3, FLAC, Ogg, M4A)")
    return kind


def _skip_id3(data: bytes) -> int:
    """Offset just past the leading ID3v2 tags (0 when there is none; past the end when the
    last tag is truncated).

    Several tags in a row occur in the wild (a tagger prepending instead of replacing).
    """
    pos = 0
    while pos + 10 <= len(data) and data[pos : pos + 3] == b"ID3":
        if any(b & 0x80 for b in data[pos + 6 : pos + 10]):
            break
        b6, b7, b8, b9 = data[pos + 6 : pos + 10]
        size = (b6 << 21) | (b7 << 14) | (b8 << 7) | b9  # syncsafe integer
        pos += 10 + size + (10 if data[pos + 5] & 0x10 else 0)
    return pos


def _ogg_codec(data: bytes) -> str | None:
    # First page: 27-byte header, segment table, then the codec's identification packet.
    if len(data) < 28:
        return None
    nsegs = data[26]
    packet = data[27 + nsegs : 27 + nsegs + 8]
    if packet.startswith(b"\x01vorbis"):
        return "ogg-vorbis"
    if packet.startswith(b"OpusHead"):
        return "ogg-opus"
    return None


def _is_audio_mp4(data: bytes) -> bool:
    if data[8:12] in _M4A_BRANDS:
        return True
    # Generic brands (isom, mp42, ...): audio only when there is a sound track and no video.
    return b"hdlr\x00\x00\x00\x00\x00\x00\x00\x00soun" in data and (
        b"hdlr\x00\x00\x00\x00\x00\x00\x00\x00vide" not in data
    )


_BITRATES = {
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame_length(data: bytes, pos: int) -> int:
    """Length of the MPEG-1/2/2.5 Layer II/III frame starting at ``pos`` (0 if none)."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return 0
    version = (data[pos + 1] >> 3) & 3  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5, 1 reserved
    layer = (data[pos + 1] >> 1) & 3  # 1 = Layer III, 2 = Layer II (0 = reserved, e.g. ADTS)
    bitrate_idx = data[pos + 2] >> 4
    rate_idx = (data[pos + 2] >> 2) & 3
    if version == 1 or layer not in (1, 2) or bitrate_idx in (0, 15) or rate_idx == 3:
        return 0
    family = 1 if version == 3 else 2
    bitrate = _BITRATES[(family, 4 - layer)][bitrate_idx] * 1000
    rate = _RATES[version][rate_idx]
    padding = (data[pos + 2] >> 1) & 1
    per_frame = 144 if (layer == 2 or family == 1) else 72
    return per_frame * bitrate // rate + padding


def _mpeg_frame_chain(data: bytes, pos: int, frames: int = 3) -> bool:
    """True when ``frames`` consecutive valid frame headers follow (or the data ends)."""
    for _ in range(frames):
        length = _mpeg_frame_length(data, pos)
        if not length:
            return False
        pos += length
        if pos >= len(data):
            return True
    return True
