"""``aigc-gateway lexicon audit``: the terms of a lexicon that fire on ordinary text.

Two sources of evidence:

- **Corpora** (the operator's own logs, or public text): every hit is counted; terms are
  ranked by hits per MB of corpus, with a few contexts each. For up to ``SAMPLE_HITS`` hits
  per term, jieba segments the context: a hit that starts or ends inside a jieba word (口交 in
  路口交通) is *inside a longer word*, and that word is remembered.
- **jieba's frequency dictionary** (no corpus needed): the dictionary's words are scanned with
  the lexicon itself, so the matcher's own folding applies; a term that is itself a common
  word, or lies inside common words (大麻 in 大麻哈鱼), is flagged.

Suggestions (advice for the operator, nothing is changed):

- ``drop``: the term is an ordinary word (jieba frequency >= ``COMMON_WORD_FREQ``), or it
  fires on its own at ``DROP_RATE`` hits per MB or more;
- ``allow``: its false hits come from a few longer words: add them to ``allow.txt``;
- ``match=word``: its false hits lie inside many different longer words: only match it on
  word boundaries;
- ``review``: it fires, but as a word of its own and rarely: read the contexts.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .bulk import scan_pieces_with_text
from .lexicon import Lexicon
from .wordfreq import index, jieba_dict_path
from .wordseg import cut

__all__ = ["AuditReport", "TermFinding", "audit_lexicon", "common_words"]

#: jieba frequency from which a word counts as ordinary (7,233 of its 349,046 words).
COMMON_WORD_FREQ = 1000
#: jieba frequency of the longer words reported as containing a term (36,145 words).
CONTAINING_WORD_FREQ = 100
#: Hits per MB from which a term firing as a word of its own is suggested for dropping.
DROP_RATE = 10.0
#: Hits per term segmented with jieba (the rest are only counted).
SAMPLE_HITS = 200
CONTEXTS = 3
CONTEXT_CHARS = 12
#: At most this many longer words are suggested as allow-list phrases.
ALLOW_WORDS = 3


@dataclass(slots=True)
class TermFinding:
    """One term that fires on ordinary text, with the evidence and a suggestion."""

    term: str
    category: str
    hits: int = 0
    hits_per_mb: float = 0.0
    contexts: list[str] = field(default_factory=list)
    sampled: int = 0  # hits segmented with jieba
    inside: int = 0  # of those, hits inside a longer word
    enclosing: dict[str, int] = field(default_factory=dict)  # longer word -> hits
    word_freq: int = 0  # jieba frequency of the term itself (0: not a dictionary word)
    in_common_words: list[str] = field(default_factory=list)  # common words containing it
    suggestion: str = "review"
    allow: list[str] = field(default_factory=list)  # phrases for allow.txt
    why: str = ""


@dataclass(slots=True)
class AuditReport:
    lexicon_version: str
    terms: int
    corpora: list[dict]  # path, bytes
    findings: list[TermFinding]

    @property
    def corpus_mb(self) -> float:
        return sum(c["bytes"] for c in self.corpora) / 1e6

    def to_json(self) -> str:
        data = {
            "lexicon_version": self.lexicon_version,
            "terms": self.terms,
            "corpora": self.corpora,
            "corpus_mb": round(self.corpus_mb, 3),
            "findings": [asdict(f) for f in self.findings],
        }
        return json.dumps(data, ensure_ascii=False, indent=1)

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            [
                "term",
                "category",
                "hits",
                "hits_per_mb",
                "inside_longer_words",
                "word_freq",
                "suggestion",
                "allow",
                "why",
                "contexts",
                "in_common_words",
            ]
        )
        for f in self.findings:
            w.writerow(
                [
                    f.term,
                    f.category,
                    f.hits,
                    f"{f.hits_per_mb:.2f}",
                    f"{f.inside}/{f.sampled}",
                    f.word_freq,
                    f.suggestion,
                    " | ".join(f.allow),
                    f.why,
                    " | ".join(f.contexts),
                    " | ".join(f.in_common_words),
                ]
            )
        return buf.getvalue()

    def to_markdown(self) -> str:
        corpora = ", ".join(f"{c['path']} ({c['bytes'] / 1e6:.2f} MB)" for c in self.corpora)
        out = [
            f"# Lexicon audit: {self.lexicon_version}",
            "",
            f"{self.terms} terms; corpora: {corpora or 'none (jieba dictionary only)'}; "
            f"{len(self.findings)} term(s) flagged.",
            "",
            "| term | category | hits | hits/MB | inside longer words | suggestion | why |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for f in self.findings:
            suggestion = f.suggestion + (": " + ", ".join(f.allow) if f.allow else "")
            inside = f"{f.inside}/{f.sampled}" if f.sampled else "-"
            out.append(
                f"| {_md(f.term)} | {f.category} | {f.hits} | {f.hits_per_mb:.2f} | {inside} "
                f"| {_md(suggestion)} | {_md(f.why)} |"
            )
        with_contexts = [f for f in self.findings if f.contexts]
        if with_contexts:
            out += ["", "## Contexts", ""]
            for f in with_contexts:
                out.append(f"- **{_md(f.term)}**: " + " · ".join(_md(c) for c in f.contexts))
        return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


@functools.cache
def common_words(min_freq: int = CONTAINING_WORD_FREQ) -> tuple[tuple[str, int], ...]:
    """``(word, frequency)`` of jieba's dictionary words with at least ``min_freq``, most
    frequent first."""
    words = []
    with open(jieba_dict_path(), encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2 and int(parts[1]) >= min_freq and len(parts[0]) >= 2:
                words.append((parts[0], int(parts[1])))
    words.sort(key=lambda wf: -wf[1])
    return tuple(words)


def _search_spans(tokens: list[str]) -> list[tuple[int, int]]:
    """The spans of jieba's search-mode tokens (``Tokenizer.tokenize(mode="search")``): each
    token, and before it the dictionary words of two and three characters inside it."""
    freq = index().freq
    spans = []
    pos = 0
    for word in tokens:
        n = len(word)
        if n > 2:
            spans += [(pos + i, pos + i + 2) for i in range(n - 1) if freq(word[i : i + 2])]
        if n > 3:
            spans += [(pos + i, pos + i + 3) for i in range(n - 2) if freq(word[i : i + 3])]
        spans.append((pos, pos + n))
        pos += n
    return spans


def _segment(text: str, start: int, end: int) -> tuple[bool, str]:
    """Whether the hit ``text[start:end]`` lies inside a longer jieba word, and the shortest
    phrase of dictionary words that covers it (路口交通 for 口交 in 十字路口交通拥堵)."""
    ws = max(0, start - CONTEXT_CHARS)
    window = text[ws : end + CONTEXT_CHARS]
    s, e = start - ws, end - ws
    tokens = cut(window)
    spans = []
    pos = 0
    for token in tokens:
        spans.append((pos, pos + len(token)))
        pos += len(token)
    covering = [(a, b) for a, b in spans if a < e and b > s]
    if not covering or (covering[0][0] >= s and covering[-1][1] <= e):
        return False, ""
    # search mode also yields the dictionary words inside long words (路口 in 十字路口)
    words = _search_spans(tokens)
    left, right = s, e
    if covering[0][0] < s:
        left = min(((b - a, a) for a, b in words if a < s < b), default=(0, covering[0][0]))[1]
    if covering[-1][1] > e:
        right = min(((b - a, b) for a, b in words if a < e < b), default=(0, covering[-1][1]))[1]
    return True, window[left:right]


def _context(text: str, start: int, end: int) -> str:
    left = text[max(0, start - CONTEXT_CHARS) : start].replace("\n", " ")
    right = text[end : end + CONTEXT_CHARS].replace("\n", " ")
    return f"{left}【{text[start:end]}】{right}"


def audit_lexicon(lex: Lexicon, corpora: list[Path], *, dictionary: bool = True) -> AuditReport:
    """Audit ``lex`` against ``corpora`` (UTF-8 text files) and, with ``dictionary``,
    jieba's frequency dictionary. Raises ``OSError``/``UnicodeDecodeError`` on a bad corpus."""
    findings: dict[tuple[str, str], TermFinding] = {}
    sources = []
    for path in corpora:
        with open(path, "rb") as fh:
            for _base, text, matches in scan_pieces_with_text(lex, fh):
                for m in matches:
                    f = findings.setdefault((m.term, m.category), TermFinding(m.term, m.category))
                    f.hits += 1
                    if len(f.contexts) < CONTEXTS:
                        ctx = _context(text, m.start, m.end)
                        if ctx not in f.contexts:
                            f.contexts.append(ctx)
                    if f.sampled < SAMPLE_HITS:
                        f.sampled += 1
                        inside, phrase = _segment(text, m.start, m.end)
                        if inside:
                            f.inside += 1
                            f.enclosing[phrase] = f.enclosing.get(phrase, 0) + 1
        sources.append({"path": str(path), "bytes": path.stat().st_size})
    mb = sum(s["bytes"] for s in sources) / 1e6
    for f in findings.values():
        f.hits_per_mb = f.hits / mb if mb else 0.0
    if dictionary:
        _dictionary_evidence(lex, findings)
    for f in findings.values():
        _suggest(f, bool(corpora))
    ranked = sorted(
        findings.values(),
        key=lambda f: (-f.hits_per_mb, -f.word_freq, -len(f.in_common_words), f.term),
    )
    return AuditReport(lex.version, lex.term_count, sources, ranked)


