"""Readers of the public sensitive-word list formats, for ``aigc-gateway lexicon import``.

Formats (``--format``; ``auto`` recognises each file by its content):

- ``plain``: one term per line (konsheng/Sensitive-lexicon, fwwdn/sensitive-stop-words,
  houbb's dictionary files, this project's own lexicon files with TAB attributes). ``#``
  starts a comment line; a trailing ``,`` (fwwdn) is removed.
- ``csv``: CSV/TSV with a term column and an optional category column (a header names them:
  ``word``/``term``/``keyword``/``敏感词``/``SENSITIVEWORDS``… and ``category``/``type``/
  ``tag``/``分类``/``SENSITIVETYPE``…; without a header: term, category). ``action``,
  ``match`` and ``severity`` columns become term attributes.
- ``houbb``: houbb/sensitive-word dictionary files (one word per line) and tag files
  (``词 标签1,标签2``; the built-in tags 0–4 are 政治, 毒品, 色情, 赌博, 违法).
- ``toolgood``: ToolGood.Words keyword lists: one per line and/or ``|``-separated
  (``SetKeywords(s.Split('|'))``), often with a BOM.
- ``json``: an array of strings, an array of objects (``{"word": ..., "category": ...}``),
  ``{"words": [...]}`` (TrChat's SensitiveLexicon.json) or ``{"category": [words...]}``.

A file whose name is ``allow`` or ends in ``_allow``/``-allow`` (houbb's
``sensitive_word_allow.txt``) holds allow-list phrases. Every term keeps where it was read:
the file and line (for JSON, the element's path).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "FORMATS",
    "RawTerm",
    "Source",
    "UnreadableSource",
    "detect_format",
    "expand_sources",
    "read_source",
]

FORMATS = ("auto", "plain", "csv", "houbb", "toolgood", "json")
#: File name endings read when a directory is given as a source.
SUFFIXES = (".txt", ".csv", ".tsv", ".json")
ATTRIBUTES = {
    "action": ("block", "mask", "flag"),
    "match": ("substring", "word"),
    "severity": ("low", "medium", "high"),
}
#: houbb/sensitive-word's built-in tags (README "系统内置实现").
HOUBB_SYSTEM_TAGS = {"0": "政治", "1": "毒品", "2": "色情", "3": "赌博", "4": "违法"}
TERM_COLUMNS = (
    "term",
    "word",
    "words",
    "keyword",
    "keywords",
    "text",
    "sensitivewords",
    "sensitive_word",
    "sensitiveword",
    "敏感词",
    "关键词",
    "词",
    "词语",
    "词条",
)
CATEGORY_COLUMNS = (
    "category",
    "categories",
    "type",
    "tag",
    "tags",
    "class",
    "label",
    "sensitivetype",
    "分类",
    "类别",
    "类型",
    "标签",
)
# Separators inside a line of a plain list that join two terms meant to co-occur
# (konsheng: "出售炸药 电话", "高压气枪,气枪子弹", "高压气枪|电狗专卖", "出售手枪=货到付款").
_GROUP_SEPARATORS = re.compile(r"[ \u3000,，|=、]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_TAG_LINE = re.compile(r"^(\S+)[ \t]+([^\s,]+(?:,[^\s,]+)*)$")


class UnreadableSource(Exception):
    """A source cannot be read or decoded (the import exits with status 2)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, slots=True)
class RawTerm:
    """One term as read: text, its own category names (may be empty), where it was read,
    term attributes (``action=``…), and a problem that disqualifies it (or None)."""

    text: str
    categories: tuple[str, ...]
    where: str  # line number, or JSON path
    attrs: tuple[tuple[str, str], ...] = ()
    problem: tuple[str, str] | None = None  # (reason code, detail)


@dataclass(slots=True)
class Source:
    """One source file, read."""

    path: Path
    label: str  # how the report names it
    format: str
    encoding: str
    lines: int
    allow: bool  # an allow-list file
    terms: list[RawTerm] = field(default_factory=list)
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)  # houbb tag file: word -> tags
    notes: list[str] = field(default_factory=list)
    name_category: str = ""

    def __post_init__(self) -> None:
        #: the category a file name gives its terms (``色情类型.txt`` -> ``色情类型``)
        self.name_category = self.path.stem


def expand_sources(paths: list[Path]) -> list[tuple[Path, str]]:
    """Files to read, with the label each is reported under: files as given; directories
    recursively (hidden entries skipped), their ``.txt .csv .tsv .json`` files sorted."""
    out: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            out += [(p, (path.name / p.relative_to(path)).as_posix()) for p in found]
        else:
            out.append((path, path.as_posix()))
    return out


def _decode(path: Path, raw: bytes) -> tuple[str, str]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise UnreadableSource(str(path), "invalid UTF-16") from None
    if b"\x00" in raw[:65536]:
        raise UnreadableSource(str(path), "binary file (NUL bytes), not a word list")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:  # older Chinese lists are GBK/GB18030
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise UnreadableSource(str(path), "neither UTF-8 nor GB18030 text") from None


