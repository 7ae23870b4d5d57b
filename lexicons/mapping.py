"""Mapping of the category names of imported lists to category ids of the taxonomy.

A mapping file is TOML with one table, ``[categories]``, of ``"source name" = "category id"``
entries; the value may also be ``"custom"`` or ``"drop"`` (terms of that source category are
not imported). See ``mappings/zh-default.toml`` (the default, used after a user's file).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LexiconFormatError
from .taxonomy import Taxonomy, load_taxonomy_file

__all__ = ["CUSTOM", "DEFAULT_MAPPING", "DROP", "CategoryMapping", "fold_name"]

CUSTOM = "custom"
DROP = "drop"
DEFAULT_MAPPING = Path(__file__).parent / "mappings" / "zh-default.toml"
_BUNDLED_TAXONOMY = Path(__file__).parent / "data" / "categories.toml"
# Decorations of category names in public lists: 政治类型, 色情词库, 涉枪涉爆违法信息关键词 ...
_SUFFIXES = (
    "违法信息关键词",
    "关键词",
    "敏感词库",
    "敏感词",
    "违法信息",
    "词库",
    "词汇",
    "词表",
    "类型",
    "类别",
    "类词",
    "相关",
    "words",
    "word",
    "list",
    "类",
    "词",
)
_NOISE = re.compile(r"[\s_\-.·:：/\\]+")


def fold_name(name: str) -> str:
    """A source category name folded for look-up: NFKC, case-folded, separators removed,
    common suffixes stripped (``政治类型`` -> ``政治``, ``Porn_Words`` -> ``porn``)."""
    folded = _NOISE.sub("", unicodedata.normalize("NFKC", name).casefold())
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if folded.endswith(suffix) and len(folded) > len(suffix):
                folded = folded[: -len(suffix)]
                changed = True
    return folded


@dataclass(frozen=True, slots=True)
class CategoryMapping:
    """Source category name -> category id (or ``custom`` / ``drop``)."""

    exact: dict[str, str]
    folded: dict[str, str]
    taxonomy: Taxonomy
    _memo: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, files: list[Path], taxonomy: Taxonomy | None = None) -> CategoryMapping:
        """Read mapping files, the first file's entries winning; values are checked against
        ``taxonomy`` (default: the bundled one). Raises ``LexiconFormatError``."""
        taxonomy = taxonomy or Taxonomy(load_taxonomy_file(_BUNDLED_TAXONOMY))
        exact: dict[str, str] = {}
        folded: dict[str, str] = {}
        for path in files:
            for name, value in _read(path, taxonomy).items():
                exact.setdefault(name, value)
                folded.setdefault(fold_name(name), value)
        return cls(exact, folded, taxonomy)

    @classmethod
    def default(cls, extra: Path | None = None) -> CategoryMapping:
        """The user's file ``extra`` (if any) over the bundled default mapping."""
        return cls.load([*([extra] if extra else []), DEFAULT_MAPPING])

    def resolve(self, name: str) -> str | None:
        """The category id for a source name; None when the name is unknown. A name that is
        already a category id of the taxonomy maps to itself."""
        try:
            return self._memo[name]
        except KeyError:
            pass
        hit = self._memo[name] = self._resolve(name)
        return hit

    def _resolve(self, name: str) -> str | None:
        hit = self.exact.get(name)
        if hit is not None:
            return hit
        if name in self.taxonomy:
            return name
        return self.folded.get(fold_name(name))


def _read(path: Path, taxonomy: Taxonomy) -> dict[str, str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LexiconFormatError(str(path), 0, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise LexiconFormatError(str(path), 0, "not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise LexiconFormatError(str(path), 0, f"invalid TOML: {exc}") from None
    table = data.get("categories")
    if not isinstance(table, dict) or set(data) - {"categories"}:
        raise LexiconFormatError(
            str(path), 0, 'expected one table [categories] of "source name" = "category id"'
        )
    lines = raw.decode("utf-8-sig").splitlines()
    out: dict[str, str] = {}
    for name, value in table.items():
        line = next((i for i, text in enumerate(lines, 1) if name in text), 0)
        if not isinstance(value, str):
            raise LexiconFormatError(str(path), line, f"value of {name!r} must be a string")
        if value not in (CUSTOM, DROP) and value not in taxonomy:
            raise LexiconFormatError(
                str(path), line, f"{name!r} maps to {value!r}, which is not a category id"
            )
        out[name] = value
    return out