def _dictionary_evidence(lex: Lexicon, findings: dict[tuple[str, str], TermFinding]) -> None:
    """Scan jieba's common words with the lexicon: whole-word hits make the term an ordinary
    word, partial hits list the common words that contain it."""
    words = common_words()
    sep = "\n\n"  # two line breaks: no term matches across them
    starts = []
    pos = 0
    for w, _ in words:
        starts.append(pos)
        pos += len(w) + len(sep)
    text = sep.join(w for w, _ in words)
    evidence: dict[tuple[str, str], tuple[int, list[str]]] = {}
    for m in lex.scan(text):
        i = bisect.bisect_right(starts, m.start) - 1
        word, freq = words[i]
        freq_seen, inside = evidence.get((m.term, m.category), (0, []))
        if m.start == starts[i] and m.end == starts[i] + len(word):
            freq_seen = max(freq_seen, freq)
        elif len(inside) < 20 and word not in inside:
            inside.append(word)
        evidence[(m.term, m.category)] = (freq_seen, inside)
    for key, (freq, inside) in evidence.items():
        f = findings.get(key)
        if f is None:
            if freq < COMMON_WORD_FREQ and not inside:
                continue  # a dictionary word, but not a common one: no evidence of harm
            f = findings[key] = TermFinding(*key)
        f.word_freq, f.in_common_words = freq, inside