def _is_allow_file(path: Path) -> bool:
    stem = path.stem.lower()
    return stem == "allow" or stem.endswith(("_allow", "-allow"))


def read_source(path: Path, label: str | None = None, fmt: str = "auto") -> Source:
    """Read one file. Raises :class:`UnreadableSource`."""
    label = label or path.as_posix()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableSource(label, exc.strerror or str(exc)) from None
    text, encoding = _decode(Path(label), raw)
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    kind = detect_format(path, text, lines) if fmt == "auto" else fmt
    src = Source(path, label, kind, encoding, len(lines), _is_allow_file(path))
    if encoding != "utf-8":
        src.notes.append(f"decoded as {encoding}")
    reader = {
        "plain": _read_plain,
        "csv": _read_csv,
        "houbb": _read_houbb,
        "toolgood": _read_toolgood,
        "json": _read_json,
    }[kind]
    reader(src, text, lines)
    return src


# -- detection -------------------------------------------------------------------------------


def _content_lines(lines: list[str], limit: int = 5000) -> list[str]:
    out = []
    for line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append(line.rstrip("\r"))
            if len(out) >= limit:
                break
    return out


def _header_cells(line: str, delimiter: str) -> list[str]:
    return [c.strip().strip('"').casefold() for c in line.split(delimiter)]


def _looks_like_attributes(fields: list[str]) -> bool:
    return all(f.partition("=")[0].strip() in ATTRIBUTES for f in fields if f.strip())


