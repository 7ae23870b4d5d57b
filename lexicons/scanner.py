"""Matching: one incremental core shared by the one-shot scan and the streaming scanner.

The core turns original text into the compact view (normalize.py), runs the automaton over it
(in streaming: daachorse over each chunk plus the last max_key_len - 1 compact characters, or
a pyahocorasick iterator carried across chunks), feeds the derived views of opt-in folds
(views.py) and the detectors (detectors.py), and turns raw hits into final matches once
nothing that arrives later can change them: an allow-list phrase still in progress, or the
right-hand context that the per-hit rules (decide.py) read. Fed a whole text at once, the
core is also the one-shot scan; when daachorse is installed and the lexicon has no derived
view, one-shot scans of long texts use it instead, with the same semantics vectorised
(``_scan_fast``). Hypothesis tests prove that any split of a text, and either engine, give the
same matches and the same masked text.

Where a stream chunk's time goes (``push_small`` then ``StreamScanner.feed``'s fast path):
``str.translate`` of the chunk (compact_stream), one daachorse search over the chunk plus the
held-back compact tail, one regex that tells whether the detectors need their piece search
(``quiet_search``), and the release bound (``_future_start``: a few dict/set look-ups). Hits,
derived views, detector pieces and pending decisions only cost when they occur.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import chain, compress, repeat
from operator import eq, itemgetter

import numpy as np

from .compiled import Compiled, Entry
from .decide import PHONETIC, decide
from .detectors import (
    _CJK_DIGITS,
    CONTEXT,
    MIN_DIGITS,
    Detected,
    DetectorStream,
    detect_anchored,
    quiet_search,
)
from .gaps import PUNCT_CHARS
from .normalize import (
    NoiseCarry,
    compact_segment,
    compact_small,
    compact_stream,
    kept_offsets,
    keycap_split,
)
from .views import ViewState
from .wordseg import WINDOW

__all__ = ["Match", "StreamOutput", "StreamScanner", "mask_text"]


@dataclass(frozen=True, slots=True)
class Match:
    """One lexicon hit. ``start``/``end`` are code-point offsets into the ORIGINAL text."""

    term: str
    category: str
    start: int
    end: int
    text: str
    action: str
    severity: str
    variant: str

    def to_dict(self) -> dict:
        """Plain dict with the fields above (JSON-ready)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StreamOutput:
    """What one ``feed()``/``flush()`` call releases."""

    text: str
    matches: list[Match]


# Slot setters: the fast path builds frozen Matches without the (slow) frozen ``__init__``.
_FIELD_SETTERS = tuple(getattr(Match, f).__set__ for f in Match.__dataclass_fields__)
_SET_OUT_TEXT = StreamOutput.text.__set__
_SET_OUT_MATCHES = StreamOutput.matches.__set__
_new = object.__new__


def _output(text: str, matches: list[Match]) -> StreamOutput:
    """``StreamOutput(text, matches)`` without the frozen ``__init__`` (once per chunk)."""
    out = _new(StreamOutput)
    _SET_OUT_TEXT(out, text)
    _SET_OUT_MATCHES(out, matches)
    return out


def _sort_key(m: Match) -> tuple[int, int, str, str]:
    return (m.start, m.end, m.category, m.term)


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def mask_text(text: str, spans: list[tuple[int, int]], char: str = "*", offset: int = 0) -> str:
    """Replace every code point of ``text`` inside a span by ``char`` (spans absolute, text
    starting at ``offset``); the length is preserved."""
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    n = len(text)
    for s, e in _merge_spans(spans):
        s, e = max(s - offset, pos), min(e - offset, n)
        if s >= e:
            continue
        out.append(text[pos:s])
        out.append(char * (e - s))
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _key_info(c: Compiled, kid: int) -> tuple[tuple[Entry, ...], int]:
    """The deny entries of key ``kid`` and the right-hand context (characters) a ``match=word``
    entry among them needs before the hit can be decided (0: none is ``match=word``)."""
    info = c.key_entries.memo.get(kid)
    if info is None:
        entries = tuple(c.entries[i] for i in c.key_entries[kid])
        need = 0
        if any(e.word for e in entries):
            need = WINDOW if any(not (e.latin_start and e.latin_end) for e in entries) else 1
        if any(e.variant in PHONETIC or e.variant == "repeat" for e in entries):
            need = WINDOW
        info = c.key_entries.memo[kid] = (entries, need)
    return info