def _suggest(f: TermFinding, with_corpus: bool) -> None:
    if f.word_freq >= COMMON_WORD_FREQ:
        f.suggestion = "drop"
        f.why = f"an ordinary word (jieba frequency {f.word_freq})"
        return
    if f.sampled and f.inside * 2 >= f.sampled:
        top = sorted(f.enclosing.items(), key=lambda kv: -kv[1])[:ALLOW_WORDS]
        covered = sum(n for _, n in top)
        if covered * 5 >= f.inside * 4:
            f.suggestion = "allow"
            f.allow = [w for w, _ in top]
            f.why = f"{f.inside} of {f.sampled} hits inside {len(top)} longer word(s)"
        else:
            f.suggestion = "match=word"
            f.why = f"{f.inside} of {f.sampled} hits inside {len(f.enclosing)} longer words"
        return
    if f.hits_per_mb >= DROP_RATE:
        f.suggestion = "drop"
        f.why = f"fires as a word of its own {f.hits_per_mb:.1f} times per MB"
        return
    if f.in_common_words and not f.hits:
        if len(f.in_common_words) <= ALLOW_WORDS:
            f.suggestion = "allow"
            f.allow = list(f.in_common_words)
        else:
            f.suggestion = "match=word"
        f.why = f"inside {len(f.in_common_words)}{'+' if len(f.in_common_words) >= 20 else ''} common word(s)"
        return
    if f.word_freq:
        f.why = f"a dictionary word (jieba frequency {f.word_freq})"
    elif f.in_common_words:
        f.why = f"inside common words, {f.hits} hit(s) as a word of its own"
    else:
        f.why = f"{f.hits} hit(s) as a word of its own"
    f.suggestion = "review"
