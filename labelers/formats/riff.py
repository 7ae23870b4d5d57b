"""RIFF/WAVE chunk walker and writer for the WAV ``AIGC`` chunk (TC260-PG-202510A).

A WAV file is ``RIFF <size:u32le> WAVE`` followed by chunks ``<id:4> <size:u32le> <data>``,
each data part padded with one zero byte when its size is odd (the pad byte is not counted
in the chunk size, but it is counted in the RIFF size).

Judgement calls (see ``labeling.md`` §3.4, §3.5, §11 check 13):

- The record goes into exactly one top-level chunk with id ``AIGC`` holding the bare 7-field
  JSON (the chunk id already says "AIGC", so no ``{"AIGC": ...}`` wrapper). It is placed right
  before the ``data`` chunk, so it sits in the "file head" in front of the samples.
- Writing replaces every earlier AIGC carrier of the file: top-level ``AIGC`` chunks and the
  ``LIST``/``INFO``/``AIGC`` copy some writers add (``gtkit/aigc``), because GB 45438 §6.1 c)
  allows one record per file. The caller (``labelers.api``) merges the old record into the new
  one first, so no other party's fields are lost. All other chunks are kept byte for byte.
- Bytes after the end of the RIFF form (some taggers append ID3 there) are kept as they are.
- Hostile input is refused before anything is allocated: a RIFF or chunk size larger than the
  data present (e.g. a 4 GB claim in a small file), RF64, a missing ``fmt `` or ``data`` chunk.
  One exception: a *streamed* WAV (written to a pipe by ffmpeg or a TTS API) carries the
  placeholder 0 or 0xFFFFFFFF as RIFF size and ``data`` size; then ``data`` runs to the end of
  the file, and writing fills in the real sizes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from labelers.errors import CorruptFileError, UnsupportedMediaError

AIGC_ID = b"AIGC"
_HEADER = struct.Struct("<4sI")
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # placeholders of WAV streamed to a pipe (ffmpeg, TTS APIs)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of a RIFF form: its id, and where its data lies in the file."""

    id: bytes
    offset: int  # offset of the chunk header
    size: int  # size field (data length without the pad byte)

    @property
    def data_start(self) -> int:
        return self.offset + 8

    @property
    def end(self) -> int:
        """Offset just past the data and its pad byte."""
        return self.data_start + self.size + (self.size & 1)

    def data(self, buf: bytes) -> bytes:
        return buf[self.data_start : self.data_start + self.size]

    def raw(self, buf: bytes) -> bytes:
        """Header (with the real size), data and pad byte (a missing final pad is added)."""
        view = memoryview(buf)[self.data_start : self.data_start + self.size]
        return b"".join((_HEADER.pack(self.id, self.size), view, b"\x00" * (self.size & 1)))


@dataclass(frozen=True, slots=True)
class RiffForm:
    """A parsed ``RIFF....WAVE`` file: its top-level chunks and what follows the form."""

    chunks: tuple[Chunk, ...]
    form_end: int  # offset just past the RIFF form

    def find(self, chunk_id: bytes) -> list[Chunk]:
        return [c for c in self.chunks if c.id == chunk_id]


def is_wave(data: bytes) -> bool:
    """True when the bytes start like a RIFF/WAVE (or RF64/WAVE) file."""
    return len(data) >= 12 and data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE"


def parse_wave(data: bytes) -> RiffForm:
    """Walk the top-level chunks of a WAV file; raise on anything inconsistent.

    Raises ``UnsupportedMediaError`` for non-WAV or RF64 input and ``CorruptFileError`` for a
    truncated file or sizes that point past the end of the data.
    """
    if not is_wave(data):
        raise UnsupportedMediaError("not a RIFF/WAVE file")
    if data[:4] == b"RF64":
        raise UnsupportedMediaError("RF64 (64-bit WAV) is not supported")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    streamed = riff_size in _UNKNOWN_SIZES
    if streamed:  # written to a pipe: the sizes were never filled in
        riff_size = len(data) - 8
    form_end = 8 + riff_size
    if form_end > len(data) + 1:  # one missing final pad byte is tolerated
        raise CorruptFileError(
            f"WAV RIFF size {riff_size} exceeds the {len(data)} bytes present "
            "(truncated or hostile)"
        )
    if riff_size < 4:
        raise CorruptFileError(f"WAV RIFF size {riff_size} is too small")
    chunks: list[Chunk] = []
    pos = 12
    limit = min(form_end, len(data))
    while pos + 8 <= limit:
        chunk_id, size = _HEADER.unpack_from(data, pos)
        if streamed and chunk_id == b"data" and size in _UNKNOWN_SIZES:
            size = limit - pos - 8  # the samples run to the end of the file
        if size > limit - pos - 8:
            raise CorruptFileError(
                f"WAV chunk {chunk_id!r} at offset {pos} claims {size} bytes, "
                f"only {limit - pos - 8} present"
            )
        chunk = Chunk(chunk_id, pos, size)
        chunks.append(chunk)
        pos = chunk.end
    if pos < limit and any(data[pos:limit]):
        raise CorruptFileError(f"WAV has {limit - pos} stray bytes at offset {pos}")
    ids = [c.id for c in chunks]
    if b"fmt " not in ids or b"data" not in ids:
        raise CorruptFileError("WAV lacks a 'fmt ' or 'data' chunk")
    return RiffForm(tuple(chunks), form_end)


