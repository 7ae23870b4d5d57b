"""Decoded views of request text: escapes a model reads through.

A prompt can spell a term in an escape that a model decodes while it reads, where the lexicon,
scanning the text as it stands, sees only ASCII: ``\\u7206\\u70b8`` (JSON and Python escapes in
plain text), ``&#29190;`` / ``&#x7206;`` / ``&amp;``-style HTML entities, ``%E7%88%86``
percent-escapes (UTF-8), and runs of base64 (``54iG54K4``) shorter than the walker's payload
threshold. ``escaped_terms`` scans each such text once more with those escapes decoded (what
a base64 run decodes to is appended): a term the policy masks or blocks found only there
cannot be masked inside its escapes, so the request is blocked (recorded with the decoded
view, masked, as its text). ``view`` alone took 1.7 ms per 100 KB of English prose, 0.04 ms
of Chinese, 8 ms of code and 13 ms of text dense with escapes (one machine, ten runs each).
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from typing import Any

from .decisions import JOIN, Decisions
from .jsontext import unescape_all
from .walker import path_text

__all__ = ["escaped_terms", "view"]

_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
#: runs of base64 characters, found in the text's ASCII characters (a C-speed pass)
_RUN = re.compile(rb"[A-Za-z0-9+/_-]{8,}={0,2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ROUNDS = 4  # escapes inside escapes (a percent-escaped \\u escape ...) decoded this deep


def _percent(m: re.Match) -> str:
    raw = bytes.fromhex(m.group().replace("%", ""))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return m.group()


def _unescape(text: str) -> str:
    """``text`` with ``\\u`` escapes, HTML entities and UTF-8 percent-escapes decoded."""
    for _ in range(_ROUNDS):
        new = unescape_all(text)[0] if "\\" in text else text
        if "&" in new:
            new = html.unescape(new)
        if "%" in new:
            new = _PERCENT.sub(_percent, new)
        if new == text:
            break
        text = new
    return text


def _base64_texts(text: str) -> list[str]:
    """The texts that runs of base64 in ``text`` decode to (UTF-8, no control characters).
    A run of letters alone with no inner capital is a word, not base64: skipped."""
    out = []
    for run in _RUN.findall(text.encode("ascii", "ignore")):
        if run.isalpha() and run[1:].islower():
            continue
        body = run.rstrip(b"=")
        if len(body) % 4 == 1:
            continue
        urlsafe = b"-" in body or b"_" in body
        try:
            raw = base64.b64decode(
                body + b"=" * (-len(body) % 4), altchars=b"-_" if urlsafe else None, validate=True
            )
            decoded = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if not _CONTROL.search(decoded):
            out.append(_unescape(decoded))
    return out


def view(text: str) -> str | None:
    """``text`` with its escapes decoded and what its base64 runs decode to after it (one
    per line), or None when it holds neither."""
    out = _unescape(text) if "\\" in text or "&" in text or "%" in text else text
    decoded = _base64_texts(out)
    if decoded:
        out = "\n".join([out, *decoded])
    return out if out != text else None


def escaped_terms(refs: list[Any], decisions: Decisions) -> bool:
    """Scan the texts of ``refs`` with their escapes decoded, together (joined as the walk's
    texts are, so a term split over two escaped fields is found); True (recorded) when a
    masked or blocked term is found there more often than in the texts as they stand."""
    views = [view(ref.text) for ref in refs]
    if all(v is None for v in views):
        return False
    screen = decisions.screen
    decoded = JOIN.join(ref.text if v is None else v for ref, v in zip(refs, views, strict=True))
    try:
        hidden, found = decisions.hidden_terms(decoded, JOIN.join(ref.text for ref in refs))
    except Exception as exc:  # noqa: BLE001 - any scanner fault is a screening failure
        return not decisions.fail(exc)
    if not hidden:
        return False
    where = next(ref for ref, v in zip(refs, views, strict=True) if v is not None)
    masked = screen.lexicon.mask(decoded, [m for m in found if screen.mask(m)])
    decisions.record_text(hidden, masked, path_text(where.path) + " (escaped)")
    return True
