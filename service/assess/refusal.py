"""Is an answer a refusal? The gateway's block signal first, then refusal phrases, then
(optionally) the guard model's own refusal verdict.

Phrases (``data/refusal_phrases.txt``, or the operator's file: one phrase per line, ``#``
comments) are looked for in the first ``window`` characters of the answer after NFKC folding
and case folding, so "抱歉，我不能" matches "抱歉,我不能" and "I CAN'T HELP" matches
"i can't help". Only the start counts: a refusal says so up front, while an answer may quote
such words later (the gateway's explicit AI label at the start is short enough to fit in the
window).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

__all__ = ["DEFAULT_PHRASES", "RefusalPhrases"]

DEFAULT_PHRASES = Path(__file__).parent / "data" / "refusal_phrases.txt"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().replace("’", "'")


class RefusalPhrases:
    def __init__(self, phrases: list[str], window: int = 120) -> None:
        self.phrases = [p for p in (_fold(x.strip()) for x in phrases) if p]
        if not self.phrases:
            raise ValueError("no refusal phrases")
        self.window = window

    @classmethod
    def from_file(cls, path: Path = DEFAULT_PHRASES, window: int = 120) -> RefusalPhrases:
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls(
            [line for line in lines if line.strip() and not line.lstrip().startswith("#")], window
        )

    def match(self, answer: str) -> str | None:
        """The first phrase found at the start of ``answer``, or None."""
        head = _fold(answer[: self.window * 2])[: self.window]
        for phrase in self.phrases:
            if phrase in head:
                return phrase
        return None
