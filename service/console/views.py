"""The data each console page shows, assembled from the runtime, the records and the metrics."""

from __future__ import annotations

import logging
from typing import Any

from service.console import charts, metrics_view, queries
from service.console.highlight import Span, segments
from service.errors import EmptyText, PayloadTooLarge, ValidationFailed
from service.excerpt import excerpt_spans

log = logging.getLogger("aigc_gateway.console")


def tenant_for(runtime: Any, tenant_id: str | None) -> Any:
    registry = runtime.snapshot.tenants
    tenant = registry.get(tenant_id or registry.default.id)
    if tenant is None:
        raise ValidationFailed(f"Unknown tenant {tenant_id!r}.")
    return tenant


def category_label(taxonomy: Any, category_id: str) -> dict[str, str]:
    cat = taxonomy.get(category_id)
    return {
        "id": category_id,
        "zh": cat.name_zh if cat is not None else category_id,
        "en": cat.name_en if cat is not None else category_id,
    }


# --- overview ------------------------------------------------------------------------------


async def overview_view(app: Any, runtime: Any, window_name: str) -> dict[str, Any]:
    recorder = runtime.recorder
    win = queries.window(window_name)
    step = "%H:%M" if win.name == "hour" else "%H:00"
    labels = [b.strftime(step) for b in win.buckets]
    view: dict[str, Any] = {"window": win.name, "db_error": None}
    try:
        await recorder.flush()
        requests = await queries.counts_over_time(recorder, win, "network_log")
        blocks = await queries.counts_over_time(recorder, win, "incident", "block")
        by_category = await queries.blocks_by_category(recorder, win.start)
        complaints = await queries.complaint_counts(recorder)
        overdue = await recorder.overdue_complaints()
        actions = await queries.recent_actions(recorder)
    except Exception as exc:  # the records database is down: show what the process knows
        log.warning("console overview: records database unavailable: %s", exc)
        view["db_error"] = type(exc).__name__
        requests = blocks = [0] * len(labels)
        by_category, complaints, overdue, actions = [], {}, 0, []
    taxonomy = runtime.snapshot.lexicon.taxonomy
    view.update(
        requests=charts.bar_chart(labels, requests),
        blocks=charts.bar_chart(labels, blocks),
        by_category=[
            {"category": category_label(taxonomy, c), "direction": d, "count": n}
            for c, d, n in by_category
        ],
        backlog=complaints.get("open", 0) + complaints.get("assigned", 0),
        complaints=complaints,
        overdue=overdue,
        actions=actions,
        latency=metrics_view.from_app(app),
        records_ready=recorder.ready(),
        records_stats=recorder.stats(),
        chain=getattr(app.state, "console_chain", None),
        lexicon_version=runtime.snapshot.version,
        terms=runtime.snapshot.lexicon.term_count,
    )
    return view


# --- incidents -----------------------------------------------------------------------------

_TERM_INDEX: dict[str, dict[str, list[tuple[str, str, str]]]] = {}


def _term_index(lexicon: Any) -> dict[str, list[tuple[str, str, str]]]:
    """term -> [(category, action, severity)] of a lexicon version (a few versions kept)."""
    index = _TERM_INDEX.get(lexicon.version)
    if index is None:
        index = {}
        for term, category, action, severity in lexicon.iter_terms():
            index.setdefault(term, []).append((category, action, severity))
        if len(_TERM_INDEX) >= 4:
            _TERM_INDEX.clear()
        _TERM_INDEX[lexicon.version] = index
    return index


def incident_view(
    runtime: Any, rec: dict[str, Any], then: list[list[dict[str, Any]]] | None
) -> dict[str, Any]:
    """The incident, its excerpt cut into highlighted segments, and each of its terms as the
    lexicon version that screened it had it (``then``: from that version's manifest, None
    when none is stored) and as the current lexicon has it."""
    snapshot = runtime.snapshot
    tenant = snapshot.tenants.get(str(rec.get("tenant_id") or ""))
    lexicon = snapshot.lexicon_for(tenant) if tenant is not None else snapshot.lexicon
    offsets = [tuple(o) for o in rec.get("offsets") or [] if isinstance(o, list | tuple)]
    terms = [str(t) for t in rec.get("terms") or []]
    excerpt = str(rec.get("excerpt") or "")
    spans = [
        Span(a, b, rec.get("action"), terms[i] if i < len(terms) else "")
        for i, (a, b) in enumerate(excerpt_spans(excerpt, offsets))
    ]
    index = _term_index(lexicon)
    in_force = []
    for i, term in enumerate(terms):
        entries = index.get(term, [])
        in_force.append(
            {
                "term": term,
                "offset": offsets[i] if i < len(offsets) else None,
                "then": then[i] if then is not None else None,
                "entries": [
                    {"category": category_label(lexicon.taxonomy, c), "action": a, "severity": s}
                    for c, a, s in entries
                ],
            }
        )
    classifier = rec.get("classifier")
    return {
        "rec": rec,
        "segments": segments(excerpt, spans) if excerpt else [],
        "terms": in_force,
        "categories": [category_label(lexicon.taxonomy, c) for c in rec.get("categories") or []],
        "current_version": lexicon.version,
        "manifest_stored": then is not None,
        "classifier": classifier_view(classifier, lexicon.taxonomy),
    }


