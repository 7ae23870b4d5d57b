"""The minimal masked excerpt kept with an incident record, and where its spans are.

An incident keeps ``offsets`` into the screened text (Unicode code points) and, in
``excerpt``, a window of the *masked* text (spans the policy masks or blocks are ``*``, which
keeps every offset in place): from ``CONTEXT`` characters before the first match to
``CONTEXT`` after the last, at most ``MAX_CHARS``. The window's start is not stored; it
follows from the offsets (``max(0, first start - CONTEXT)``), so these two numbers are part of
the record format: never change them, add a new format instead. Writers call
``incident_excerpt``; readers (the console) call ``excerpt_spans``.
"""

from __future__ import annotations

from collections.abc import Sequence

CONTEXT = 40
MAX_CHARS = 400


def window_start(offsets: Sequence[Sequence[int]]) -> int:
    """Where the excerpt of an incident with these offsets starts in the screened text."""
    return max(0, min(int(o[0]) for o in offsets) - CONTEXT) if offsets else 0


def incident_excerpt(masked_text: str, offsets: Sequence[Sequence[int]]) -> str:
    """The excerpt to store: the masked text around the matches (empty without matches)."""
    if not offsets:
        return ""
    start = window_start(offsets)
    end = min(len(masked_text), max(int(o[1]) for o in offsets) + CONTEXT, start + MAX_CHARS)
    return masked_text[start:end]


def excerpt_spans(excerpt: str, offsets: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Spans of ``offsets`` as positions inside ``excerpt`` (clipped; those outside dropped)."""
    base = window_start(offsets)
    spans = []
    for o in offsets:
        start, end = int(o[0]) - base, int(o[1]) - base
        start, end = max(0, start), min(len(excerpt), end)
        if start < end:
            spans.append((start, end))
    return spans
