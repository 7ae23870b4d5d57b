"""Split a text into plain and highlighted segments for the templates (which escape them).

Spans may overlap; each segment carries the strictest action of the spans covering it and
their labels, so a template can mark it ``<mark class="act-block" title="...">``. A zero-width
space (where texts screened together meet, or hidden in a text) is shown as a visible mark:
templates print ``segment.pieces`` with a separator between them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_RANK = {None: 0, "flag": 1, "mask": 2, "block": 3}
ZERO_WIDTH_SPACE = "\u200b"


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    action: str | None = None  # "flag" | "mask" | "block" | None (just "matched")
    label: str = ""


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    marked: bool
    action: str | None
    labels: tuple[str, ...]

    @property
    def pieces(self) -> list[str]:
        """The text split at zero-width spaces."""
        return self.text.split(ZERO_WIDTH_SPACE)


def segments(text: str, spans: Iterable[Span]) -> list[Segment]:
    """``text`` cut at every span boundary; concatenating the segments gives ``text`` back."""
    kept = [s for s in spans if 0 <= s.start < s.end <= len(text)]
    cuts = sorted({0, len(text), *(s.start for s in kept), *(s.end for s in kept)})
    out: list[Segment] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        covering = [s for s in kept if s.start <= a and b <= s.end]
        action = max((s.action for s in covering), key=lambda x: _RANK.get(x, 0), default=None)
        labels = tuple(dict.fromkeys(s.label for s in covering if s.label))
        out.append(Segment(text[a:b], bool(covering), action, labels))
    return out
