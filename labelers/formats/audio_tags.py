"""Implicit-label carriers of audio containers, read and written with mutagen (and riff.py).

Carriers (TC260-PG-202510A as summarised in ``labeling.md`` §3.4):

- MP3: one ID3v2 ``TXXX`` frame, description ``AIGC``, UTF-8 (encoding 3). The tag keeps its
  ID3 version (2.3 stays 2.3) and every other frame.
- FLAC, Ogg Vorbis, Ogg Opus: one Vorbis comment ``AIGC=<json>``; other comments and FLAC
  pictures are kept.
- WAV: a RIFF chunk ``AIGC`` (see ``riff.py``).
- M4A: the guide's Annex E layout is unknown to us (``labeling.md`` §12 item 7). A file that
  already has QuickTime ``mdta`` metadata (``keys``/``ilst``, the MP4 video guide's layout,
  what ``ffmpeg -movflags use_metadata_tags`` writes) gets the value there (``mp4meta.py``).
  Any other M4A gets the iTunes freeform atom ``----:com.apple.iTunes:AIGC`` (as
  ``w946974762`` does): mutagen writes it safely next to the existing iTunes tags, and ffprobe
  reports it as the format tag ``AIGC``, the same name an ``mdta`` key gives. Both are read.

The value is the bare 7-field JSON (the carrier is already named AIGC, ``labeling.md`` §3.5);
readers accept bare or wrapped. Reading reports every carrier whose name is AIGC in any case
(Annex E a), and each value of a multi-valued frame or comment as its own record, so duplicates
are visible.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import TypeVar

import mutagen
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TXXX, ID3NoHeaderError
from mutagen.mp3 import MP3, BitrateMode
from mutagen.mp4 import MP4, AtomDataType, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from labelers.errors import CorruptFileError

from . import mp4meta, riff

AIGC = "AIGC"
M4A_KEY = "----:com.apple.iTunes:AIGC"
_T = TypeVar("_T")


def _no_padding(info: object) -> int:
    """Tags are written without padding, so the bytes outside the AIGC value never depend on
    an earlier record's length: integrity binds the content by hashing the file rewritten
    with a neutral record, which must give the same bytes before and after labeling."""
    return 0

#: Exceptions mutagen lets through on malformed input besides its own MutagenError.
_PARSE_ERRORS = (
    mutagen.MutagenError,
    struct.error,
    ValueError,
    IndexError,
    KeyError,
    EOFError,
    OverflowError,
    TypeError,
    AttributeError,
)


def _guard(kind: str, action: Callable[[], _T]) -> _T:
    try:
        return action()
    except CorruptFileError:
        raise
    except _PARSE_ERRORS as exc:
        raise CorruptFileError(f"{kind}: cannot parse the file ({exc})") from exc


# ---------------------------------------------------------------------------- write


def write(kind: str, data: bytes, payload: str) -> bytes:
    """Return ``data`` with exactly one AIGC carrier of ``kind`` holding ``payload``."""
    if kind == "wav":
        return riff.write_aigc_chunk(data, payload.encode("ascii"))
    return _guard(kind, lambda: _WRITERS[kind](data, payload))


def _write_mp3(data: bytes, payload: str) -> bytes:
    buf = io.BytesIO(data)
    MP3(buf)  # raises when there is no MPEG audio: refuse to tag a non-MP3
    buf.seek(0)
    try:
        tags = ID3(buf)
        version = tags.version[1]
    except ID3NoHeaderError:
        tags, version = ID3(), 4
    for frame in list(tags.getall("TXXX")):
        if AIGC in frame.desc.upper():  # every frame the reader reports (Annex E a)
            tags.delall(frame.HashKey)
    tags.add(TXXX(encoding=3, desc=AIGC, text=[payload]))
    buf.seek(0)
    tags.save(buf, v2_version=3 if version == 3 else 4, padding=_no_padding)
    return buf.getvalue()


def _write_vorbis(cls: type) -> Callable[[bytes, str], bytes]:
    def write_comment(data: bytes, payload: str) -> bytes:
        buf = io.BytesIO(data)
        audio = cls(buf)
        if audio.tags is None:
            audio.add_tags()
        audio.tags[AIGC] = [payload]  # VCommentDict: replaces every case variant of the key
        buf.seek(0)
        audio.save(buf, padding=_no_padding)
        return buf.getvalue()

    return write_comment


def _write_m4a(data: bytes, payload: str) -> bytes:
    buf = io.BytesIO(data)
    audio = MP4(buf)  # validates the file before any edit
    in_mdta = mp4meta.write_aigc(data, payload.encode("ascii"))
    if in_mdta is not None:
        return in_mdta
    if audio.tags is None:
        audio.add_tags()
    for key in [k for k in audio.tags if _is_m4a_aigc(k)]:
        del audio.tags[key]
    audio.tags[M4A_KEY] = [MP4FreeForm(payload.encode("ascii"), AtomDataType.UTF8)]
    buf.seek(0)
    audio.save(buf, padding=_no_padding)
    return buf.getvalue()


_WRITERS: dict[str, Callable[[bytes, str], bytes]] = {
    "mp3": _write_mp3,
    "flac": _write_vorbis(FLAC),
    "ogg-vorbis": _write_vorbis(OggVorbis),
    "ogg-opus": _write_vorbis(OggOpus),
    "m4a": _write_m4a,
}


# ----------------------------------------------------------------------------- read


def read(kind: str, data: bytes) -> list[tuple[str, str | bytes, list[str]]]:
    """Every AIGC value in the file as ``(carrier, raw value, carrier problems)``."""
    if kind == "wav":
        return [(carrier, raw, []) for carrier, raw in riff.aigc_payloads(data)]
    return _guard(kind, lambda: _READERS[kind](data))


def _read_mp3(data: bytes) -> list[tuple[str, str | bytes, list[str]]]:
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
        if 10 + size > len(data):
            raise CorruptFileError(f"mp3: ID3v2 tag of {size} bytes is truncated")
    try:
        tags = ID3(io.BytesIO(data))
    except ID3NoHeaderError:
        return []
    found: list[tuple[str, str | bytes, list[str]]] = []
    for frame in tags.getall("TXXX"):
        if AIGC not in frame.desc.upper():
            continue
        problems = (
            [] if frame.desc == AIGC else [f"TXXX description {frame.desc!r}, expected 'AIGC'"]
        )
        for value in frame.text:
            found.append((f"id3:TXXX:{frame.desc}", str(value), problems))
    return found


def _read_vorbis(cls: type) -> Callable[[bytes], list[tuple[str, str | bytes, list[str]]]]:
    def read_comment(data: bytes) -> list[tuple[str, str | bytes, list[str]]]:
        audio = cls(io.BytesIO(data))
        if audio.tags is None:
            return []
        return [
            ("vorbis:" + key, value, [])
            for key, value in audio.tags
            if key.upper() == AIGC
        ]

    return read_comment


def _is_m4a_aigc(key: str) -> bool:
    return key.startswith("----:") and key.rsplit(":", 1)[-1].upper() == AIGC


def _read_m4a(data: bytes) -> list[tuple[str, str | bytes, list[str]]]:
    audio = MP4(io.BytesIO(data))
    if audio.tags is None:
        return []
    found: list[tuple[str, str | bytes, list[str]]] = []
    for key, values in audio.tags.items():
        if not _is_m4a_aigc(key):
            continue
        problems = [] if key == M4A_KEY else [f"freeform atom {key!r}, expected {M4A_KEY!r}"]
        for value in values:
            found.append(("mp4:" + key, bytes(value), problems))
    for carrier, value in mp4meta.read_aigc(data):
        problems = [] if carrier.endswith(":AIGC") else [f"mdta key {carrier!r}, expected 'AIGC'"]
        found.append((carrier, value, problems))
    return found


_READERS: dict[str, Callable[[bytes], list[tuple[str, str | bytes, list[str]]]]] = {
    "mp3": _read_mp3,
    "flac": _read_vorbis(FLAC),
    "ogg-vorbis": _read_vorbis(OggVorbis),
    "ogg-opus": _read_vorbis(OggOpus),
    "m4a": _read_m4a,
}


# ------------------------------------------------------------------ carry over


def mp3_cbr_bitrate(data: bytes) -> int:
    """Bitrate (bit/s) of a constant-bitrate MP3; 0 for VBR/ABR or when unreadable.

    A file without a Xing/VBRI/LAME header (mode UNKNOWN) is constant bitrate in practice.
    """
    try:
        info = MP3(io.BytesIO(data)).info
    except _PARSE_ERRORS:
        return 0
    cbr = info.bitrate_mode in (BitrateMode.CBR, BitrateMode.UNKNOWN)
    return int(info.bitrate) if cbr else 0


def copy_tags(kind: str, original: bytes, encoded: bytes) -> bytes:
    """``encoded`` with the tags of ``original`` (same kind) copied over, AIGC included."""
    return _guard(kind, lambda: _COPIERS[kind](original, encoded))


def _copy_mp3(original: bytes, encoded: bytes) -> bytes:
    try:
        tags = ID3(io.BytesIO(original))
    except ID3NoHeaderError:
        tags = None
    buf = io.BytesIO(encoded)
    if tags is not None:
        tags.save(buf, v2_version=3 if tags.version[1] == 3 else 4, padding=_no_padding)
    out = buf.getvalue()
    if len(original) >= 128 and original[-128:-125] == b"TAG" and out[-128:-125] != b"TAG":
        out += original[-128:]  # ID3v1 trailer
    return out


def _copy_vorbis(cls: type) -> Callable[[bytes, bytes], bytes]:
    def copy(original: bytes, encoded: bytes) -> bytes:
        old = cls(io.BytesIO(original))
        buf = io.BytesIO(encoded)
        new = cls(buf)
        if new.tags is None:
            new.add_tags()
        new.tags.clear()
        if old.tags is not None:
            new.tags.extend(list(old.tags))
            new.tags.vendor = old.tags.vendor
        if cls is FLAC:
            new.clear_pictures()
            for picture in old.pictures:
                new.add_picture(picture)
        buf.seek(0)
        new.save(buf, padding=_no_padding)
        return buf.getvalue()

    return copy


def _copy_m4a(original: bytes, encoded: bytes) -> bytes:
    """iTunes tags (ilst atoms, cover art) of the original onto the re-encoded M4A."""
    old = MP4(io.BytesIO(original))
    if not old.tags:
        return encoded
    buf = io.BytesIO(encoded)
    new = MP4(buf)
    if new.tags is None:
        new.add_tags()
    for key, value in old.tags.items():
        new.tags[key] = value
    buf.seek(0)
    new.save(buf, padding=_no_padding)
    return buf.getvalue()


_COPIERS: dict[str, Callable[[bytes, bytes], bytes]] = {
    "mp3": _copy_mp3,
    "flac": _copy_vorbis(FLAC),
    "ogg-vorbis": _copy_vorbis(OggVorbis),
    "ogg-opus": _copy_vorbis(OggOpus),
    "m4a": _copy_m4a,
}
