"""Risk taxonomy: categories with stable ids (TC260-003 Appendix A, finer tags, custom)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import LexiconFormatError

__all__ = ["ACTIONS", "Category", "Taxonomy", "load_taxonomy_file"]

ACTIONS = ("block", "mask", "flag")
ID_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_FIELDS = ("id", "name_zh", "name_en", "source", "default_action", "parent")


@dataclass(frozen=True, slots=True)
class Category:
    """One category of the taxonomy."""

    id: str
    name_zh: str
    name_en: str
    source: str
    default_action: str
    parent: str | None


class Taxonomy:
    """An immutable mapping of category id -> :class:`Category`, iterable in file order."""

    __slots__ = ("_by_id",)

    def __init__(self, categories: Iterable[Category]) -> None:
        self._by_id: dict[str, Category] = {c.id: c for c in categories}

    def get(self, id: str) -> Category | None:
        """The category with this id, or None."""
        return self._by_id.get(id)

    def __getitem__(self, id: str) -> Category:
        return self._by_id[id]

    def __contains__(self, id: object) -> bool:
        return id in self._by_id

    def __iter__(self) -> Iterator[Category]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def risk_of(self, id: str) -> str | None:
        """The TC260-003 Appendix A risk (``aN.name``) a category rolls up to, if any."""
        seen: set[str] = set()
        cur: str | None = id
        while cur is not None and cur not in seen:
            if re.fullmatch(r"a[1-5]\.[a-z0-9_]+", cur):
                return cur
            seen.add(cur)
            cat = self._by_id.get(cur)
            cur = cat.parent if cat else None
        return None

    def merged(self, other: Mapping[str, Category] | Taxonomy) -> Taxonomy:
        """A new taxonomy with ``other``'s categories added or overriding these."""
        by_id = dict(self._by_id)
        items = other.values() if isinstance(other, Mapping) else other
        for cat in items:
            by_id[cat.id] = cat
        return Taxonomy(by_id.values())

    def with_category(self, category: Category) -> Taxonomy:
        """A new taxonomy with ``category`` added (or replacing the one with its id)."""
        return self.merged({category.id: category})


def _toml_line(message: str) -> int:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else 0


def load_taxonomy_file(path: Path) -> list[Category]:
    """Parse a ``categories.toml`` file; raise :class:`LexiconFormatError` when malformed."""
    import tomllib  # here: loading a cached lexicon parses no TOML

    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LexiconFormatError(str(path), line, "not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise LexiconFormatError(str(path), _toml_line(str(exc)), f"invalid TOML: {exc}") from None
    entries = data.get("category", [])
    if not isinstance(entries, list):
        raise LexiconFormatError(str(path), 0, "'category' must be an array of tables")
    lines = raw.decode("utf-8").splitlines()
    id_lines = [i + 1 for i, text in enumerate(lines) if re.match(r"\s*id\s*=", text)]
    out: list[Category] = []
    for n, entry in enumerate(entries):
        line = id_lines[n] if n < len(id_lines) else 0
        if not isinstance(entry, dict):
            raise LexiconFormatError(str(path), line, "category entry must be a table")
        unknown = set(entry) - set(_FIELDS)
        if unknown:
            raise LexiconFormatError(str(path), line, f"unknown field(s) {sorted(unknown)}")
        cid = entry.get("id")
        if not isinstance(cid, str) or not ID_RE.match(cid):
            raise LexiconFormatError(
                str(path), line, f"invalid category id {cid!r} (lowercase ASCII, dot-separated)"
            )
        action = entry.get("default_action", "flag")
        if action not in ACTIONS:
            raise LexiconFormatError(
                str(path), line, f"invalid default_action {action!r} (block, mask or flag)"
            )
        values = {k: entry.get(k, "") for k in ("name_zh", "name_en", "source", "parent")}
        for key, value in values.items():
            if not isinstance(value, str):
                raise LexiconFormatError(str(path), line, f"{key} must be a string")
        out.append(
            Category(
                id=cid,
                name_zh=values["name_zh"] or cid,
                name_en=values["name_en"] or cid,
                source=values["source"],
                default_action=action,
                parent=values["parent"] or None,
            )
        )
    return out


def custom_category(id: str, base: Category | None) -> Category:
    """A category for a lexicon file whose name is not in the taxonomy."""
    template = base or Category("custom", "自定义", "Custom", "deployment", "flag", None)
    return replace(template, id=id, name_zh=id, name_en=id, source="lexicon file", parent="custom")