#: Streams match with daachorse when it is installed (False: always pyahocorasick).
STREAM_DAACHORSE = True
#: Segments up to this length are normalised in pure Python (numpy costs more per call).
SMALL_SEGMENT = 256
#: One-shot scans of texts up to this length take the streaming core (``_scan_short``).
SHORT_SCAN = 256
#: Long one-shot texts are searched in blocks of this many compact characters (compact_hits).
SEARCH_BLOCK = 16384
#: One-shot scans build the matches of this many hits or more column-wise (_build_matches).
COLUMN_WISE_MIN = 16
#: ... and sort this many hits or more by one int64 key (_span_order).
ONE_KEY_SORT_MIN = 256
#: The stream's context buffer is cut once this many characters lie before what is needed.
_TRIM = 128
#: What a segment may end with that can still become a keycap (see ``keycap_split``).
_KEYCAP_HEADS = (*"0123456789", "\ufe0f")


class _Core:
    """Incremental matcher state over one text (or one stream)."""

    def __init__(self, compiled: Compiled, streaming: bool) -> None:
        self.c = compiled
        self.streaming = streaming
        self.carry = NoiseCarry()
        self.total = 0  # original code points consumed
        self.ctotal = 0  # original code points compacted (a trailing digit waits: keycaps)
        self.defer = ""  # text after ctotal, not compacted yet
        self.text = ""  # original text from text_base (context for word checks, unreleased)
        self.text_base = 0
        self.cpos = 0  # compact characters produced
        self.byte_base = 0  # automaton input consumed (bytes as latin-1 chars)
        self.empty = compiled.max_key_len == 0  # no terms at all: nothing to match
        # the longest key, read once (Compiled's attributes are slow to read: its __getattr__
        # defers fields), and the cut of a string's last max_key_len - 1 characters
        self.keep = keep = compiled.max_key_len
        self.tail = slice(1 - keep, None) if keep > 1 else slice(0, 0)
        # Streams match with daachorse (when installed) over the new compact text plus the
        # last max_key_len - 1 compact characters before it, which catches every key that
        # ends in the new text; otherwise with a pyahocorasick iterator carried across chunks.
        fast = compiled.fast if STREAM_DAACHORSE else None
        self.find = fast.automaton.find_overlapping if streaming and fast is not None else None
        self.iter = None
        if streaming and not self.empty and self.find is None:
            self.iter = compiled.automaton.iter("")
        self.views = [ViewState(v) for v in compiled.views]
        self.det = DetectorStream(compiled.detectors) if compiled.detectors else None
        self.quiet = quiet_search()
        # original offsets of the last compact characters; None: not computed yet, they are
        # those of the last kept characters of the folded segment in `hist_src` (see _hist)
        self.hist: list[int] | range | None = []
        self.hist_src: tuple[str, int, int] = ("", 0, 0)  # folded, base, compact length
        self.recent = ""  # the last max_key_len - 1 compact characters, cut by `tail`
        self.pending: list[tuple[int, int, int, int, int]] = []  # cs, ce, os, oe, key id
        self.allows: list[tuple[int, int]] = []  # compact spans of allow-list hits
        self.ready: list[Match] = []  # final, not yet released
        self.released = 0  # original offset up to which text was released
        self.fut = 0  # last answer of _future_start
        # compiled.open_prefix_ends and open_prefixes, read on first use (they are unpickled
        # lazily)
        self.prefix_ends: dict[str, int] | None = None
        self.prefixes: frozenset[str] = frozenset()

    # -- input -------------------------------------------------------------------------------

    def _take(self, segment: str, final: bool = False) -> str:
        """Append ``segment`` to the text; return what can be compacted now (a trailing digit
        waits for the next segment, which may make it a keycap)."""
        self.text += segment
        old_total = self.total
        self.total += len(segment)
        det = self.det
        if det is not None:
            # no piece open, and none in the segment that may hold a hit or go on: the
            # detectors have nothing to do (quiet_search)
            if det.pos == old_total and not final and self.quiet(segment) is None:
                det.pos = self.total
            else:
                self._detect(final)
        if self.empty:
            self.ctotal = self.total
            return ""
        if self.defer:
            segment = self.defer + segment
        cut = len(segment) if final else keycap_split(segment)
        self.defer = segment[cut:]
        return segment[:cut] if self.defer else segment

    def push_small(self, segment: str) -> None:
        """``push`` for a short segment: a stream delta (the per-chunk hot path of ``feed``)
        or a short one-shot text. ``_take`` and ``_find_new`` are inlined here, and
        ``keycap_split`` is called only when the segment ends in a digit or U+FE0F: each
        call would cost ~0.1 us of a chunk's few."""
        self.text += segment
        old_total = self.total
        self.total = total = old_total + len(segment)
        det = self.det
        if det is not None:
            # as in _take
            if det.pos == old_total and self.quiet(segment) is None:
                det.pos = total
            else:
                self._detect(False)
        if self.empty:
            self.ctotal = total
            return
        if self.defer:
            segment = self.defer + segment
            self.defer = ""
        if segment.endswith(_KEYCAP_HEADS):
            cut = keycap_split(segment)
            self.defer = segment[cut:]
            segment = segment[:cut]
        if not segment:
            return
        base = self.ctotal
        self.ctotal = base + len(segment)
        compact, orig = compact_stream(segment, base, self.carry)
        if not compact:
            return
        keep = self.keep
        find = self.find
        if find is not None:
            prefix = self.recent
            hits = find(prefix + compact)
            if hits:
                p = len(prefix)
                hits = [(e - 1 - p, kid) for _, e, kid in hits if e > p]
        else:
            data = compact if compact.isascii() else compact.encode("utf-8").decode("latin-1")
            it = self.iter
            it.set(data, False)
            hits = list(it)
        if orig.__class__ is str:  # the folded segment: offsets only when needed
            if not hits and len(compact) >= keep and not self.views:
                if find is None:
                    self.byte_base += len(data)
                self.cpos += len(compact)
                self.hist = None
                self.hist_src = (orig, base, len(compact))
                self.recent = compact[self.tail]
                return
            orig = kept_offsets(orig, base)
        if self.views:
            self._push_views(compact, orig)
        if find is not None:
            if hits:
                self._record_chars(hits, orig)
        else:
            if hits:
                self._record(hits, data, None, orig)
            self.byte_base += len(data)
        self.cpos += len(compact)
        if len(compact) >= keep:
            self.hist = orig[-keep:]
            self.recent = compact[self.tail]
        else:
            self.hist = ([*self._hist(), *orig])[-keep:]
            self.recent = (self.recent + compact)[self.tail]

    def push(self, segment: str, final: bool = False) -> None:
        """Consume a segment of any length (``final``: the text ends after it)."""
        segment = self._take(segment, final)
        if not segment:
            return
        base = self.ctotal
        self.ctotal = base + len(segment)
        codes = None
        if len(segment) <= SMALL_SEGMENT:
            compact, orig = compact_small(segment, base, self.carry)
            if not compact:
                return
        else:
            codes, orig = compact_segment(segment, base, self.carry)
            if not codes.size:
                return
            compact = codes.tobytes().decode("utf-32-le")
        if self.views:
            self._push_views(compact, orig)
        if self.find is not None:
            hits = self._find_new(compact)
            if hits:
                self._record_chars(hits, orig)
            self.cpos += len(compact)
            self._keep_tail(compact, orig)
            return
        data = compact if compact.isascii() else compact.encode("utf-8").decode("latin-1")
        if self.iter is not None:
            self.iter.set(data, False)
            hits = list(self.iter)
        else:
            hits = list(self.c.automaton.iter(data))
        if hits:
            self._record(hits, data, codes, orig)
        self.cpos += len(compact)
        self.byte_base += len(data)
        if self.streaming:
            self._keep_tail(compact, orig)

    def finish(self) -> None:
        """End of the text: compact what waited for a keycap, close the detectors' piece."""
        self.push("", final=True)

    def _push_views(self, compact: str, orig) -> None:
        for view in self.views:
            for hit in view.push(compact, self.cpos, orig):
                if _key_info(self.c, hit[4])[0]:
                    self.pending.append(hit)

    def _detect(self, final: bool) -> None:
        found = self.det.feed(self.text, self.text_base, self.total, final)
        if found:
            tb = self.text_base
            self.ready += [
                _detected_match(self.c, d, self.text[d.start - tb : d.end - tb]) for d in found
            ]

    def _keep_tail(self, compact: str, orig) -> None:
        keep = self.keep
        tail = orig[-keep:]
        tail = tail if isinstance(tail, list) else tail.tolist()
        self.hist = ([*self._hist(), *tail])[-keep:]
        self.recent = (self.recent + compact[self.tail])[self.tail]

    def _find_new(self, compact: str) -> list[tuple[int, int]]:
        """daachorse hits that end in ``compact`` (the new compact text) as (index of the
        last character in ``compact``, key id): found in ``compact`` after the last
        ``max_key_len - 1`` compact characters before it."""
        prefix = self.recent
        found = self.find(prefix + compact)
        if not found:
            return found
        p = len(prefix)
        return [(e - 1 - p, kid) for _, e, kid in found if e > p]

    def _record(self, hits, data: str, codes, orig) -> None:
        """Record pyahocorasick hits (end byte offsets) over ``data``."""
        bb = self.byte_base
        if len(data) == (len(codes) if codes is not None else len(orig)):  # all ASCII
            last = [h[0] - bb for h in hits]
        elif codes is None:  # short segment: count the characters of each prefix
            last = [len(data[: h[0] - bb + 1].encode("latin-1").decode("utf-8")) - 1 for h in hits]
        else:
            ends = np.fromiter((h[0] for h in hits), dtype=np.int64, count=len(hits)) + 1 - bb
            nbytes = 1 + (codes >= 0x80).astype(np.int64) + (codes >= 0x800) + (codes >= 0x10000)
            last = np.searchsorted(np.cumsum(nbytes), ends).tolist()
        self._record_chars(zip(last, [kid for _, kid in hits], strict=True), orig)

    def _record_chars(self, hits, orig) -> None:
        """Record hits given as (index of the last character in the new compact text, key
        id); ``orig`` holds the original offsets of the new compact characters."""
        c = self.c
        hist = self._hist()
        hist_base = self.cpos - len(hist)
        for le, kid in hits:
            ls = le - c.key_len[kid] + 1
            os_ = int(orig[ls]) if ls >= 0 else hist[self.cpos + ls - hist_base]
            oe = int(orig[le]) + 1
            cs, ce = self.cpos + ls, self.cpos + le
            if c.key_allow[kid]:
                self.allows.append((cs, ce))
            if _key_info(c, kid)[0]:
                self.pending.append((cs, ce, os_, oe, kid))

    # -- output ------------------------------------------------------------------------------

    def _future_start(self) -> int:
        """Compact index where the earliest hit still to come may start: the start of the
        longest suffix of the compact text that is a proper prefix of some key (a complete key
        that nothing extends is not in progress: its own hit is already recorded). It never
        moves backwards, so only suffixes that start after the previous answer are tried."""
        recent = self.recent
        cpos = self.cpos
        ends = self.prefix_ends
        if ends is None:  # the first time (the compiled tables are unpickled on first use)
            ends = self.prefix_ends = self.c.open_prefix_ends
            self.prefixes = self.c.open_prefixes
        longest = ends.get(recent[-1:])  # the suffix must end there
        if longest is None:
            self.fut = cpos
            return cpos
        n = len(recent)
        i = n - longest  # no longer than that, and not before the previous answer
        if i < self.fut - cpos + n:
            i = self.fut - cpos + n
        if i < 0:
            i = 0
        prefixes = self.prefixes
        while i < n and recent[i:] not in prefixes:
            i += 1
        self.fut = fut = cpos - n + i
        return fut

    def release_bound(self, fut_c: int) -> int:
        """Original offset up to which text may be released: before any key in progress (in
        the compact view or a derived view), any detector piece still open and any text
        waiting for a keycap."""
        bound = self._orig_of(fut_c) if fut_c < self.cpos else self.ctotal
        for view in self.views:
            if view.fut is not None and view.fut[1] < bound:
                bound = view.fut[1]
        if self.det is not None and self.det.pos < bound:
            bound = self.det.pos
        return bound

    def _orig_of(self, cidx: int) -> int:
        back = self.cpos - cidx  # 1: the last compact character
        if self.hist is None:  # the back-th last character kept in the folded segment
            folded, base, _ = self.hist_src
            kept = folded.rstrip("\x00")
            while back > 1:
                kept = kept[:-1].rstrip("\x00")
                back -= 1
            return base + len(kept) - 1
        return self.hist[-back]

    def _hist(self) -> list[int] | range:
        hist = self.hist
        if hist is None:
            folded, base, n = self.hist_src
            keep = self.keep
            hist = self.hist = kept_offsets(folded, base, n - keep)
        return hist

    def advance(self, final: bool) -> tuple[list[Match], int]:
        """Finalise what can be finalised; return (matches to release, release bound)."""
        if final:
            self.finish()
        fut_c = self.cpos if final else self._future_start()
        if self.pending:
            still = []
            for hit in self.pending:
                if not self._resolve(hit, final, fut_c):
                    still.append(hit)
            self.pending = still
        bound = self.total if final else self.release_bound(fut_c)
        if self.pending:
            bound = min(bound, min(h[2] for h in self.pending))
        bound = max(bound, self.released)
        if self.ready:
            out = [m for m in self.ready if m.start < bound]
            if len(out) == len(self.ready):
                self.ready = []
            else:
                self.ready = [m for m in self.ready if m.start >= bound]
            out.sort(key=_sort_key)
        else:
            out = []
        if self.allows:
            low = min([fut_c, *(h[0] for h in self.pending)])
            self.allows = [a for a in self.allows if a[1] >= low]
        return out, bound

    def _resolve(self, hit: tuple[int, int, int, int, int], final: bool, fut_c: int) -> bool:
        cs, ce, os_, oe, kid = hit
        if not final and cs >= fut_c:
            return False  # an allow-list phrase containing this hit may still be in progress
        entries, need = _key_info(self.c, kid)
        noisy = oe - os_ > ce - cs + 1
        if noisy:
            need = WINDOW  # the gap rules may read the words around the span
        if not final and need and self.total < oe + need:
            return False
        for a_s, a_e in self.allows:
            if a_s <= cs and a_e >= ce:
                return True
        text, tb, total = self.text, self.text_base, self.total
        for entry in entries:
            if noisy or entry.word or entry.variant:
                decided = decide(entry, text, tb, total, os_, oe, noisy)
                if decided is None:
                    continue
                variant, end = decided
            else:
                end = oe
                variant = "exact" if text[os_ - tb : oe - tb] == entry.term else "normalized"
            self.ready.append(_new_match(entry, os_, end, text[os_ - tb : end - tb], variant))
        return True

    def take_text(self, bound: int) -> str:
        """Original text from the last release up to ``bound``; trims the context buffer."""
        chunk = self.text[self.released - self.text_base : bound - self.text_base]
        self.released = bound
        low = min(bound, min(h[2] for h in self.pending)) if self.pending else bound
        keep_from = max(0, low - WINDOW - 1)
        if keep_from - self.text_base > _TRIM:
            self.text = self.text[keep_from - self.text_base :]
            self.text_base = keep_from
        return chunk