def classifier_view(verdict: Any, taxonomy: Any) -> dict[str, Any] | None:
    """A stored classifier verdict (``Verdict.to_dict()``) for the page: its known fields by
    name, risks with their category names, scores highest first, anything else as is."""
    if not isinstance(verdict, dict):
        return None
    known = ("action", "safety", "risks", "labels", "scores", "refusal", "direction", "backend",
             "model", "cached", "latency_ms", "error")
    scores = verdict.get("scores")
    risks = verdict.get("risks")
    labels = verdict.get("labels")
    return {
        "action": verdict.get("action"),
        "safety": verdict.get("safety"),
        "risks": [category_label(taxonomy, str(r)) for r in risks]
        if isinstance(risks, list) else [],
        "labels": [str(x) for x in labels] if isinstance(labels, list) else [],
        "scores": sorted(
            ((str(k), v) for k, v in scores.items() if isinstance(v, int | float)),
            key=lambda kv: -kv[1],
        ) if isinstance(scores, dict) else [],
        "refusal": verdict.get("refusal"),
        "direction": verdict.get("direction"),
        "backend": verdict.get("backend"),
        "model": verdict.get("model"),
        "cached": verdict.get("cached"),
        "latency_ms": verdict.get("latency_ms"),
        "error": verdict.get("error"),
        "other": {k: v for k, v in verdict.items() if k not in known},
    }


# --- lexicons ------------------------------------------------------------------------------


def lexicon_view(runtime: Any) -> dict[str, Any]:
    from lexicons import coverage_report

    snapshot = runtime.snapshot
    report = coverage_report(snapshot.lexicon)
    return {
        "sets": [
            {"sets": list(key), "version": lex.version, "terms": lex.term_count}
            for key, lex in snapshot.lexicons.items()
        ],
        "coverage": report,
        "version": snapshot.version,
        "loaded_at": snapshot.loaded_at,
    }


def try_view(runtime: Any, text: str, tenant_id: str, direction: str) -> dict[str, Any]:
    """``/moderate``'s answer for ``text`` and the text cut into highlighted segments."""
    from service.moderation import screen_for

    if direction not in ("input", "output"):
        raise ValidationFailed("direction must be 'input' or 'output'")
    if not text.strip():
        raise EmptyText("Type a text to screen.")
    limit = runtime.settings.limits.max_text_chars
    if len(text) > limit:
        raise PayloadTooLarge(f"The text has {len(text)} characters; the limit is {limit}.")
    tenant = tenant_for(runtime, tenant_id)
    result = screen_for(runtime, tenant, direction).moderate(text)
    taxonomy = runtime.snapshot.lexicon_for(tenant).taxonomy
    answer = result.to_dict(taxonomy)
    spans = [
        Span(mm.match.start, mm.match.end, mm.action, f"{mm.match.term} · {mm.match.category}")
        for mm in result.matches
    ]
    return {
        "answer": answer,
        "segments": segments(text, spans),
        "tenant": tenant.id,
        "categories": [category_label(taxonomy, c) for c in answer["categories"]],
    }


# --- labels --------------------------------------------------------------------------------


async def inspect_view(
    runtime: Any, data: bytes, filename: str | None, declared: str | None
) -> dict[str, Any]:
    """``POST /label/inspect``'s report (same keys for signature checks)."""
    from service import labeling
    from service.label_delivery import in_thread

    report = await in_thread(
        labeling.inspect, runtime.settings.labels, data, filename=filename, media_type=declared
    )
    return report.to_dict()