def detect_format(path: Path, text: str, lines: list[str]) -> str:
    """Recognise a file's format from its content (and, for CSV/TSV, its name)."""
    head = text.lstrip()[:1]
    if head in "[{" and head:
        try:
            json.loads(text)
        except ValueError:
            pass
        else:
            return "json"
    if path.suffix.lower() in (".csv", ".tsv"):
        return "csv"
    sample = _content_lines(lines)
    if not sample:
        return "plain"
    first = sample[0]
    for delimiter in (",", "\t", ";", "|"):
        cells = _header_cells(first, delimiter)
        if len(cells) >= 2 and any(c in TERM_COLUMNS for c in cells):
            return "csv"
    tabbed = [line.split("\t") for line in sample if "\t" in line]
    if len(tabbed) >= 0.6 * len(sample):
        if all(_looks_like_attributes(fields[1:]) for fields in tabbed):
            return "plain"  # this project's own format: term<TAB>key=value
        return "csv"
    tags = [m.group(2) for line in sample if (m := _TAG_LINE.match(line.strip()))]
    if len(tags) >= 0.8 * len(sample):
        distinct = {t for group in tags for t in group.split(",")}
        if len(distinct) <= max(20, len(tags) // 10):
            return "houbb"
    pairs = [line.split(",")[1].strip() for line in sample if line.count(",") == 1]
    if len(pairs) >= 0.8 * len(sample) and all(pairs):
        if len(set(pairs)) <= max(20, len(pairs) // 10):
            return "csv"  # "term,category" without a header
    piped = sum(line.count("|") + 1 for line in sample if "|" in line)
    if piped and piped > sum(1 for line in sample if "|" not in line):
        return "toolgood"
    return "plain"


# -- readers ---------------------------------------------------------------------------------


def _parse_attrs(fields: list[str]) -> tuple[tuple[tuple[str, str], ...], tuple[str, str] | None]:
    attrs: list[tuple[str, str]] = []
    for f in fields:
        key, sep, value = f.strip().partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in ATTRIBUTES:
            continue  # not an attribute: an extra column, ignored
        if value not in ATTRIBUTES[key]:
            return (), (
                "invalid_attribute",
                f"{key}={value!r} (one of {', '.join(ATTRIBUTES[key])})",
            )
        attrs.append((key, value))
    return tuple(attrs), None


def _group_problem(term: str) -> tuple[str, str] | None:
    """A line holding several terms meant to co-occur: the lexicon format has no AND-groups,
    and joined they would only match the words written together. Single characters between
    separators (``色 情 网 站``) are a spaced spelling, not a group."""
    parts = [p for p in _GROUP_SEPARATORS.split(term) if p]
    if sum(len(p) >= 2 for p in parts) >= 2 and _CJK.search(term):
        return ("cooccurrence", "words meant to co-occur (" + " + ".join(parts) + ")")
    return None


def _plain_term(line: str) -> str | None:
    term = line.strip()
    if not term or term.startswith("#"):
        return None
    if term[-1] in ",，" and not _GROUP_SEPARATORS.search(term[:-1]):
        term = term[:-1].rstrip()  # fwwdn's "词," lists
    return term


def _read_plain(src: Source, text: str, lines: list[str]) -> None:
    for lineno, line in enumerate(lines, 1):
        head, *fields = line.rstrip("\r").split("\t")
        term = _plain_term(head)
        if term is None:
            continue
        attrs, problem = _parse_attrs(fields)
        problem = problem or _group_problem(term)
        src.terms.append(RawTerm(term, (), str(lineno), attrs, problem))


def _read_toolgood(src: Source, text: str, lines: list[str]) -> None:
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        for part in stripped.split("|"):
            term = part.strip()
            if term:
                src.terms.append(RawTerm(term, (), str(lineno), (), _group_problem(term)))


def _houbb_tags(value: str) -> tuple[str, ...]:
    return tuple(HOUBB_SYSTEM_TAGS.get(t, t) for t in (x.strip() for x in value.split(",")) if t)


def _read_houbb(src: Source, text: str, lines: list[str]) -> None:
    sample = _content_lines(lines)
    tag_lines = sum(1 for line in sample if _TAG_LINE.match(line.strip()))
    if not sample or tag_lines < 0.8 * len(sample):
        _read_plain(src, text, lines)  # a dictionary file: one word per line
        return
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _TAG_LINE.match(stripped)
        if m is None:
            src.terms.append(RawTerm(stripped, (), str(lineno), (), _group_problem(stripped)))
            continue
        word, tags = m.group(1), _houbb_tags(m.group(2))
        src.tags[word] = tuple(dict.fromkeys(src.tags.get(word, ()) + tags))
        src.terms.append(RawTerm(word, tags, str(lineno)))


def _split_categories(cell: str, delimiter: str) -> tuple[str, ...]:
    seps = "".join(c for c in ",;|、，" if c != delimiter)
    parts = re.split(f"[{re.escape(seps)}]", cell) if seps else [cell]
    return tuple(p.strip() for p in parts if p.strip())


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def _read_csv(src: Source, text: str, lines: list[str]) -> None:
    sample = "\n".join(_content_lines(lines, 200))
    if src.path.suffix.lower() == ".tsv" or ("\t" in sample and "," not in sample):
        delimiter = "\t"
    else:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
        except csv.Error:
            delimiter = ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    term_col, cat_col, attr_cols = 0, 1, {}
    first = True
    for row in rows:
        lineno = rows.line_num
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if first:
            first = False
            header = [c.casefold() for c in cells]
            found = _column(header, TERM_COLUMNS)
            if found is not None:
                term_col = found
                cat_col = _column(header, CATEGORY_COLUMNS)
                attr_cols = {k: header.index(k) for k in ATTRIBUTES if k in header}
                src.notes.append(
                    f"header: term column {cells[term_col]!r}"
                    + (f", category column {cells[cat_col]!r}" if cat_col is not None else "")
                )
                continue
            if len(cells) < 2:
                cat_col = None
        if term_col >= len(cells) or not cells[term_col]:
            continue
        term = cells[term_col]
        cats = ()
        if cat_col is not None and cat_col < len(cells):
            cats = _split_categories(cells[cat_col], delimiter)
        fields = [f"{k}={cells[i]}" for k, i in attr_cols.items() if i < len(cells) and cells[i]]
        attrs, problem = _parse_attrs(fields)
        src.terms.append(RawTerm(term, cats, str(lineno), attrs, problem or _group_problem(term)))


_TERM_KEYS = ("word", "term", "keyword", "text", "words", "敏感词", "词")
_CATEGORY_KEYS = ("category", "categories", "type", "tag", "tags", "class", "分类", "类别")


def _json_terms(src: Source, items: list, path: str, cats: tuple[str, ...]) -> None:
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if isinstance(item, str):
            term = item.strip()
            if term:
                src.terms.append(RawTerm(term, cats, where, (), _group_problem(term)))
        elif isinstance(item, dict):
            key = next((k for k in _TERM_KEYS if isinstance(item.get(k), str)), None)
            if key is None:
                src.notes.append(f"{where}: object without a word/term field, skipped")
                continue
            value = next((item[k] for k in _CATEGORY_KEYS if k in item), None)
            own = cats
            if isinstance(value, str) and value.strip():
                own = (value.strip(),)
            elif isinstance(value, list):
                own = tuple(str(v).strip() for v in value if str(v).strip()) or cats
            fields = [f"{k}={item[k]}" for k in ATTRIBUTES if isinstance(item.get(k), str)]
            attrs, problem = _parse_attrs(fields)
            term = item[key].strip()
            if term:
                src.terms.append(RawTerm(term, own, where, attrs, problem or _group_problem(term)))
        else:
            src.notes.append(f"{where}: neither a string nor an object, skipped")


def _read_json(src: Source, text: str, lines: list[str]) -> None:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UnreadableSource(src.label, f"invalid JSON: {exc}") from None
    if isinstance(data, list):
        _json_terms(src, data, "", ())
        return
    if not isinstance(data, dict):
        raise UnreadableSource(src.label, "JSON is neither an array nor an object")
    listed = [k for k in ("words", "terms", "keywords", "list") if isinstance(data.get(k), list)]
    if listed:
        _json_terms(src, data[listed[0]], listed[0], ())
        return
    groups = {k: v for k, v in data.items() if isinstance(v, list)}
    if not groups:
        raise UnreadableSource(src.label, "JSON object holds no list of words")
    for name, items in groups.items():
        _json_terms(src, items, name, (name,))
