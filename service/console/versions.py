"""Lexicon versions for the console, from the manifests the runtime records (``lexicons.history``).

Every lexicon version the service loads gets a manifest (``service.runtime.manifest_store``):
its terms, categories and allow-list. The Lexicons page lists the versions and diffs two of
them, a version's page lists its terms, and an incident shows what the version that screened
it said about each of its terms. A manifest never changes once written, so the last few read
are kept parsed; reading one (a gzipped JSON file, about 1 MB per 100,000 terms) happens off
the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections import OrderedDict
from typing import Any

from lexicons.history import Manifest, ManifestStore, TermRow, diff

KEPT = 4  # parsed manifests kept in memory
ROWS = 500  # rows of a term list shown at once (a filter narrows it)

_lock = threading.Lock()
_manifests: OrderedDict[tuple[str, str], tuple[Manifest, dict[str, list[TermRow]]]] = OrderedDict()


class ManifestUnreadable(Exception):
    """A stored manifest that cannot be read (damaged, or of an unknown format)."""

    def __init__(self, version: str, exc: BaseException) -> None:
        super().__init__(f"the manifest of {version} cannot be read: {type(exc).__name__}")


def _store(runtime: Any) -> ManifestStore:
    from service.runtime import manifest_store

    return manifest_store(runtime.settings)


def _load(store: ManifestStore, version: str) -> tuple[Manifest, dict[str, list[TermRow]]] | None:
    """The manifest of ``version`` and its term index (term -> rows), or None when not stored."""
    key = (str(store.root), version)
    with _lock:
        found = _manifests.get(key)
        if found is not None:
            _manifests.move_to_end(key)
            return found
    try:
        manifest = store.get(version)
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError) as exc:
        # damaged (a bad or truncated gzip, broken JSON) or of a format this code does not know
        raise ManifestUnreadable(version, exc) from exc
    if manifest is None:
        return None
    index: dict[str, list[TermRow]] = {}
    for row in manifest.terms:
        index.setdefault(row.term, []).append(row)
    with _lock:
        _manifests[key] = (manifest, index)
        while len(_manifests) > KEPT:
            _manifests.popitem(last=False)
    return manifest, index


async def _manifest(runtime: Any, version: str) -> tuple[Manifest, dict[str, list[TermRow]]] | None:
    return await asyncio.to_thread(_load, _store(runtime), version)


def _in_force(runtime: Any) -> set[str]:
    return {lex.version for lex in runtime.snapshot.lexicons.values()}


def _category(manifest: Manifest | None, taxonomy: Any, category_id: str) -> dict[str, str]:
    """Names of a category as that version had them (else as the current taxonomy has them)."""
    names = manifest.categories.get(category_id) if manifest is not None else None
    if names:
        return {"id": category_id, "zh": names["name_zh"], "en": names["name_en"]}
    cat = taxonomy.get(category_id)
    return {
        "id": category_id,
        "zh": cat.name_zh if cat is not None else category_id,
        "en": cat.name_en if cat is not None else category_id,
    }


def _row(manifest: Manifest | None, taxonomy: Any, row: TermRow) -> dict[str, Any]:
    return {
        "term": row.term,
        "category": _category(manifest, taxonomy, row.category),
        "action": row.action,
        "severity": row.severity,
        "match": row.match,
    }


# --- the Lexicons page ---------------------------------------------------------------------


async def versions_view(runtime: Any) -> dict[str, Any]:
    """Every recorded version, most recently loaded first, and the pair to compare by default
    (the version before the one in force, and the one in force)."""
    versions = await asyncio.to_thread(_store(runtime).versions)
    current = runtime.snapshot.version
    in_force = _in_force(runtime)
    rows = [{**v.to_dict(), "in_force": v.version in in_force} for v in versions]
    older = [v.version for v in versions if v.version != current]
    return {
        "versions": rows,
        "compare_old": older[0] if older else current,
        "compare_new": current,
    }


async def diff_view(runtime: Any, old: str, new: str) -> dict[str, Any]:
    """What changed from ``old`` to ``new``: counts, categories, term rows (at most ``ROWS``
    of each kind), allow-list phrases. ``missing`` names a version without a manifest."""
    before = await _manifest(runtime, old)
    after = await _manifest(runtime, new)
    view: dict[str, Any] = {"old": old, "new": new, "missing": [], "diff": None, "rows": ROWS}
    if before is None:
        view["missing"].append(old)
    if after is None:
        view["missing"].append(new)
    if before is None or after is None:
        return view
    d = diff(before[0], after[0])
    taxonomy = runtime.snapshot.lexicon.taxonomy
    # A removed term is named as the old version had it, an added one as the new one has it.
    old_m, new_m = before[0], after[0]
    view["diff"] = {
        "empty": d.empty,
        "counts": {
            "added": len(d.added),
            "removed": len(d.removed),
            "changed": len(d.changed),
            "allow_added": len(d.allow_added),
            "allow_removed": len(d.allow_removed),
        },
        "by_category": [
            {"category": _category(new_m, taxonomy, c) if c in new_m.categories
             else _category(old_m, taxonomy, c), "added": a, "removed": r, "changed": ch}
            for c, (a, r, ch) in d.by_category().items()
        ],
        "categories_added": [_category(new_m, taxonomy, c) for c in d.categories_added],
        "categories_removed": [_category(old_m, taxonomy, c) for c in d.categories_removed],
        "added": [_row(new_m, taxonomy, r) for r in d.added[:ROWS]],
        "removed": [_row(old_m, taxonomy, r) for r in d.removed[:ROWS]],
        "changed": [
            {"old": _row(old_m, taxonomy, o), "new": _row(new_m, taxonomy, n)}
            for o, n in d.changed[:ROWS]
        ],
        "allow_added": d.allow_added[:ROWS],
        "allow_removed": d.allow_removed[:ROWS],
    }
    return view


async def version_view(
    runtime: Any, version: str, text: str = "", category: str = ""
) -> dict[str, Any] | None:
    """One version's manifest: facts, terms per category, the terms (filtered by a text in
    the term and a category or its children; at most ``ROWS``), the allow-list."""
    found = await _manifest(runtime, version)
    if found is None:
        return None
    manifest = found[0]
    taxonomy = runtime.snapshot.lexicon.taxonomy
    counts: dict[str, int] = {}
    for row in manifest.terms:
        counts[row.category] = counts.get(row.category, 0) + 1
    text = text.strip()
    category = category.strip()
    matching = [
        r
        for r in manifest.terms
        if (not text or text in r.term)
        and (not category or r.category == category or r.category.startswith(category + "."))
    ]
    info = next((v for v in await asyncio.to_thread(_store(runtime).versions)
                 if v.version == version), None)
    return {
        "manifest": manifest,
        "last_loaded": info.last_loaded if info is not None else None,
        "in_force": version in _in_force(runtime),
        "current": runtime.snapshot.version,
        "by_category": [
            {"category": _category(manifest, taxonomy, c), "terms": n}
            for c, n in sorted(counts.items())
        ],
        "terms": [_row(manifest, taxonomy, r) for r in matching[:ROWS]],
        "matching": len(matching),
        "rows": ROWS,
        "allow": manifest.allow[:ROWS],
        "filter": {"q": text, "category": category},
    }


# --- incidents -----------------------------------------------------------------------------


async def terms_then(runtime: Any, version: str, terms: list[str]) -> list[list[dict]] | None:
    """For each term, what the lexicon ``version`` said about it (its rows: category, action,
    severity, match), or None when that version has no manifest here."""
    if not version:
        return None
    try:
        found = await _manifest(runtime, version)
    except ManifestUnreadable:
        return None
    if found is None:
        return None
    manifest, index = found
    taxonomy = runtime.snapshot.lexicon.taxonomy
    return [[_row(manifest, taxonomy, r) for r in index.get(term, [])] for term in terms]
