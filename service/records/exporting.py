"""Exports for regulators and filings (IM Art. 14, 19; DS Art. 10): CSV, JSONL, daily summary."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from service.records.store import RecordFilter, Store

FORMATS = ("csv", "jsonl")
CSV_COLUMNS = (
    "seq",
    "kind",
    "time",
    "tenant_id",
    "user_id",
    "request_id",
    "route",
    "model",
    "status",
    "latency_ms",
    "decision",
    "direction",
    "action",
    "categories",
    "terms",
    "offsets",
    "lexicon_version",
    "stream_position",
    "excerpt",
    "content_id",
    "classifier",
    "media_type",
    "explicit",
    "implicit",
    "recipient",
    "agreement_version",
    "client_addr",
    "restricted",
    "rid",
    "hash",
)


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


async def export_lines(store: Store, flt: RecordFilter, fmt: str) -> AsyncIterator[str]:
    """Matching records as CSV (header first; record classes share one column set) or JSONL."""
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {', '.join(FORMATS)}")
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        yield buf.getvalue()
        async for rec in store.iter_records(flt):
            buf.seek(0)
            buf.truncate()
            writer.writerow({k: _cell(v) for k, v in rec.items()})
            yield buf.getvalue()
    else:
        async for rec in store.iter_records(flt):
            yield json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n"


async def summary(store: Store, flt: RecordFilter) -> dict[str, Any]:
    """Counts per UTC day: records by class, incidents by category and action, label
    deliveries (labeled / unlabeled), network logs by decision, sanction steps, complaints."""
    days: dict[str, dict[str, Any]] = {}
    for day, kind, cats, action, n in await store.summary_rows(flt):
        entry = days.setdefault(day, {"day": day, "records": {}, "incidents": {}, "actions": {}})
        entry["records"][kind] = entry["records"].get(kind, 0) + n
        if kind == "incident":
            for cat in (c for c in cats.split(",") if c):
                per = entry["incidents"].setdefault(cat, {})
                per[action] = per.get(action, 0) + n
        elif action:
            per = entry["actions"].setdefault(kind, {})
            per[action] = per.get(action, 0) + n
    return {"days": [days[d] for d in sorted(days)]}


def summary_markdown(report: dict[str, Any]) -> str:
    """The summary as a small Markdown table, one row per day, category and action."""
    lines = ["| day | class | category | action | count |", "|---|---|---|---|---|"]
    for entry in report["days"]:
        for cat, actions in sorted(entry["incidents"].items()):
            for action, n in sorted(actions.items()):
                lines.append(f"| {entry['day']} | incident | {cat} | {action} | {n} |")
        for kind, actions in sorted(entry["actions"].items()):
            for action, n in sorted(actions.items()):
                lines.append(f"| {entry['day']} | {kind} | | {action} | {n} |")
    return "\n".join(lines) + "\n"