def info_subchunks(data: bytes, list_chunk: Chunk) -> list[Chunk]:
    """Sub-chunks of a ``LIST`` chunk of type ``INFO`` (empty for other LIST types)."""
    body_start = list_chunk.data_start
    if list_chunk.size < 4 or data[body_start : body_start + 4] != b"INFO":
        return []
    out: list[Chunk] = []
    pos = body_start + 4
    limit = list_chunk.data_start + list_chunk.size
    while pos + 8 <= limit:
        chunk_id, size = _HEADER.unpack_from(data, pos)
        if size > limit - pos - 8:
            raise CorruptFileError(f"WAV LIST/INFO sub-chunk {chunk_id!r} overruns its LIST")
        sub = Chunk(chunk_id, pos, size)
        out.append(sub)
        pos = sub.end
    return out


def make_chunk(chunk_id: bytes, payload: bytes) -> bytes:
    """Chunk header, payload and the pad byte when the payload length is odd."""
    if len(chunk_id) != 4:
        raise ValueError("RIFF chunk id must be 4 bytes")
    return _HEADER.pack(chunk_id, len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")


def _without_info_aigc(data: bytes, list_chunk: Chunk) -> bytes | None:
    """The LIST chunk rebuilt without INFO/AIGC sub-chunks; None when nothing would remain."""
    subs = info_subchunks(data, list_chunk)
    if not any(s.id == AIGC_ID for s in subs):
        return list_chunk.raw(data)
    kept = [s.raw(data) for s in subs if s.id != AIGC_ID]
    if not kept:
        return None
    return make_chunk(b"LIST", b"INFO" + b"".join(kept))


def assemble(chunks: list[bytes], tail: bytes = b"") -> bytes:
    """A RIFF/WAVE file from already-serialised chunks (each with its pad byte)."""
    size = 4 + sum(len(c) for c in chunks)
    if size > 0xFFFFFFFF:
        raise CorruptFileError("WAV would exceed the 4 GiB RIFF limit")
    return b"".join((b"RIFF", struct.pack("<I", size), b"WAVE", *chunks, tail))


def write_aigc_chunk(data: bytes, payload: bytes) -> bytes:
    """Return ``data`` with exactly one top-level ``AIGC`` chunk holding ``payload``.

    Every earlier AIGC chunk (top level or in LIST/INFO) is dropped, all other chunks are kept
    in order, the new chunk goes right before ``data``, and the RIFF size is recomputed.
    """
    form = parse_wave(data)
    out: list[bytes] = []
    placed = False
    for chunk in form.chunks:
        if chunk.id == AIGC_ID:
            continue
        if chunk.id == b"data" and not placed:
            out.append(make_chunk(AIGC_ID, payload))
            placed = True
        if chunk.id == b"LIST":
            rebuilt = _without_info_aigc(data, chunk)
            if rebuilt is not None:
                out.append(rebuilt)
            continue
        out.append(chunk.raw(data))
    return assemble(out, data[form.form_end :])


def aigc_payloads(data: bytes) -> list[tuple[str, bytes]]:
    """Every AIGC payload in the file as ``(carrier, raw bytes)``, in file order."""
    form = parse_wave(data)
    found: list[tuple[str, bytes]] = []
    for chunk in form.chunks:
        if chunk.id == AIGC_ID:
            found.append(("wav:AIGC", chunk.data(data)))
        elif chunk.id == b"LIST":
            for sub in info_subchunks(data, chunk):
                if sub.id == AIGC_ID:
                    found.append(("wav:LIST/INFO/AIGC", sub.data(data)))
    return found
