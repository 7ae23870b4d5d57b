"""QuickTime ``mdta`` metadata of MP4/M4A files: ``meta`` with ``hdlr mdta``, ``keys``, ``ilst``.

This is the layout of the TC260 MP4 video guide (``moov/udta/meta``: key ``mdtaAIGC`` in
``keys``, its value in the ``ilst`` item whose 1-based index is the key's position) and what
``ffmpeg -movflags use_metadata_tags`` writes; iOS puts the same ``meta`` directly under
``moov``. mutagen does not know the ``keys`` box, so this module reads it and edits it by
splicing bytes: every enclosing box size is updated and, when ``moov`` sits before the media
data, every ``stco``/``co64`` chunk offset that points behind the edit is shifted.

Used by ``audio_tags`` for M4A: a file that already has an ``mdta`` meta gets its AIGC value
there (one record, in the layout it already uses); other M4A files get the iTunes freeform
atom through mutagen.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from labelers.errors import CorruptFileError

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta"}
_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Box:
    type: bytes
    start: int
    end: int
    header: int  # 8, or 16 with a 64-bit size

    @property
    def body(self) -> int:
        return self.start + self.header


def boxes(data: bytes, start: int, end: int) -> list[Box]:
    """Boxes laid out between ``start`` and ``end``; CorruptFileError on bad sizes."""
    out: list[Box] = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise CorruptFileError("MP4 box with a truncated 64-bit size")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise CorruptFileError(
                f"MP4 box {kind!r} at {pos} claims {size} bytes, beyond its parent"
            )
        out.append(Box(kind, pos, pos + size, header))
        pos += size
    return out


@dataclass(frozen=True, slots=True)
class MdtaMeta:
    """One ``mdta`` meta box: its ancestors (outermost first), keys and ilst."""

    path: tuple[Box, ...]  # moov, [udta], meta
    keys: Box
    ilst: Box | None
    names: tuple[bytes, ...]  # key names (namespace stripped), index 1 = names[0]


def _meta_children(data: bytes, meta: Box) -> list[Box]:
    body = meta.body
    # ISO meta is a FullBox (4 bytes version/flags); QuickTime meta is a plain container.
    if data[body + 4 : body + 8] != b"hdlr":
        body += 4
    return boxes(data, body, meta.end)


def find_mdta(data: bytes) -> list[MdtaMeta]:
    """Every ``mdta`` meta under ``moov`` or ``moov/udta``."""
    found: list[MdtaMeta] = []
    for moov in (b for b in boxes(data, 0, len(data)) if b.type == b"moov"):
        candidates: list[tuple[Box, ...]] = []
        for child in boxes(data, moov.body, moov.end):
            if child.type == b"meta":
                candidates.append((moov, child))
            elif child.type == b"udta":
                metas = [m for m in boxes(data, child.body, child.end) if m.type == b"meta"]
                candidates += [(moov, child, m) for m in metas]
        for path in candidates:
            meta = _parse_meta(data, path)
            if meta is not None:
                found.append(meta)
    return found


def _parse_meta(data: bytes, path: tuple[Box, ...]) -> MdtaMeta | None:
    children = {c.type: c for c in _meta_children(data, path[-1])}
    hdlr, keys = children.get(b"hdlr"), children.get(b"keys")
    if hdlr is None or keys is None or data[hdlr.body + 8 : hdlr.body + 12] != b"mdta":
        return None
    if keys.end - keys.body < 8:
        raise CorruptFileError("MP4 keys box too short")
    (count,) = struct.unpack_from(">I", data, keys.body + 4)
    names: list[bytes] = []
    pos = keys.body + 8
    for _ in range(count):
        if pos + 8 > keys.end:
            raise CorruptFileError("MP4 keys box truncated")
        (size,) = struct.unpack_from(">I", data, pos)
        if size < 8 or pos + size > keys.end:
            raise CorruptFileError("MP4 keys entry with a bad size")
        names.append(data[pos + 8 : pos + size])
        pos += size
    return MdtaMeta(path, keys, children.get(b"ilst"), tuple(names))


def _items(data: bytes, meta: MdtaMeta) -> list[tuple[int, Box]]:
    if meta.ilst is None:
        return []
    items = boxes(data, meta.ilst.body, meta.ilst.end)
    return [(struct.unpack(">I", item.type)[0], item) for item in items]


def _data_values(data: bytes, item: Box) -> list[bytes]:
    return [
        data[d.body + 8 : d.end] for d in boxes(data, item.body, item.end) if d.type == b"data"
    ]


def read_aigc(data: bytes) -> list[tuple[str, bytes]]:
    """Every value stored under a key named AIGC (any case) as ``(carrier, raw bytes)``."""
    found: list[tuple[str, bytes]] = []
    for meta in find_mdta(data):
        where = "/".join(b.type.decode("latin-1") for b in meta.path)
        for index, item in _items(data, meta):
            if 1 <= index <= len(meta.names) and meta.names[index - 1].upper() == b"AIGC":
                name = meta.names[index - 1].decode("latin-1")
                found += [(f"mp4:{where}:mdta:{name}", v) for v in _data_values(data, item)]
    return found


def write_aigc(data: bytes, payload: bytes) -> bytes | None:
    """Set the AIGC value in the file's first ``mdta`` meta (None when the file has none).

    Afterwards that meta holds exactly one AIGC item with one UTF-8 ``data`` box; extra AIGC
    items of the meta are removed (their ``keys`` entries stay, unused, so indices hold).
    """
    metas = find_mdta(data)
    if not metas:
        return None
    meta = metas[0]
    aigc_index = next((i + 1 for i, n in enumerate(meta.names) if n.upper() == b"AIGC"), None)
    if aigc_index is None:
        entry = struct.pack(">I4s", 8 + 4, b"mdta") + b"AIGC"
        data = _splice(data, meta.keys.end, meta.keys.end, entry, (*meta.path, meta.keys))
        count_at = meta.keys.body + 4
        data = data[:count_at] + struct.pack(">I", len(meta.names) + 1) + data[count_at + 4 :]
        meta = _reparse(data, meta)
        aigc_index = len(meta.names)
    value = struct.pack(">I4sII", 16 + len(payload), b"data", 1, 0) + payload
    item = struct.pack(">II", 8 + len(value), aigc_index) + value
    if meta.ilst is None:
        ilst = struct.pack(">I4s", 8 + len(item), b"ilst") + item
        return _splice(data, meta.path[-1].end, meta.path[-1].end, ilst, meta.path)
    # Remove the old AIGC items last to first, then append the new one.
    for index, old in reversed(_items(data, meta)):
        if index == aigc_index or (
            1 <= index <= len(meta.names) and meta.names[index - 1].upper() == b"AIGC"
        ):
            data = _splice(data, old.start, old.end, b"", (*meta.path, meta.ilst))
            meta = _reparse(data, meta)
    assert meta.ilst is not None
    return _splice(data, meta.ilst.end, meta.ilst.end, item, (*meta.path, meta.ilst))


def add_mdta_meta(data: bytes, payload: bytes) -> bytes:
    """Add ``moov/udta/meta`` (``hdlr mdta``, ``keys`` = [``mdtaAIGC``], ``ilst``) holding
    ``payload``, the layout of the MP4 video guide and of ``ffmpeg -movflags
    use_metadata_tags`` (for a file with no ``mdta`` meta yet)."""
    moov = next((b for b in boxes(data, 0, len(data)) if b.type == b"moov"), None)
    if moov is None:
        raise CorruptFileError("MP4 file without a moov box")
    hdlr = struct.pack(">I4sII4s12s", 33, b"hdlr", 0, 0, b"mdta", bytes(12)) + b"\0"
    keys = struct.pack(">I4sII", 16 + 8 + 4, b"keys", 0, 1) + struct.pack(">I4s", 12, b"mdta")
    keys += b"AIGC"
    value = struct.pack(">I4sII", 16 + len(payload), b"data", 1, 0) + payload
    item = struct.pack(">II", 8 + len(value), 1) + value
    ilst = struct.pack(">I4s", 8 + len(item), b"ilst") + item
    body = struct.pack(">I", 0) + hdlr + keys + ilst
    meta = struct.pack(">I4s", 8 + len(body), b"meta") + body
    udta = next((b for b in boxes(data, moov.body, moov.end) if b.type == b"udta"), None)
    if udta is not None:
        return _splice(data, udta.end, udta.end, meta, (moov, udta))
    box = struct.pack(">I4s", 8 + len(meta), b"udta") + meta
    return _splice(data, moov.end, moov.end, box, (moov,))


def _reparse(data: bytes, old: MdtaMeta) -> MdtaMeta:
    """The same meta (found by its position among the mdta metas) after an edit."""
    metas = find_mdta(data)
    for meta in metas:
        if meta.path[-1].start == old.path[-1].start:
            return meta
    raise CorruptFileError("MP4 meta box lost while editing")


def _splice(data: bytes, start: int, end: int, new: bytes, path: tuple[Box, ...]) -> bytes:
    """Replace ``data[start:end]`` by ``new`` inside the boxes of ``path`` (outermost first)."""
    delta = len(new) - (end - start)
    out = bytearray(data[:start] + new + data[end:])
    for box in path:
        size = box.end - box.start + delta
        if box.header == 16:
            struct.pack_into(">Q", out, box.start + 8, size)
        elif size > 0xFFFFFFFF:
            raise CorruptFileError("MP4 box would exceed 4 GiB")
        else:
            struct.pack_into(">I", out, box.start, size)
    if delta:
        _shift_chunk_offsets(out, threshold=end, delta=delta)
    return bytes(out)


def _shift_chunk_offsets(buf: bytearray, *, threshold: int, delta: int) -> None:
    """Add ``delta`` to every stco/co64 entry pointing at or behind ``threshold``."""
    data = bytes(buf)
    stack = [(b, 0) for b in boxes(data, 0, len(data)) if b.type == b"moov"]
    while stack:
        box, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise CorruptFileError("MP4 boxes nested too deeply")
        for child in boxes(data, box.body, box.end):
            if child.type in _CONTAINERS:
                stack.append((child, depth + 1))
            elif child.type in (b"stco", b"co64"):
                width = 4 if child.type == b"stco" else 8
                fmt = ">I" if width == 4 else ">Q"
                (count,) = struct.unpack_from(">I", data, child.body + 4)
                first = child.body + 8
                if first + count * width > child.end:
                    raise CorruptFileError(f"MP4 {child.type!r} table overruns its box")
                for i in range(count):
                    at = first + i * width
                    (offset,) = struct.unpack_from(fmt, data, at)
                    if offset >= threshold:
                        struct.pack_into(fmt, buf, at, offset + delta)
