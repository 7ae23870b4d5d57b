"""Reading lexicon directories (DESIGN §3.2) into term entries, with a content-hash version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .errors import LexiconFormatError
from .normalize import NORMALIZER_VERSION, normalize_term
from .taxonomy import ACTIONS, ID_RE, Taxonomy, custom_category, load_taxonomy_file

__all__ = [
    "BUNDLED_DIR",
    "MAX_TERM_CHARS",
    "SourceData",
    "TermEntry",
    "compute_version",
    "read_sources",
]

BUNDLED_DIR = Path(__file__).parent / "data"
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


@dataclass(frozen=True, slots=True)
class SourceData:
    taxonomy: Taxonomy
    entries: tuple[TermEntry, ...]
    allow: tuple[str, ...]  # normalised allow-list keys


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
        if (directory / "categories.toml").is_file():
            paths.insert(0, directory / "categories.toml")
        for path in paths:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()[:16]


def read_sources(dirs: list[Path]) -> SourceData:
    """Read lexicon directories into term entries, allow-list keys and the taxonomy.

    No directory -> the bundled sample lexicon. The bundled ``categories.toml`` is always the
    base taxonomy; a directory's own ``categories.toml`` adds to or overrides it.
    """
    base_toml = BUNDLED_DIR / "categories.toml"
    taxonomy = Taxonomy(load_taxonomy_file(base_toml))
    use = dirs or [BUNDLED_DIR]
    entries: list[TermEntry] = []
    seen: set[tuple[str, str]] = set()
    allow: list[str] = []
    for directory in use:
        if not directory.is_dir():
            raise LexiconFormatError(str(directory), 0, "not a directory")
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
                    )
                )
    return SourceData(taxonomy, tuple(entries), tuple(dict.fromkeys(allow)))


def default_severity(action: str) -> str:
    return _DEFAULT_SEVERITY[action]
