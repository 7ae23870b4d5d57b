"""Derived views of the compact text, for the phonetic and repeat folds (folds.py).

A derived view turns each compact character into zero or more view characters: the
*phonetic* view reads every hanzi as its toneless pinyin syllable and keeps Latin letters
(``冰du`` and ``兵毒`` both read ``bingdu``); the *repeat* view reads a run of one character
(up to ``REPEAT_RUN``) once (``冰冰毒毒`` reads ``冰毒``). Each view has its own automaton
(daachorse) over the view forms of the terms that asked for the fold. A :class:`ViewState`
follows one text or stream: it derives the view of each new compact piece, finds the keys
that end in it (searching the last ``max_len - 1`` view characters again, as the main
streaming automaton does) and answers with hits in compact and original coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

from .folds import REPEAT_RUN, phonetic_char

__all__ = ["ViewSpec", "ViewState", "build_view"]


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """A compiled derived view: picklable (daachorse automata pickle)."""

    kind: str  # "phonetic" | "repeat"
    automaton: object  # daachorse.CharwiseDoubleArrayAhoCorasick over the view keys
    kids: tuple[int, ...]  # pattern id -> global key id
    open_prefixes: frozenset[str]  # proper prefixes of the view keys
    max_len: int  # longest view key


def build_view(kind: str, keys: dict[str, int]) -> ViewSpec:
    """A view over ``keys`` (view form -> global key id)."""
    import daachorse

    forms = list(keys)
    return ViewSpec(
        kind=kind,
        automaton=daachorse.CharwiseDoubleArrayAhoCorasick(forms),
        kids=tuple(keys[f] for f in forms),
        open_prefixes=frozenset(f[:i] for f in forms for i in range(1, len(f))),
        max_len=max(len(f) for f in forms),
    )


class ViewState:
    """One text's (or stream's) position in a derived view."""

    __slots__ = ("fut", "last", "run", "spec", "tail", "tail_c", "tail_o")

    def __init__(self, spec: ViewSpec) -> None:
        self.spec = spec
        self.tail = ""  # the last view characters (max_len - 1 at most)
        self.tail_c: list[int] = []  # compact index of each
        self.tail_o: list[int] = []  # original offset of each
        self.last = ""  # repeat view: the last compact character and its run length
        self.run = 0
        self.fut: tuple[int, int] | None = None  # (compact index, offset) of a key in progress

    def _derive(self, compact: str, cbase: int, orig) -> tuple[str, list[int], list[int]]:
        chars: list[str] = []
        cidx: list[int] = []
        offs: list[int] = []
        if self.spec.kind == "phonetic":
            for i, ch in enumerate(compact):
                syl = phonetic_char(ch)
                chars.append(syl)
                cidx.extend([cbase + i] * len(syl))
                offs.extend([int(orig[i])] * len(syl))
        else:
            last, run = self.last, self.run
            for i, ch in enumerate(compact):
                if ch == last and run < REPEAT_RUN:
                    run += 1
                    continue
                last, run = ch, 1
                chars.append(ch)
                cidx.append(cbase + i)
                offs.append(int(orig[i]))
            self.last, self.run = last, run
        return "".join(chars), cidx, offs

    def push(self, compact: str, cbase: int, orig) -> list[tuple[int, int, int, int, int]]:
        """Hits of keys that end in the new compact text (``compact``, whose first character
        has compact index ``cbase`` and original offsets ``orig``), as (compact start,
        compact end (inclusive), original start, original end, key id)."""
        spec = self.spec
        view, cidx, offs = self._derive(compact, cbase, orig)
        text = self.tail + view
        all_c = self.tail_c + cidx
        all_o = self.tail_o + offs
        p = len(self.tail)
        out = []
        phonetic = spec.kind == "phonetic"
        n = len(text)
        for s, e, pid in spec.automaton.find_overlapping(text):
            if e <= p:
                continue
            if phonetic and (
                (s > 0 and all_c[s - 1] == all_c[s]) or (e < n and all_c[e] == all_c[e - 1])
            ):
                continue  # starts or ends inside a syllable
            out.append((all_c[s], all_c[e - 1], all_o[s], all_o[e - 1] + 1, spec.kids[pid]))
        keep = spec.max_len - 1
        if keep > 0:
            self.tail, self.tail_c, self.tail_o = text[-keep:], all_c[-keep:], all_o[-keep:]
        else:
            self.tail, self.tail_c, self.tail_o = "", [], []
        self.fut = self._future()
        return out

    def _future(self) -> tuple[int, int] | None:
        """(compact index, original offset) of the start of the longest suffix of the view
        that is a proper prefix of a key: a hit still to come may start there."""
        tail = self.tail
        prefixes = self.spec.open_prefixes
        for i in range(len(tail)):
            if tail[i:] in prefixes:
                if self.spec.kind == "phonetic" and i > 0 and self.tail_c[i - 1] == self.tail_c[i]:
                    continue  # not at a syllable start: no key can start there
                return self.tail_c[i], self.tail_o[i]
        return None