def _new_match(entry: Entry, start: int, end: int, span: str, variant: str) -> Match:
    """``Match(...)`` without the frozen ``__init__``."""
    m = _new(Match)
    s_term, s_cat, s_start, s_end, s_text, s_action, s_sev, s_var = _FIELD_SETTERS
    s_term(m, entry.term)
    s_cat(m, entry.category)
    s_start(m, start)
    s_end(m, end)
    s_text(m, span)
    s_action(m, entry.action)
    s_sev(m, entry.severity)
    s_var(m, variant)
    return m


def _detected_match(c: Compiled, d: Detected, span: str) -> Match:
    category, action, severity = c.detector_info[d.name]
    return Match(
        term=d.name,
        category=category,
        start=d.start,
        end=d.end,
        text=span,
        action=action,
        severity=severity,
        variant="exact" if d.plain else "normalized",
    )


def scan_text(compiled: Compiled, text: str, engine: str = "auto") -> list[Match]:
    """Every match in ``text``, sorted by (start, end, category, term).

    ``engine``: "auto" (daachorse when installed, else pyahocorasick), "fast" or "stream"
    (the pyahocorasick core that the streaming scanner uses).
    """
    if engine != "stream" and compiled.fast is not None and not compiled.views:
        if engine == "auto" and len(text) <= SHORT_SCAN:
            return _scan_short(compiled, text)
        return _scan_fast(compiled, text)
    if engine == "fast":
        raise ValueError("the fast engine (daachorse) is not available for this lexicon")
    core = _Core(compiled, streaming=engine == "auto" and compiled.fast is not None)
    core.push(text)
    matches, _ = core.advance(final=True)
    return matches


