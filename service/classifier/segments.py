"""Sentence/segment boundaries for classifying text in pieces.

A streamed answer is classified segment by segment (``hold`` and ``async`` stream modes), and a
text longer than a guard's context is classified in pieces (``split_text``). A segment ends
after a Chinese or full-width sentence end (``。！？；…`` and the newline) at once, after an
ASCII ``.``, ``!``, ``?`` or ``;`` only when whitespace follows (so ``3.14`` and URLs do not
split), and is cut anyway at ``max_chars`` (at the last comma or space in its second half when
there is one), so a text without punctuation still moves on. Segments shorter than
``min_chars`` are joined to the next.
"""

from __future__ import annotations

__all__ = ["Segmenter", "split_text"]

_STRONG = frozenset("。！？；…\n")
_ASCII = frozenset(".!?;")
_SOFT = frozenset("，,、：: \t")


class Segmenter:
    """Cut a stream of text into segments; ``feed`` returns those complete so far."""

    def __init__(self, max_chars: int = 200, min_chars: int = 8) -> None:
        if max_chars < 1 or min_chars < 1:
            raise ValueError("max_chars and min_chars must be >= 1")
        self.max_chars = max_chars
        self.min_chars = min(min_chars, max_chars)
        self._buf = ""
        self._scan = 0  # next index of _buf to look at for a boundary

    def feed(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        while True:
            cut = self._next_cut()
            if cut is None:
                return out
            out.append(self._buf[:cut])
            self._buf = self._buf[cut:]
            self._scan = 0

    def flush(self) -> str:
        """The rest (end of the stream)."""
        rest, self._buf, self._scan = self._buf, "", 0
        return rest

    @property
    def pending(self) -> str:
        return self._buf

    def _next_cut(self) -> int | None:
        buf, n = self._buf, len(self._buf)
        i = self._scan
        limit = min(n, self.max_chars)
        while i < limit:
            ch = buf[i]
            end = None
            if ch in _STRONG:
                end = i + 1
            elif ch in _ASCII:
                if i + 1 >= n:
                    break  # undecided until the next character arrives
                if buf[i + 1].isspace():
                    end = min(i + 2, self.max_chars)
            if end is not None and end >= self.min_chars:
                return end
            i += 1
        self._scan = i
        if n >= self.max_chars:
            return self._soft_cut()
        return None

    def _soft_cut(self) -> int:
        window = self._buf[: self.max_chars]
        for j in range(len(window) - 1, len(window) // 2 - 1, -1):
            if window[j] in _SOFT and j + 1 >= self.min_chars:
                return j + 1
        return self.max_chars


def split_text(text: str, max_chars: int) -> list[str]:
    """``text`` in pieces of at most ``max_chars``, cut on segment boundaries where possible."""
    if len(text) <= max_chars:
        return [text]
    seg = Segmenter(max_chars=max_chars, min_chars=1)
    parts = seg.feed(text)
    rest = seg.flush()
    if rest:
        parts.append(rest)
    pieces: list[str] = []
    for part in parts:
        if pieces and len(pieces[-1]) + len(part) <= max_chars:
            pieces[-1] += part
        else:
            pieces.append(part)
    return pieces
