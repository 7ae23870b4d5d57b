"""Scanning texts too large to hold at once, at one-shot speed, in bounded memory.

``scan_pieces`` decodes a UTF-8 byte stream piece by piece and runs the one-shot
:meth:`Lexicon.scan` over each piece plus ``overlap`` characters of context on both sides,
keeping only the matches that *start* inside the piece. A match and everything that decides
it (its span, an allow-list phrase covering it, the context of a ``match=word`` check) lie
within a few hundred characters: a term is at most 64 normalised characters, with at most a
few noise characters between two of them. With ``overlap`` well above that, the matches are
exactly those of one scan over the whole text (a test proves it on random texts cut into
small pieces); the streaming scanner gives the same answer, but one-shot scans of large
pieces are several times faster.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO

from .lexicon import Lexicon
from .scanner import Match

__all__ = ["OVERLAP", "PIECE_BYTES", "scan_pieces", "scan_pieces_with_text"]

#: Characters of context scanned on each side of a piece (far above the longest possible span).
OVERLAP = 4096
#: Bytes read per piece.
PIECE_BYTES = 1024 * 1024


def scan_pieces(
    lex: Lexicon,
    stream: BinaryIO,
    *,
    piece_bytes: int = PIECE_BYTES,
    overlap: int = OVERLAP,
) -> Iterator[tuple[int, list[Match]]]:
    """Scan a UTF-8 byte stream; yield ``(base, matches)`` in text order.

    ``match.start + base`` and ``match.end + base`` are code-point offsets in the whole text
    (a leading BOM is not part of the text). Raises ``UnicodeDecodeError`` on invalid UTF-8.
    """
    for base, _text, matches in scan_pieces_with_text(
        lex, stream, piece_bytes=piece_bytes, overlap=overlap
    ):
        yield base, matches


def scan_pieces_with_text(
    lex: Lexicon,
    stream: BinaryIO,
    *,
    piece_bytes: int = PIECE_BYTES,
    overlap: int = OVERLAP,
) -> Iterator[tuple[int, str, list[Match]]]:
    """:func:`scan_pieces`, also yielding the scanned text (``text[m.start:m.end]`` is the
    match, with up to ``overlap`` characters of context around it)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    buf = ""  # text from absolute offset `buf_base`
    buf_base = 0
    emit_from = 0  # absolute offset from which matches are still to be reported
    first = True
    read = getattr(stream, "read1", stream.read)  # a pipe: what has arrived, not a full piece
    while True:
        data = read(piece_bytes)
        final = not data
        text = decoder.decode(data, final=final)
        if first and text:
            first = False
            if text.startswith("\ufeff"):
                text = text[1:]
        buf += text
        fresh = buf_base + len(buf) - emit_from  # characters not yet decided
        if not final and fresh < 2 * overlap:
            continue
        cut = buf_base + len(buf) if final else buf_base + len(buf) - overlap
        if cut > emit_from:
            lo, hi = emit_from - buf_base, cut - buf_base
            kept = [m for m in lex.scan(buf) if lo <= m.start < hi]
            if kept:
                yield buf_base, buf, kept
            emit_from = cut
        if final:
            return
        drop = emit_from - overlap - buf_base
        if drop > 0:
            buf = buf[drop:]
            buf_base += drop