def _scan_short(compiled: Compiled, text: str) -> list[Match]:
    """One-shot scan of a short text through the streaming core (C-level normalisation and
    daachorse, no numpy): the vectorised path has a high fixed cost per call. Same matches as
    :func:`_scan_fast` (the streaming core gives the same matches as a one-shot scan)."""
    core = _Core(compiled, streaming=True)
    core.push_small(text)
    return core.advance(final=True)[0]


def _scan_fast(compiled: Compiled, text: str, general: bool = False) -> list[Match]:
    """One-shot scan with daachorse and vectorised hit resolution (same semantics as _Core;
    ``general``: every hit through the per-hit decision, see :func:`_build_matches`)."""
    ft = compiled.fast
    assert ft is not None
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    codes, orig = compact_segment(text, 0, NoiseCarry(), cps)
    out: list[Match] = []
    triggers: list[tuple[int, int]] = []
    hits = compact_hits(compiled, codes)
    if hits.size:
        out, triggers = _resolve_fast(compiled, text, hits, orig, cps, general)
    if compiled.detectors:
        found = _detect_fast(compiled, text, codes, orig, triggers)
        for d in found:
            insort(out, _detected_match(compiled, d, text[d.start : d.end]), key=_sort_key)
    return out


def compact_hits(compiled: Compiled, codes: np.ndarray) -> np.ndarray:
    """daachorse hits over the compact code points ``codes``, as an int64 array of
    (start, end, key id) rows in compact characters, in daachorse's order (by end).

    A long view is searched in blocks of ``SEARCH_BLOCK`` characters, each preceded by the
    last ``max_key_len - 1`` characters before it, keeping the hits that end in the block (as
    the streaming core does): the charwise search converts its text to UTF-8 and fills a
    byte-to-character offset map of 8 bytes per UTF-8 byte first, which for a whole long text
    is tens of megabytes of fresh memory per call; per block it is reused. The state of the
    automaton at each kept hit is the same as over the whole text (the block holds at least
    ``max_key_len`` characters up to it), so the hits and their order are too."""
    if not codes.size:
        return np.zeros((0, 3), dtype=np.int64)
    compact = codes.tobytes().decode("utf-32-le")
    find = compiled.fast.automaton.find_overlapping
    n, block = len(compact), SEARCH_BLOCK
    if n <= block:
        return _hit_rows(find(compact))
    back = max(compiled.max_key_len - 1, 0)
    parts = []
    for a in range(0, n, block):
        lo = max(0, a - back)
        found = find(compact[lo : a + block])
        if found:
            h = _hit_rows(found)
            if lo < a:
                h = h[h[:, 1] > a - lo]
            h[:, :2] += lo
            parts.append(h)
    return np.concatenate(parts) if parts else np.zeros((0, 3), dtype=np.int64)


