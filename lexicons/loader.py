"""Reading lexicon directories (DESIGN §3.2) into term entries, with a content-hash version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .detectors import DETECTORS
from .errors import LexiconFormatError
from .folds import FOLDS
from .normalize import NORMALIZER_VERSION, normalize_term, tables
from .taxonomy import ACTIONS, ID_RE, Taxonomy, custom_category, load_taxonomy_file

__all__ = [
    "BUNDLED_DIR",
    "LEXICON_TOML",
    "MAX_TERM_CHARS",
    "SourceData",
    "TermEntry",
    "compute_version",
    "read_sources",
]

BUNDLED_DIR = Path(__file__).parent / "data"
#: Optional matching options of a lexicon directory (folds, detectors).
LEXICON_TOML = "lexicon.toml"
#: Longest normalised term accepted; longer terms would make streams hold back too much text.
MAX_TERM_CHARS = 64
MATCH_MODES = ("substring", "word")
SEVERITIES = ("low", "medium", "high")
_DEFAULT_SEVERITY = {"block": "high", "mask": "medium", "flag": "low"}


@dataclass(frozen=True, slots=True)
class TermEntry:
    """One (term, category) pair with its attributes, as written in a lexicon file.

    ``action`` / ``match`` / ``severity`` are None when the file does not set them (the
    category's default action, substring matching except for pure Latin/digit terms, and a
    severity derived from the action).
    """

    term: str
    key: str
    category: str
    action: str | None
    match: str | None
    severity: str | None
    folds: frozenset[str] = frozenset()  # opt-in folds (lexicon.toml)
    own_gaps: int = 0  # bit j: noise between key characters j and j + 1 as written


@dataclass(frozen=True, slots=True)
class SourceData:
    taxonomy: Taxonomy
    entries: tuple[TermEntry, ...]
    allow: tuple[str, ...]  # normalised allow-list keys
    detectors: frozenset[str] = frozenset(DETECTORS)  # detectors turned on


@dataclass(frozen=True, slots=True)
class LexiconOptions:
    """A directory's ``lexicon.toml``: opt-in folds per category (``"*"``: every category of
    the directory) and, when given, the detectors to run."""

    folds: dict[str, frozenset[str]]
    detectors: frozenset[str] | None

    def folds_for(self, category: str) -> frozenset[str]:
        return self.folds.get("*", frozenset()) | self.folds.get(category, frozenset())


def read_options(directory: Path) -> LexiconOptions:
    """Parse ``directory/lexicon.toml`` (missing: no folds, detectors unchanged)::

    [folds]
    "*" = ["repeat"]                                   # every category of this directory
    "a1.other_prohibited.gambling" = ["pinyin", "initials", "mixed", "homophone", "split"]

    [detectors]
    enabled = ["mobile_phone", "resident_id", "bank_card", "email"]   # [] turns them off
    """
    path = directory / LEXICON_TOML
    if not path.is_file():
        return LexiconOptions({}, None)
    import tomllib  # here: loading a cached lexicon parses no TOML

    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LexiconFormatError(str(path), line, "not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise LexiconFormatError(str(path), 0, f"invalid TOML: {exc}") from None

    def where(key: str) -> int:
        for n, text in enumerate(raw.decode("utf-8").splitlines(), 1):
            if key in text:
                return n
        return 0

    unknown = set(data) - {"folds", "detectors"}
    if unknown:
        name = sorted(unknown)[0]
        raise LexiconFormatError(str(path), where(name), f"unknown section {name!r}")
    folds: dict[str, frozenset[str]] = {}
    for category, names in dict(data.get("folds", {})).items():
        if category != "*" and not ID_RE.match(category):
            raise LexiconFormatError(str(path), where(category), f"invalid category {category!r}")
        if not isinstance(names, list) or not all(n in FOLDS for n in names):
            raise LexiconFormatError(
                str(path),
                where(category),
                f"folds of {category!r} must be a list of: {', '.join(FOLDS)}",
            )
        folds[category] = frozenset(names)
    detectors = None
    section = data.get("detectors", {})
    if section:
        names = section.get("enabled") if isinstance(section, dict) else None
        if (
            set(section) - {"enabled"}
            or not isinstance(names, list)
            or not all(n in DETECTORS for n in names)
        ):
            raise LexiconFormatError(
                str(path),
                where("enabled"),
                f"detectors.enabled must list some of: {', '.join(DETECTORS)}",
            )
        detectors = frozenset(names)
    return LexiconOptions(folds, detectors)


def own_gaps(term: str) -> int:
    """Bit ``j`` set where ``term`` as written has noise between its key characters ``j`` and
    ``j + 1`` (``online casino``): the term's own gaps, not a writer's punctuation."""
    cls = tables().cls
    bits = kept = 0
    noise = False
    for ch in term:
        if cls[ord(ch)]:
            noise = kept > 0
            continue
        if noise:
            bits |= 1 << (kept - 1)
            noise = False
        kept += 1
    return bits


def _read_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LexiconFormatError(str(path), line, "not valid UTF-8") from None
    return text.split("\n")


def _is_comment_or_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _parse_term_line(path: Path, lineno: int, line: str) -> tuple[str, str, dict[str, str]]:
    term, *fields = line.rstrip("\r").split("\t")
    term = term.strip()
    if not term:
        raise LexiconFormatError(str(path), lineno, "empty term before the attributes")
    attrs: dict[str, str] = {}
    for field in fields:
        field = field.strip()
        if not field:
            continue
        key, sep, value = field.partition("=")
        key, value = key.strip(), value.strip()
        allowed = {"action": ACTIONS, "match": MATCH_MODES, "severity": SEVERITIES}
        if not sep or key not in allowed:
            raise LexiconFormatError(
                str(path),
                lineno,
                f"bad attribute {field!r} (expected action=, match= or severity=)",
            )
        if value not in allowed[key]:
            choices = ", ".join(allowed[key])
            raise LexiconFormatError(
                str(path), lineno, f"invalid {key} {value!r} (one of {choices})"
            )
        attrs[key] = value
    key = normalize_term(term)
    if not key:
        raise LexiconFormatError(
            str(path), lineno, f"term {term!r} has no letters, digits or ideographs"
        )
    if len(key) > MAX_TERM_CHARS:
        raise LexiconFormatError(str(path), lineno, f"term longer than {MAX_TERM_CHARS} characters")
    return term, key, attrs


def _category_for(stem: str, taxonomy: Taxonomy) -> tuple[str, Taxonomy]:
    if stem in taxonomy:
        return stem, taxonomy
    if ID_RE.match(stem):
        return stem, taxonomy.with_category(custom_category(stem, taxonomy.get("custom")))
    # e.g. a public list named "色情类.txt": keep its terms under `custom`
    return "custom", taxonomy


def compute_version(dirs: list[Path], extra: str = "") -> str:
    """Content hash of the lexicon files (not their paths): same files -> same version."""
    digest = hashlib.sha256(f"{NORMALIZER_VERSION}\0{extra}\0".encode())
    digest.update((BUNDLED_DIR / "categories.toml").read_bytes())
    for index, directory in enumerate(dirs or [BUNDLED_DIR]):
        if not directory.is_dir():
            raise LexiconFormatError(str(directory), 0, "not a directory")
        digest.update(f"\0dir{index}\0".encode())
        paths = sorted(directory.glob("*.txt"))
        for name in (LEXICON_TOML, "categories.toml"):
            if (directory / name).is_file():
                paths.insert(0, directory / name)
        for path in paths:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()[:16]


def read_sources(
    dirs: list[Path], extra_folds: dict[str, frozenset[str]] | None = None
) -> SourceData:
    """Read lexicon directories into term entries, allow-list keys and the taxonomy.

    No directory -> the bundled sample lexicon. The bundled ``categories.toml`` is always the
    base taxonomy; a directory's own ``categories.toml`` adds to or overrides it. Each
    directory's ``lexicon.toml`` sets the folds of its terms and may set the detectors (the last
    directory that sets them wins; default: all). ``extra_folds`` (category -> folds) adds folds
    to every directory (the service's ``pinyin_categories`` setting).
    """
    base_toml = BUNDLED_DIR / "categories.toml"
    taxonomy = Taxonomy(load_taxonomy_file(base_toml))
    use = dirs or [BUNDLED_DIR]
    entries: list[TermEntry] = []
    seen: set[tuple[str, str]] = set()
    allow: list[str] = []
    detectors = frozenset(DETECTORS)
    for directory in use:
        if not directory.is_dir():
            raise LexiconFormatError(str(directory), 0, "not a directory")
        options = read_options(directory)
        if options.detectors is not None:
            detectors = options.detectors
        toml = directory / "categories.toml"
        if toml.is_file() and directory != BUNDLED_DIR:
            taxonomy = taxonomy.merged({c.id: c for c in load_taxonomy_file(toml)})
        for path in sorted(directory.glob("*.txt")):
            lines = _read_lines(path)
            if path.name == "allow.txt":
                for lineno, line in enumerate(lines, 1):
                    if _is_comment_or_blank(line):
                        continue
                    _, key, _ = _parse_term_line(path, lineno, line)
                    allow.append(key)
                continue
            category, taxonomy = _category_for(path.stem, taxonomy)
            folds = options.folds_for(category) | (extra_folds or {}).get(category, frozenset())
            for lineno, line in enumerate(lines, 1):
                if _is_comment_or_blank(line):
                    continue
                term, key, attrs = _parse_term_line(path, lineno, line)
                if (key, category) in seen:
                    continue
                seen.add((key, category))
                entries.append(
                    TermEntry(
                        term=term,
                        key=key,
                        category=category,
                        action=attrs.get("action"),
                        match=attrs.get("match"),
                        severity=attrs.get("severity"),
                        folds=folds,
                        own_gaps=own_gaps(term),
                    )
                )
    return SourceData(taxonomy, tuple(entries), tuple(dict.fromkeys(allow)), detectors)


def default_severity(action: str) -> str:
    return _DEFAULT_SEVERITY[action]
