"""A streamed JSON text (tool-call arguments) seen the way its reader will see it.

Tool arguments arrive as fragments of a JSON document; a term written with ``\\u`` escapes
(``"\\u7206\\u70b8"``) is invisible to a scanner reading the raw text. ``JsonView`` decodes the
escapes inside JSON strings as the fragments arrive, so the scanner reads decoded text, and
maps what the scanner releases back onto the raw fragments: a masked character inside a
string becomes ``*`` (whatever escape spelled it); JSON punctuation outside strings is never
changed, so the document stays valid.
"""

from __future__ import annotations

import re

__all__ = ["JsonView", "unescape_all"]

_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class JsonView:
    """Incremental decoding of JSON text, with the raw span of every decoded character."""

    __slots__ = ("_units", "_in_string", "_escape")

    def __init__(self) -> None:
        self._units: list[tuple[str, str, bool]] = []  # (decoded char, raw text, in a string)
        self._in_string = False
        self._escape = ""  # an escape sequence not complete yet

    def push(self, raw: str) -> str:
        """Take the next raw fragment; return the decoded characters it completes."""
        units = self._units
        start = len(units)
        for c in raw:
            if self._escape:
                self._escape += c
                self._escape_step()
            elif not self._in_string:
                units.append((c, c, False))
                if c == '"':
                    self._in_string = True
            elif c == "\\":
                self._escape = c
            elif c == '"':
                units.append((c, c, False))
                self._in_string = False
            else:
                units.append((c, c, True))
        return "".join(u[0] for u in units[start:])

    def _escape_step(self) -> None:
        esc = self._escape
        if len(esc) < 2:
            return
        kind = esc[1]
        if kind in _SIMPLE:
            self._units.append((_SIMPLE[kind], esc, True))
            self._escape = ""
            return
        if kind != "u":
            self._units.append((esc, esc, True))  # invalid JSON: kept literally
            self._escape = ""
            return
        if len(esc) < 6:
            return
        try:
            code = int(esc[2:6], 16)
        except ValueError:
            self._units.append((esc, esc, True))
            self._escape = ""
            return
        if 0xD800 <= code < 0xDC00:  # a high surrogate: wait for its low half
            if len(esc) < 12:
                if len(esc) > 6 and not "\\u".startswith(esc[6:8][: len(esc) - 6]):
                    self._units.append(("\ufffd", esc, True))
                    self._escape = ""
                return
            try:
                low = int(esc[8:12], 16) if esc[6:8] == "\\u" else -1
            except ValueError:
                low = -1
            if 0xDC00 <= low < 0xE000:
                char = chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
            else:
                char = "\ufffd"
            self._units.append((char, esc, True))
            self._escape = ""
            return
        self._units.append((chr(code) if not 0xDC00 <= code < 0xE000 else "\ufffd", esc, True))
        self._escape = ""

    def end(self) -> str:
        """End of the document: an unfinished escape becomes literal text."""
        if not self._escape:
            return ""
        esc, self._escape = self._escape, ""
        self._units.append((esc, esc, True))
        return esc

    def release(self, decoded: str) -> str:
        """The raw text of the next ``len(decoded)`` decoded characters, as released (masked)."""
        n = len(decoded)
        taken, self._units = self._units[:n], self._units[n:]
        out = []
        for i, (char, raw, content) in enumerate(taken):
            if decoded[i] == char or not content:
                out.append(raw)
            else:
                out.append("*")
        return "".join(out)

    def drop(self) -> None:
        """Forget everything not released (the slot was blocked)."""
        self._units.clear()
        self._escape = ""


_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|([\"\\/bfnrt]))")


def _unescape(m: re.Match) -> str:
    if m.group(1) is not None:
        return chr(int(m.group(1), 16))
    return _SIMPLE[m.group(2)]


def unescape_all(text: str, levels: int = 32) -> tuple[str, bool]:
    """``text`` with JSON string escapes decoded over and over, wherever they stand: the text
    a reader finds in JSON nested inside the strings of a JSON document; and whether that was
    all of them (False: escapes still left after ``levels`` rounds). Surrogate pairs are
    joined, lone halves become U+FFFD."""
    done = False
    for _ in range(levels):
        new = _ESCAPE.sub(_unescape, text) if "\\" in text else text
        if new == text:
            done = True
            break
        text = new
    if any("\ud800" <= c <= "\udfff" for c in text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text, done