def _hit_rows(found: list[tuple[int, int, int]]) -> np.ndarray:
    """daachorse's (start, end, key id) tuples as an int64 array of rows."""
    flat = np.fromiter(chain.from_iterable(found), dtype=np.int64, count=3 * len(found))
    return flat.reshape(-1, 3)


def _resolve_fast(
    compiled: Compiled,
    text: str,
    hits: np.ndarray,
    orig: np.ndarray,
    cps: np.ndarray,
    general: bool = False,
) -> tuple[list[Match], list[tuple[int, int]]]:
    """Matches of the daachorse hits (:func:`compact_hits`; vectorised allow-list and
    ordering), and the original spans of the detectors' keyword hits (``general``: see
    :func:`_build_matches`)."""
    ft = compiled.fast
    cs, ce, kid = hits[:, 0], hits[:, 1] - 1, hits[:, 2]
    triggers: list[tuple[int, int]] = []
    if compiled.key_trigger:
        trig = ft.key_trigger[kid]
        if trig.any():
            triggers = list(
                zip(orig[cs[trig]].tolist(), (orig[ce[trig]] + 1).tolist(), strict=True)
            )
    is_allow = ft.key_allow[kid]
    if is_allow.any():
        a_order = np.argsort(cs[is_allow], kind="stable")
        a_start = cs[is_allow][a_order]
        a_maxend = np.maximum.accumulate(ce[is_allow][a_order])
    deny = compiled.key_entries.nent[kid] > 0
    cs, ce, kid = cs[deny], ce[deny], kid[deny]
    if is_allow.any() and cs.size:
        idx = np.searchsorted(a_start, cs, side="right") - 1
        inside = (idx >= 0) & (a_maxend[np.maximum(idx, 0)] >= ce)
        cs, ce, kid = cs[~inside], ce[~inside], kid[~inside]
    if not cs.size:
        return [], triggers
    ke = compiled.key_entries
    counts = ke.nent[kid]
    group_start = np.cumsum(counts) - counts
    ent = ke.flat[np.repeat(ke.off[kid] - group_start, counts) + np.arange(int(counts.sum()))]
    os_all = np.repeat(orig[cs], counts)
    oe_all = np.repeat(orig[ce] + 1, counts)
    klen = np.repeat(ce - cs + 1, counts)
    order = _span_order(os_all, oe_all, ft.entry_rank[ent], len(text), len(ft.entry_rank))
    ent, os_all, oe_all, klen = ent[order], os_all[order], oe_all[order], klen[order]
    noisy_all = oe_all - os_all > klen
    # the commonest hit across words: two characters with the writer's punctuation between
    # them (国，美): no consistent spacing over two gaps can make it a match (gaps.py)
    drop = (
        noisy_all
        & (klen == 2)
        & _PUNCT_LUT[cps[np.minimum(os_all + 1, cps.size - 1)] & 0xFFFF]
        & ~ft.entry_own_gaps[ent]
    )
    if drop.any():
        keep = ~drop
        ent, os_all, oe_all, noisy_all = ent[keep], os_all[keep], oe_all[keep], noisy_all[keep]
    special = np.flatnonzero(noisy_all | ft.entry_special[ent]).tolist()
    out = _build_matches(
        compiled,
        text,
        ent.tolist(),
        os_all.tolist(),
        oe_all.tolist(),
        special,
        noisy_all[special].tolist() if special else [],
        general,
    )
    return out, triggers


