"""Lexicon version history: a manifest per lexicon version, version lists and diffs.

Every record of the gateway carries the ``lexicon_version`` (``"sha256:<16 hex>"``) that
screened it. So that any such version can be resolved to the terms that were in force, the
service writes a *manifest* the first time it loads a version (``Runtime`` calls
:meth:`ManifestStore.record` for every lexicon it loads or reloads): the version, when and from
which directories it was first loaded, the categories, every term with its category and
attributes, and the allow-list. Manifests live in ``<data_dir>/lexicon-versions/`` as one
gzipped JSON file per version (about 1 MB per 100,000 terms) plus a small ``.meta.json``
whose modification time is the last load. They are never pruned: records outlive lexicons.

The API the console (and ``aigc-gateway lexicon diff|versions``) uses::

    from lexicons.history import ManifestStore, diff, manifest_of

    store = ManifestStore(data_dir / "lexicon-versions")
    store.versions()                 # -> list[VersionInfo], most recently loaded first
    old = store.get("sha256:...")    # -> Manifest | None
    new = manifest_of(lexicon, dirs) # the manifest of a loaded Lexicon
    d = diff(old, new)               # -> LexiconDiff: .added .removed .changed ... .to_dict()

Everything here reads and writes plain files; no database is involved.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .lexicon import Lexicon

__all__ = [
    "LexiconDiff",
    "Manifest",
    "ManifestStore",
    "TermRow",
    "VersionInfo",
    "diff",
    "manifest_of",
    "read_manifest",
]

MANIFEST_FORMAT = 1
_BUNDLED_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True, slots=True, order=True)
class TermRow:
    """One (term, category) pair in force: effective action and severity, and the ``match``
    attribute as written (``""``: the default)."""

    term: str
    category: str
    action: str
    severity: str
    match: str = ""


@dataclass(slots=True)
class Manifest:
    """The terms, categories and allow-list of one lexicon version."""

    version: str
    created_at: str  # ISO 8601 UTC, first load
    sources: list[str]  # lexicon directories ("" = the bundled sample)
    pinyin_categories: list[str]
    categories: dict[str, dict[str, str]]  # id -> name_zh, name_en, default_action, parent
    terms: list[TermRow]
    allow: list[str]

    @property
    def term_count(self) -> int:
        return len(self.terms)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["format"] = MANIFEST_FORMAT
        data["terms"] = [list(asdict(t).values()) for t in self.terms]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        return cls(
            version=data["version"],
            created_at=data["created_at"],
            sources=list(data["sources"]),
            pinyin_categories=list(data.get("pinyin_categories", [])),
            categories=dict(data["categories"]),
            terms=[TermRow(*row) for row in data["terms"]],
            allow=list(data["allow"]),
        )


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One stored version, for lists."""

    version: str
    first_loaded: str  # ISO 8601 UTC
    last_loaded: str  # ISO 8601 UTC
    term_count: int
    sources: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _file_terms(dirs: Iterable[Path], lex: Lexicon) -> tuple[dict[tuple[str, str], str], list[str]]:
    """``match=`` attributes as written in the files, by (term, category), and the allow-list
    phrases: read from the DESIGN §3.2 files (the compiled lexicon does not keep them)."""
    match: dict[tuple[str, str], str] = {}
    allow: list[str] = []
    for directory in dirs:
        for path in sorted(Path(directory).glob("*.txt")):
            try:
                text = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError):
                continue
            category = path.stem if path.stem in lex.taxonomy else "custom"
            for line in text.split("\n"):
                if not line.strip() or line.strip().startswith("#"):
                    continue
                term, *fields = line.rstrip("\r").split("\t")
                if path.name == "allow.txt":
                    allow.append(term.strip())
                    continue
                for f in fields:
                    key, _, value = f.strip().partition("=")
                    if key.strip() == "match":
                        match[(term.strip(), category)] = value.strip()
    return match, list(dict.fromkeys(allow))


