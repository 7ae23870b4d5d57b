"""Question banks for the TC260-003 §9 assessment: load, validate, import.

The bank format (one JSON object per line, UTF-8)::

    {"id": "r-a1-001", "risk": "a1.terrorism_extremism", "kind": "should_refuse", "prompt": "..."}
    {"id": "n-hist-01", "risk": "aspect.history", "kind": "should_answer", "prompt": "..."}

``kind`` is ``should_refuse`` (TC260-003 §8.3 a), 应拒答) or ``should_answer`` (§8.3 b), 非拒答).
``risk`` is a lowercase category id: for should-refuse items one of the 17 A.1/A.2 risks (or
any id of the taxonomy); for should-answer items the aspect it touches (``aspect.*`` below) or
the risk it borders on. Other keys are kept out of the way (ignored). Ids are unique across
all the banks of a run.

Operators' banks come as CSV/TSV (a header row) or XLSX (the first sheet, a header row), the
form filing packages use ("评估测试题集"). Columns are found by name, English or Chinese
(``id``/编号/序号, ``risk``/风险/类别, ``kind``/类型, ``prompt``/问题/题目/测试题); kinds may be
written 应拒答 / 非拒答. A file without an id column gets ``<file stem>-<row>``; one without a
kind or risk column takes ``default_kind`` / ``default_risk``.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "ASPECTS",
    "KINDS",
    "BankError",
    "BankFile",
    "Item",
    "SAMPLE_BANK",
    "dump_jsonl",
    "load_banks",
]

KINDS = ("should_refuse", "should_answer")
SAMPLE_BANK = Path(__file__).parent / "data" / "sample_bank.jsonl"

# TC260-003 §8.3 b): the 13 aspects a should-not-refuse bank covers.
ASPECTS: dict[str, str] = {
    "aspect.system": "我国制度",
    "aspect.belief": "信仰",
    "aspect.image": "形象",
    "aspect.culture": "文化",
    "aspect.customs": "习俗",
    "aspect.ethnicity": "民族",
    "aspect.geography": "地理",
    "aspect.history": "历史",
    "aspect.heroes": "英烈",
    "aspect.gender": "性别",
    "aspect.age": "年龄",
    "aspect.occupation": "职业",
    "aspect.health": "健康",
}

_RISK = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_KIND_WORDS = {
    "should_refuse": "should_refuse",
    "refuse": "should_refuse",
    "应拒答": "should_refuse",
    "拒答": "should_refuse",
    "should_answer": "should_answer",
    "answer": "should_answer",
    "should_not_refuse": "should_answer",
    "非拒答": "should_answer",
    "不应拒答": "should_answer",
    "应回答": "should_answer",
}
_COLUMNS = {
    "id": ("id", "编号", "序号", "题号"),
    "risk": ("risk", "风险", "风险类别", "类别", "category"),
    "kind": ("kind", "类型", "题型"),
    "prompt": ("prompt", "question", "问题", "题目", "测试题", "内容"),
}


class BankError(ValueError):
    """A bank file cannot be used; ``file`` and ``line`` say where."""

    def __init__(self, file: Path | str, line: int | None, reason: str) -> None:
        where = f"{file}:{line}" if line else str(file)
        super().__init__(f"{where}: {reason}")
        self.file = str(file)
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    risk: str
    kind: str
    prompt: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "risk": self.risk, "kind": self.kind, "prompt": self.prompt}


@dataclass(frozen=True, slots=True)
class BankFile:
    path: str
    sha256: str
    items: int


def _kind(value: Any, file: Path, line: int) -> str:
    if not isinstance(value, str):
        raise BankError(file, line, "'kind' must be should_refuse or should_answer")
    kind = _KIND_WORDS.get(unicodedata.normalize("NFKC", value).strip().lower())
    if kind is None:
        raise BankError(file, line, f"'kind' must be should_refuse or should_answer, not {value!r}")
    return kind


def _item(raw: dict[str, Any], file: Path, line: int, defaults: dict[str, str | None]) -> Item:
    values = {k: raw.get(k) for k in ("id", "risk", "kind", "prompt")}
    for key in ("risk", "kind"):
        if values[key] in (None, "") and defaults.get(key):
            values[key] = defaults[key]
    ident, risk, prompt = values["id"], values["risk"], values["prompt"]
    if isinstance(ident, int) and not isinstance(ident, bool):
        ident = str(ident)
    if not isinstance(ident, str) or not ident.strip():
        raise BankError(file, line, "'id' must be a non-empty string")
    if not isinstance(risk, str) or not _RISK.match(risk.strip()):
        raise BankError(file, line, "'risk' must be a lowercase id such as a1.terrorism_extremism")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BankError(file, line, "'prompt' must be a non-empty string")
    return Item(ident.strip(), risk.strip(), _kind(values["kind"], file, line), prompt)


def _jsonl(path: Path, defaults: dict[str, str | None]) -> Iterator[Item]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise BankError(path, number, f"not valid JSON ({exc})") from None
            if not isinstance(obj, dict):
                raise BankError(path, number, "each line must be a JSON object")
            yield _item(obj, path, number, defaults)


def _header_map(header: list[Any], path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        key = unicodedata.normalize("NFKC", str(name or "")).strip().lower()
        for field, aliases in _COLUMNS.items():
            if key in aliases and field not in found:
                found[field] = index
    if "prompt" not in found:
        raise BankError(path, 1, "no prompt column (prompt / question / 问题 / 题目 / 测试题)")
    return found


def _rows(path: Path, rows: Iterable[list[Any]], defaults: dict[str, str | None]) -> Iterator[Item]:
    iterator = iter(rows)
    try:
        header = next(iterator)
    except StopIteration:
        raise BankError(path, None, "the file is empty") from None
    columns = _header_map(list(header), path)
    for number, row in enumerate(iterator, 2):
        cells = list(row)
        if not any(str(c).strip() for c in cells if c is not None):
            continue
        raw: dict[str, Any] = {}
        for field, index in columns.items():
            value = cells[index] if index < len(cells) else None
            raw[field] = value.strip() if isinstance(value, str) else value
        if raw.get("id") in (None, ""):
            raw["id"] = f"{path.stem}-{number}"
        yield _item(raw, path, number, defaults)


def _csv(path: Path, defaults: dict[str, str | None]) -> Iterator[Item]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            yield from _rows(path, csv.reader(fh, delimiter=delimiter), defaults)
    except UnicodeDecodeError:
        raise BankError(path, None, "not UTF-8 text (save the sheet as CSV UTF-8)") from None


def _xlsx(path: Path, defaults: dict[str, str | None]) -> Iterator[Item]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a bad file
        raise BankError(
            path, None, f"not a readable XLSX workbook ({type(exc).__name__})"
        ) from None
    try:
        sheet = book.worksheets[0]
        yield from _rows(
            path, ([c for c in row] for row in sheet.iter_rows(values_only=True)), defaults
        )
    finally:
        book.close()


_READERS = {".jsonl": _jsonl, ".json": _jsonl, ".csv": _csv, ".tsv": _csv, ".xlsx": _xlsx}


def load_banks(
    paths: Iterable[Path],
    *,
    default_kind: str | None = None,
    default_risk: str | None = None,
) -> tuple[list[Item], list[BankFile]]:
    """Every item of the banks, in file order, and each file's SHA-256 and size.

    Raises ``BankError`` for an unreadable file, an invalid line or a duplicate id.
    """
    defaults = {"kind": default_kind, "risk": default_risk}
    items: list[Item] = []
    files: list[BankFile] = []
    seen: dict[str, str] = {}
    for path in paths:
        path = Path(path)
        reader = _READERS.get(path.suffix.lower())
        if reader is None:
            raise BankError(path, None, "unknown bank format (use .jsonl, .csv, .tsv or .xlsx)")
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise BankError(path, None, f"cannot read the file ({exc.strerror})") from None
        count = 0
        for item in reader(path, defaults):
            if item.id in seen:
                raise BankError(path, None, f"id {item.id!r} also appears in {seen[item.id]}")
            seen[item.id] = str(path)
            items.append(item)
            count += 1
        if count == 0:
            raise BankError(path, None, "the bank has no items")
        files.append(BankFile(str(path), digest, count))
    return items, files


def dump_jsonl(items: Iterable[Item], path: Path) -> int:
    """Write ``items`` in the bank format; returns how many."""
    n = 0
    with path.open("wb") as fh:
        for item in items:
            fh.write(orjson.dumps(item.to_dict()) + b"\n")
            n += 1
    return n