def _span_order(
    starts: np.ndarray, ends: np.ndarray, rank: np.ndarray, n_text: int, n_rank: int
) -> np.ndarray:
    """The stable order of hits by (start, end, rank): ``np.lexsort`` of the three keys, as
    one int64 key when it fits (a stable sort of one key is timsort, which is close to
    linear here: daachorse reports hits by end, so they come nearly sorted by start)."""
    if starts.size < max(ONE_KEY_SORT_MIN, 1):
        return np.lexsort((rank, ends, starts))  # a few hits: fewer numpy calls
    lengths = ends - starts  # >= 1
    span = int(lengths.max()) + 1
    if (n_text + 1) * span * max(n_rank, 1) >= 1 << 62:
        return np.lexsort((rank, ends, starts))
    return np.argsort((starts * span + lengths) * n_rank + rank, kind="stable")


#: ``variant`` of a hit that needs no decision, indexed by ``span == term``.
_PLAIN_VARIANT = ("normalized", "exact")


def _build_matches(
    compiled: Compiled,
    text: str,
    ent: list[int],
    starts: list[int],
    ends: list[int],
    special: list[int],
    noisy: list[bool],
    general: bool = False,
) -> list[Match]:
    """The matches of resolved hits, in the given order: hit ``i`` is entry ``ent[i]`` at
    ``[starts[i], ends[i])``. The hits at the indices ``special`` (``noisy``: whether each
    holds noise) need a decision (:func:`decide`): they may be dropped or change their end
    and variant. Every other hit is a match as it stands, built column-wise: each field is
    gathered for all hits at once (``itemgetter``, ``map``) and set on fresh objects by the
    slots' setters, with no per-hit bytecode (below ``COLUMN_WISE_MIN`` hits the set-up costs
    more than it saves: :func:`_build_per_hit`). ``general``: send every hit through
    :func:`decide` instead (the reference the tests compare the fast path with)."""
    n = len(ent)
    if not n:
        return []
    if general:
        noisy_of = dict(zip(special, noisy, strict=True))
        special = list(range(n))
        noisy = [noisy_of.get(i, False) for i in special]
    terms, cats, actions, sevs = compiled.entries.columns[:4]
    if n < COLUMN_WISE_MIN and not general:
        noisy_of = dict(zip(special, noisy, strict=True))
        return _build_per_hit(compiled, text, ent, starts, ends, noisy_of)
    pick = itemgetter(*ent) if n > 1 else lambda col: (col[ent[0]],)
    m_terms = pick(terms)
    spans = list(map(text.__getitem__, map(slice, starts, ends)))
    variants = list(map(_PLAIN_VARIANT.__getitem__, map(eq, spans, m_terms)))
    keep = None
    if special:
        entries = compiled.entries
        total = len(text)
        for i, noisy_i in zip(special, noisy, strict=True):
            decided = decide(entries[ent[i]], text, 0, total, starts[i], ends[i], noisy_i)
            if decided is None:
                if keep is None:
                    keep = [True] * n
                keep[i] = False
                continue
            variants[i], end = decided
            if end != ends[i]:
                ends[i] = end
                spans[i] = text[starts[i] : end]
    out = list(map(_new, repeat(Match, n)))
    columns = (m_terms, pick(cats), starts, ends, spans, pick(actions), pick(sevs), variants)
    for setter, column in zip(_FIELD_SETTERS, columns, strict=True):
        any(map(setter, out, column))  # each setter returns None: any() runs them all
    return out if keep is None else list(compress(out, keep))


