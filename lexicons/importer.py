"""``aigc-gateway lexicon import``: public word lists -> a lexicon directory (DESIGN §3.2).

Every term is read with where it came from (``sources``), its source category names are
mapped to category ids (``mapping``), and its *key* is computed with the loader's own
normalisation, so two spellings that the matcher folds together (蘋果手機 / 苹果手机,
ＱＱ / qq, 苹 果) are one term. Kept are, per category, the first spelling of each key; a
key already under a mapped category is not repeated under ``custom``. Terms the matcher
could not use or that would only do harm are dropped with a reason:

=================== ===================================================================
``no_letters``      no letter, digit or ideograph (only punctuation/symbols)
``too_long``        longer than the loader's limit of normalised characters
``single_char``     one character: it fires inside countless ordinary words
``cooccurrence``    several words on one line meant to co-occur ("出售炸药 电话")
``invalid_attribute`` an ``action=``/``match=``/``severity=`` value the format rejects
``mapped_to_drop``  its source category is mapped to ``drop``
``duplicate``       same key, same category as an earlier term (other spellings included)
``custom_duplicate`` already imported under a mapped category
=================== ===================================================================

The output is deterministic (no dates in it): the same sources give the same files, hence
the same lexicon version. Each term line is preceded by a comment naming its source and line.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .loader import MAX_TERM_CHARS
from .mapping import CUSTOM, DROP, CategoryMapping
from .normalize import normalize_term, tables
from .sources import RawTerm, Source, expand_sources, read_source

__all__ = ["Dropped", "ImportReport", "import_lexicon", "term_key"]

REASONS = {
    "no_letters": "no letter, digit or ideograph",
    "too_long": f"longer than {MAX_TERM_CHARS} normalised characters",
    "single_char": "a single character fires inside countless ordinary words",
    "cooccurrence": "words meant to co-occur; the lexicon format matches contiguous terms",
    "invalid_attribute": "invalid attribute value",
    "mapped_to_drop": "source category mapped to drop",
    "duplicate": "same normalised key and category as an earlier term",
    "custom_duplicate": "already imported under a mapped category",
}


def term_key(term: str) -> str:
    """The key the matcher folds ``term`` to: the loader's own normalisation, so that two
    spellings with the same key are one term to the matcher (tested against ``scan``)."""
    return normalize_term(term)


@dataclass(frozen=True, slots=True)
class Dropped:
    """A term not imported, and why."""

    term: str
    source: str
    where: str
    reason: str
    detail: str = ""


@dataclass(slots=True)
class _Kept:
    term: str
    key: str
    category: str
    attrs: tuple[tuple[str, str], ...]
    source: str
    where: str
    source_category: str
    source_stem: str
    also: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ImportReport:
    """What ``import_lexicon`` read, wrote and dropped."""

    out: str
    sources: list[dict] = field(default_factory=list)  # path, format, encoding, lines, terms
    written: dict[str, int] = field(default_factory=dict)  # category id -> terms
    allow: int = 0
    mapped: dict[str, str] = field(default_factory=dict)  # source category -> category id
    unknown: dict[str, int] = field(default_factory=dict)  # unmapped source category -> terms
    dropped: list[Dropped] = field(default_factory=list)
    read: int = 0
    seconds: float = 0.0

    @property
    def kept(self) -> int:
        return sum(self.written.values())

    def to_json(self) -> str:
        data = asdict(self)
        data["kept"] = self.kept
        data["dropped_by_reason"] = dict(Counter(d.reason for d in self.dropped))
        return json.dumps(data, ensure_ascii=False, indent=1)

    def to_text(self) -> str:
        """The human report: summary first, then every dropped term by reason."""
        out = [
            f"imported {self.kept} terms into {self.out} from {self.read} read "
            f"({len(self.sources)} source file(s), {self.seconds:.2f} s)"
        ]
        for s in self.sources:
            note = f"; {'; '.join(s['notes'])}" if s["notes"] else ""
            out.append(
                f"  {s['path']}: {s['format']}, {s['terms']} terms, {s['encoding']}"
                f"{', allow-list' if s['allow'] else ''}{note}"
            )
        out.append("categories written:")
        out += [f"  {cid}: {n}" for cid, n in sorted(self.written.items())]
        if self.allow:
            out.append(f"  allow.txt: {self.allow} phrases")
        if self.mapped:
            out.append("source categories mapped:")
            out += [f"  {name} -> {cid}" for name, cid in sorted(self.mapped.items())]
        if self.unknown:
            out.append(
                "source categories NOT mapped (imported as custom; map them with --mapping):"
            )
            out += [f"  {name}: {n} terms" for name, n in sorted(self.unknown.items())]
        by_reason = Counter(d.reason for d in self.dropped)
        out.append(f"dropped: {len(self.dropped)}")
        for reason, n in by_reason.most_common():
            out.append(f"  {reason}: {n} ({REASONS[reason]})")
        for reason, _ in by_reason.most_common():
            out.append(f"## dropped: {reason}")
            for d in self.dropped:
                if d.reason == reason:
                    detail = f"  {d.detail}" if d.detail else ""
                    out.append(f"{d.source}:{d.where}\t{d.term}{detail}")
        return "\n".join(out) + "\n"


Progress = Callable[[int], None]
#: Terms between two updates of the progress bar.
PROGRESS_STEP = 5000


def import_lexicon(
    paths: list[Path],
    out: Path,
    *,
    fmt: str = "auto",
    mapping: CategoryMapping | None = None,
    force: bool = False,
    progress: Callable[[int, int], Progress] | None = None,
    cache_dir: Path | None = None,
) -> ImportReport:
    """Read ``paths`` (files or directories) and write the lexicon directory ``out``.

    ``progress(total_lines, 0)`` may return a callable advanced by the number of lines
    processed. Raises ``sources.UnreadableSource`` for a file that cannot be read, and
    ``FileExistsError`` when ``out`` is a non-empty directory and ``force`` is false.
    ``cache_dir`` is where the normalisation tables may be cached (as ``load_lexicon``'s).
    """
    began = time.perf_counter()
    tables(cache_dir)
    mapping = mapping or CategoryMapping.default()
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not empty (--force replaces it)")
    files = expand_sources(paths)
    sources = [read_source(path, label, fmt) for path, label in files]
    report = ImportReport(out=str(out))
    advance = progress(sum(s.lines for s in sources), 0) if progress else None

    tags: dict[str, tuple[str, ...]] = {}
    for src in sources:
        for word, names in src.tags.items():
            key = term_key(word)
            tags[key] = tuple(dict.fromkeys(tags.get(key, ()) + names))

    kept: dict[tuple[str, str], _Kept] = {}
    allow: dict[str, _Kept] = {}
    unknown: Counter[str] = Counter()
    drop = report.dropped.append
    for src in sources:
        done = 0
        for i, raw in enumerate(src.terms, 1):
            report.read += 1
            _take(src, raw, mapping, tags, kept, allow, unknown, report, drop)
            if advance and i % PROGRESS_STEP == 0:
                advance(PROGRESS_STEP)
                done += PROGRESS_STEP
        report.sources.append(
            {
                "path": src.label,
                "format": src.format,
                "encoding": src.encoding,
                "lines": src.lines,
                "terms": len(src.terms),
                "allow": src.allow,
                "notes": src.notes,
            }
        )
        if advance:
            advance(max(0, src.lines - done))

    mapped_under: dict[str, str] = {}
    for key, cid in kept:
        if cid != CUSTOM:
            mapped_under.setdefault(key, cid)
    for (key, cid), k in list(kept.items()):
        if cid == CUSTOM and key in mapped_under:
            del kept[(key, cid)]
            detail = f"(under {mapped_under[key]})"
            drop(Dropped(k.term, k.source, k.where, "custom_duplicate", detail))
    report.unknown = dict(unknown)
    _write(out, kept, allow, force)
    report.written = dict(Counter(k.category for k in kept.values()))
    report.allow = len(allow)
    report.seconds = time.perf_counter() - began
    return report


def _take(
    src: Source,
    raw: RawTerm,
    mapping: CategoryMapping,
    tags: dict[str, tuple[str, ...]],
    kept: dict[tuple[str, str], _Kept],
    allow: dict[str, _Kept],
    unknown: Counter[str],
    report: ImportReport,
    drop: Callable[[Dropped], None],
) -> None:
    text = raw.text.strip().lstrip("#").strip()  # a leading '#' would read as a comment
    if raw.problem is not None:
        drop(Dropped(raw.text, src.label, raw.where, raw.problem[0], raw.problem[1]))
        return
    key = term_key(text)
    reason = (
        "no_letters"
        if not key
        else "too_long"
        if len(key) > MAX_TERM_CHARS
        else "single_char"
        if len(key) == 1 and not src.allow
        else None
    )
    if reason is not None:
        drop(Dropped(raw.text, src.label, raw.where, reason))
        return
    if src.allow:
        if key in allow:
            allow[key].also.append(f"{src.label}:{raw.where}")
        else:
            allow[key] = _Kept(text, key, "allow", (), src.label, raw.where, "", "")
        return
    names = raw.categories or (src.name_category,)
    names = tuple(dict.fromkeys(names + tags.get(key, ())))
    ids: list[tuple[str, str]] = []
    for name in names:
        cid = mapping.resolve(name)
        if cid is None:
            unknown[name] += 1
            cid = CUSTOM
        else:
            report.mapped[name] = cid
        if cid == DROP:
            drop(Dropped(raw.text, src.label, raw.where, "mapped_to_drop", f"({name})"))
            continue
        ids.append((cid, name))
    for cid, name in ids:
        first = kept.get((key, cid))
        if first is not None:
            first.also.append(f"{src.label}:{raw.where}")
            drop(
                Dropped(
                    raw.text,
                    src.label,
                    raw.where,
                    "duplicate",
                    f"(of {first.term!r} at {first.source}:{first.where}, {cid})",
                )
            )
            continue
        kept[(key, cid)] = _Kept(
            text, key, cid, raw.attrs, src.label, raw.where, name, src.name_category
        )


def _comment(k: _Kept) -> str:
    where = f"# {k.source}:{k.where}"
    if k.source_category and k.source_category != k.source_stem:
        where += f" [{k.source_category}]"
    if k.also:
        more = f" +{len(k.also) - 3}" if len(k.also) > 3 else ""
        where += "; also " + ", ".join(k.also[:3]) + more
    return where.replace("\n", " ")


def _term_line(k: _Kept) -> str:
    return "\t".join([k.term, *(f"{a}={v}" for a, v in k.attrs)])


def _write(
    out: Path, kept: dict[tuple[str, str], _Kept], allow: dict[str, _Kept], force: bool
) -> None:
    by_category: dict[str, list[_Kept]] = {}
    for k in kept.values():
        by_category.setdefault(k.category, []).append(k)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        header = (
            "# Written by `aigc-gateway lexicon import`. Each term follows a comment naming "
            "the source file and line it was read from.\n"
        )
        for cid, items in sorted(by_category.items()):
            lines = [header]
            for k in items:
                lines.append(_comment(k) + "\n" + _term_line(k) + "\n")
            (tmp / f"{cid}.txt").write_text("".join(lines), encoding="utf-8")
        if allow:
            lines = [header.replace("Each term", "Each allow-list phrase")]
            for k in allow.values():
                lines.append(_comment(k) + "\n" + k.term + "\n")
            (tmp / "allow.txt").write_text("".join(lines), encoding="utf-8")
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        if out.exists():
            if not force:
                raise FileExistsError(f"{out} exists (--force replaces it)")
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
        os.chmod(out, 0o755)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