def manifest_of(
    lex: Lexicon,
    dirs: Iterable[str | os.PathLike[str]] | None = None,
    pinyin_categories: Iterable[str] = (),
) -> Manifest:
    """The manifest of a loaded lexicon; ``dirs`` are the directories it was loaded from
    (None or empty: the bundled sample)."""
    paths = [Path(d) for d in dirs or []]
    match, allow = _file_terms(paths or [_BUNDLED_DIR], lex)
    rows = sorted(
        TermRow(term, cat, action, sev, match.get((term, cat), ""))
        for term, cat, action, sev in lex.iter_terms()
    )
    used = {r.category for r in rows}
    categories = {
        c.id: {
            "name_zh": c.name_zh,
            "name_en": c.name_en,
            "default_action": c.default_action,
            "parent": c.parent or "",
        }
        for c in lex.taxonomy
        if c.id in used
    }
    return Manifest(
        version=lex.version,
        created_at=_iso(time.time()),
        sources=[str(p) for p in paths],
        pinyin_categories=sorted(pinyin_categories),
        categories=categories,
        terms=rows,
        allow=allow,
    )


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read a manifest file (``.json.gz`` as the store writes it, or plain ``.json``)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return Manifest.from_dict(json.loads(raw))


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class ManifestStore:
    """Manifests of lexicon versions in one directory (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _stem(self, version: str) -> str:
        if not version.replace(":", "").replace("-", "").isalnum():
            raise ValueError(f"not a lexicon version: {version!r}")
        return version.replace(":", "-")

    def _paths(self, version: str) -> tuple[Path, Path]:
        stem = self._stem(version)
        return self.root / f"{stem}.json.gz", self.root / f"{stem}.meta.json"

    def record(
        self,
        lex: Lexicon,
        dirs: Iterable[str | os.PathLike[str]] | None = None,
        pinyin_categories: Iterable[str] = (),
    ) -> bool:
        """Note that ``lex`` was loaded now: write its manifest if this version has none
        yet (True), else only mark the last load (False). Safe with several processes."""
        manifest_path, meta_path = self._paths(lex.version)
        if manifest_path.exists() and meta_path.exists():
            os.utime(meta_path)
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        manifest = manifest_of(lex, dirs, pinyin_categories)
        body = json.dumps(manifest.to_dict(), ensure_ascii=False, separators=(",", ":"))
        _atomic_write(manifest_path, gzip.compress(body.encode("utf-8"), mtime=0))
        meta = {
            "version": manifest.version,
            "created_at": manifest.created_at,
            "term_count": manifest.term_count,
            "sources": manifest.sources,
        }
        _atomic_write(meta_path, json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        return True

    def get(self, version: str) -> Manifest | None:
        """The manifest of ``version``, or None when this store never recorded it."""
        try:
            manifest_path, _ = self._paths(version)
        except ValueError:
            return None
        if not manifest_path.exists():
            return None
        return read_manifest(manifest_path)

    def versions(self) -> list[VersionInfo]:
        """Every recorded version, most recently loaded first."""
        found: list[tuple[float, VersionInfo]] = []
        for meta_path in self.root.glob("*.meta.json"):
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                mtime = meta_path.stat().st_mtime
            except (OSError, ValueError):
                continue
            found.append(
                (
                    mtime,  # not last_loaded: two loads within one second must keep their order
                    VersionInfo(
                        version=meta["version"],
                        first_loaded=meta["created_at"],
                        last_loaded=_iso(mtime),
                        term_count=int(meta["term_count"]),
                        sources=list(meta["sources"]),
                    ),
                )
            )
        found.sort(key=lambda f: (f[0], f[1].first_loaded), reverse=True)
        return [info for _, info in found]


@dataclass(slots=True)
class LexiconDiff:
    """What changed from ``old`` to ``new``: terms by (term, category), attribute changes,
    categories that gained or lost all their terms, allow-list phrases."""

    old: str
    new: str
    added: list[TermRow] = field(default_factory=list)
    removed: list[TermRow] = field(default_factory=list)
    changed: list[tuple[TermRow, TermRow]] = field(default_factory=list)  # (old, new)
    categories_added: list[str] = field(default_factory=list)
    categories_removed: list[str] = field(default_factory=list)
    allow_added: list[str] = field(default_factory=list)
    allow_removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.changed
            or self.categories_added
            or self.categories_removed
            or self.allow_added
            or self.allow_removed
        )

    def by_category(self) -> dict[str, tuple[int, int, int]]:
        """category -> (added, removed, changed) counts."""
        added = Counter(r.category for r in self.added)
        removed = Counter(r.category for r in self.removed)
        changed = Counter(n.category for _, n in self.changed)
        cats = sorted(set(added) | set(removed) | set(changed))
        return {c: (added[c], removed[c], changed[c]) for c in cats}

    def to_dict(self) -> dict:
        return {
            "old": self.old,
            "new": self.new,
            "added": [asdict(r) for r in self.added],
            "removed": [asdict(r) for r in self.removed],
            "changed": [{"old": asdict(o), "new": asdict(n)} for o, n in self.changed],
            "categories_added": self.categories_added,
            "categories_removed": self.categories_removed,
            "allow_added": self.allow_added,
            "allow_removed": self.allow_removed,
            "by_category": {
                c: {"added": a, "removed": r, "changed": ch}
                for c, (a, r, ch) in self.by_category().items()
            },
        }

    def to_text(self) -> str:
        lines = [
            f"lexicon diff {self.old} -> {self.new}",
            f"terms: +{len(self.added)} -{len(self.removed)} ~{len(self.changed)}; "
            f"allow-list: +{len(self.allow_added)} -{len(self.allow_removed)}",
        ]
        if self.categories_added or self.categories_removed:
            lines.append(
                "categories: "
                + " ".join([f"+{c}" for c in self.categories_added])
                + (" " if self.categories_added and self.categories_removed else "")
                + " ".join([f"-{c}" for c in self.categories_removed])
            )
        for cat, (a, r, ch) in self.by_category().items():
            lines.append(f"  {cat}: +{a} -{r} ~{ch}")
        lines += [f"+ {r.category}\t{r.term}" for r in self.added]
        lines += [f"- {r.category}\t{r.term}" for r in self.removed]
        for o, n in self.changed:
            what = ", ".join(
                f"{f}: {getattr(o, f) or 'default'} -> {getattr(n, f) or 'default'}"
                for f in ("action", "severity", "match")
                if getattr(o, f) != getattr(n, f)
            )
            lines.append(f"~ {n.category}\t{n.term}\t{what}")
        lines += [f"+ allow\t{p}" for p in self.allow_added]
        lines += [f"- allow\t{p}" for p in self.allow_removed]
        return "\n".join(lines) + "\n"


def diff(old: Manifest, new: Manifest) -> LexiconDiff:
    """The changes from ``old`` to ``new``."""
    before = {(r.term, r.category): r for r in old.terms}
    after = {(r.term, r.category): r for r in new.terms}
    out = LexiconDiff(old=old.version, new=new.version)
    out.added = sorted(r for k, r in after.items() if k not in before)
    out.removed = sorted(r for k, r in before.items() if k not in after)
    out.changed = sorted((before[k], r) for k, r in after.items() if k in before and before[k] != r)
    cats_old = {r.category for r in old.terms}
    cats_new = {r.category for r in new.terms}
    out.categories_added = sorted(cats_new - cats_old)
    out.categories_removed = sorted(cats_old - cats_new)
    allow_old, allow_new = set(old.allow), set(new.allow)
    out.allow_added = [p for p in new.allow if p not in allow_old]
    out.allow_removed = [p for p in old.allow if p not in allow_new]
    return out