def _build_per_hit(
    compiled: Compiled,
    text: str,
    ent: list[int],
    starts: list[int],
    ends: list[int],
    noisy_of: dict[int, bool],
) -> list[Match]:
    """:func:`_build_matches` one hit at a time (``noisy_of``: the hits that need a decision,
    with whether each holds noise): for a few hits, cheaper than the column-wise set-up."""
    entries = compiled.entries
    terms, cats, actions, sevs = entries.columns[:4]
    total = len(text)
    out = []
    s_term, s_cat, s_start, s_end, s_text, s_action, s_sev, s_var = _FIELD_SETTERS
    for i, (e_id, start, end) in enumerate(zip(ent, starts, ends, strict=True)):
        noisy = noisy_of.get(i)
        if noisy is not None:
            decided = decide(entries[e_id], text, 0, total, start, end, noisy)
            if decided is None:
                continue
            variant, end = decided
            span = text[start:end]
        else:
            span = text[start:end]
            variant = _PLAIN_VARIANT[span == terms[e_id]]
        m = _new(Match)
        s_term(m, terms[e_id])
        s_cat(m, cats[e_id])
        s_start(m, start)
        s_end(m, end)
        s_text(m, span)
        s_action(m, actions[e_id])
        s_sev(m, sevs[e_id])
        s_var(m, variant)
        out.append(m)
    return out


def _punct_lut() -> np.ndarray:
    table = np.zeros(0x10000, dtype=bool)
    table[[ord(c) for c in PUNCT_CHARS]] = True
    return table


_PUNCT_LUT = _punct_lut()


def _digit_lut() -> np.ndarray:
    """Digits (after folding) and Chinese numerals, over code points mod 2**16 (an astral
    character may alias one: this table only chooses where the detectors look)."""
    global _DIGIT_LUT
    if _DIGIT_LUT is None:
        lut = np.zeros(0x10000, dtype=bool)
        lut[ord("0") : ord("9") + 1] = True
        lut[[ord(ch) for ch in _CJK_DIGITS]] = True
        _DIGIT_LUT = lut
    return _DIGIT_LUT


_DIGIT_LUT: np.ndarray | None = None
_STRIDE = MIN_DIGITS // 2  # a run of MIN_DIGITS covers two neighbouring multiples of it


def _digit_windows(codes: np.ndarray, orig: np.ndarray) -> list[tuple[int, int]]:
    """Original spans around every run of ``MIN_DIGITS`` digits or more in the compact view
    (a number a detector reports without a keyword: its separators are noise, so its digits
    are neighbours there). Only every ``_STRIDE``-th compact character is read first."""
    lut = _digit_lut()
    n = codes.size
    sampled = lut[codes[::_STRIDE].astype(np.uint16)]
    pairs = np.flatnonzero(sampled[:-1] & sampled[1:]) * _STRIDE
    if not pairs.size:
        return []
    block = pairs[:, None] + np.arange(_STRIDE + 1)  # both samples and what lies between
    pairs = pairs[lut[codes[np.minimum(block, n - 1)].astype(np.uint16)].all(axis=1)]
    lo = orig[np.maximum(pairs - _STRIDE, 0)]
    hi = orig[np.minimum(pairs + 3 * _STRIDE, n - 1)] + 1
    return list(zip(lo.tolist(), hi.tolist(), strict=True))


def _detect_fast(
    compiled: Compiled,
    text: str,
    codes: np.ndarray,
    orig: np.ndarray,
    triggers: list[tuple[int, int]],
) -> list[Detected]:
    """The detectors over a whole text: find where a detector hit may be (a run of
    ``MIN_DIGITS`` digits in the compact view, an ``@``, a keyword the main automaton found:
    QQ/WeChat keywords, the top-level domains and ``www``/``http``) and examine only the pieces
    there (``detect_anchored``, which gives the hits of examining every piece, as the
    streaming scanner does)."""
    ranges: list[tuple[int, int]] = [(s, e + CONTEXT) for s, e in triggers]
    for at in ("@", "＠"):
        i = text.find(at)
        while i >= 0:
            ranges.append((i, i + 1))
            i = text.find(at, i + 1)
    if codes.size >= MIN_DIGITS:
        ranges += _digit_windows(codes, orig)
    if not ranges:
        return []
    return detect_anchored(text, ranges, compiled.detectors)


def _default_mask(match: Match) -> bool:
    return match.action in ("mask", "block")


class StreamScanner:
    """Scan a text that arrives in chunks (an LLM stream), releasing text as soon as it is safe.

    ``feed(chunk)`` returns the text that can no longer be part of a match (masked where the
    ``mask`` predicate says so) and the matches completed so far; ``flush()`` ends the stream.
    Concatenating every returned ``text`` gives ``lex.mask(full, ...)`` of the whole text, and
    the matches in order equal ``lex.scan(full)``, however the text was split.
    """

    def __init__(
        self,
        compiled: Compiled,
        mask: Callable[[Match], bool] | None = None,
        mask_char: str = "*",
    ) -> None:
        if len(mask_char) != 1:
            raise ValueError("mask_char must be a single character")
        self._core = _Core(compiled, streaming=True)
        self._mask = mask or _default_mask
        self._mask_char = mask_char
        self._spans: list[tuple[int, int]] = []  # masked spans reaching past the release point
        self._closed = False

    @property
    def position(self) -> int:
        """Original code points fed so far."""
        return self._core.total

    @property
    def held(self) -> int:
        """Code points fed but not yet released."""
        return self._core.total - self._core.released

    def feed(self, chunk: str) -> StreamOutput:
        """Scan the next chunk of the stream."""
        if self._closed:
            raise ValueError("feed() after flush()")
        if chunk.__class__ is not str and not isinstance(chunk, str):
            raise TypeError("chunk must be str")
        core = self._core
        if chunk:
            if len(chunk) <= SMALL_SEGMENT:
                core.push_small(chunk)
            else:
                core.push(chunk)
        if core.pending or core.ready or core.allows or self._spans:
            return self._emit(final=False)
        # Fast path: no hit in flight, nothing to mask: release up to the possible term start.
        bound = core.release_bound(core._future_start())
        released = core.released
        if bound <= released:
            return _output("", [])
        base = core.text_base
        text = core.text[released - base : bound - base]
        core.released = bound
        keep_from = bound - WINDOW - 1
        if keep_from - base > _TRIM:
            core.text = core.text[keep_from - base :]
            core.text_base = keep_from
        return _output(text, [])

    def flush(self) -> StreamOutput:
        """End of stream: release everything still held back."""
        if self._closed:
            return _output("", [])
        out = self._emit(final=True)
        self._closed = True
        return out

    def _emit(self, final: bool) -> StreamOutput:
        core = self._core
        matches, bound = core.advance(final)
        start = core.released
        for m in matches:
            if self._mask(m):
                self._spans.append((m.start, m.end))
        text = core.take_text(bound)
        if self._spans:
            text = mask_text(text, self._spans, self._mask_char, start)
            self._spans = [s for s in self._spans if s[1] > bound]
        return _output(text, matches)
