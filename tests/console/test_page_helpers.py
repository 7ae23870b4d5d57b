"""Highlighting, the incident excerpt format, chart geometry, latency quantiles, translations."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from service.console.charts import bar_chart, nice_top
from service.console.highlight import Span, segments
from service.console.messages_zh import ZH
from service.console.metrics_view import latencies, quantile
from service.excerpt import CONTEXT, MAX_CHARS, excerpt_spans, incident_excerpt

TEMPLATES = Path(__file__).parents[2] / "service" / "console" / "templates"


@st.composite
def text_and_spans(draw):
    text = draw(st.text(alphabet="ab冰毒 <>&\"'*", max_size=60))
    n = len(text)
    spans = []
    for _ in range(draw(st.integers(0, 5))):
        a = draw(st.integers(0, n))
        b = draw(st.integers(a, n))
        spans.append(Span(a, b, draw(st.sampled_from(["flag", "mask", "block", None])), "t"))
    return text, spans


# deadline off and no speed health check: the shared CI machine is busy (no wall-clock bounds)
BUSY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@BUSY
@given(text_and_spans())
def test_segments_cover_the_text_and_mark_every_span(case) -> None:
    text, spans = case
    segs = segments(text, spans)
    assert "".join(s.text for s in segs) == text
    rank = {None: 0, "flag": 1, "mask": 2, "block": 3}
    pos = 0
    for seg in segs:
        covering = [s for s in spans if s.start <= pos and pos + len(seg.text) <= s.end and s.start < s.end]
        assert seg.marked == bool(covering)
        if covering:
            assert rank[seg.action] == max(rank[s.action] for s in covering)
        pos += len(seg.text)


@st.composite
def masked_and_offsets(draw):
    text = draw(st.text(alphabet="xy冰毒。", min_size=1, max_size=900))
    offsets = []
    for _ in range(draw(st.integers(1, 4))):
        a = draw(st.integers(0, len(text) - 1))
        b = draw(st.integers(a + 1, min(len(text), a + 6)))
        offsets.append((a, b))
    return text, sorted(offsets)


@BUSY
@given(masked_and_offsets())
def test_excerpt_spans_point_at_the_same_text(case) -> None:
    text, offsets = case
    excerpt = incident_excerpt(text, offsets)
    assert len(excerpt) <= MAX_CHARS
    start = max(0, offsets[0][0] - CONTEXT)
    assert text[start:].startswith(excerpt)
    spans = excerpt_spans(excerpt, offsets)
    for a, b in spans:
        assert excerpt[a:b] == text[start + a : start + b]
    # every offset wholly inside the window is found, whole
    inside = [(a - start, b - start) for a, b in offsets if b - start <= len(excerpt)]
    assert set(inside) <= set(spans)


def test_excerpt_of_nothing() -> None:
    assert incident_excerpt("abc", []) == ""
    assert excerpt_spans("", [(0, 1)]) == []


def test_chart_geometry() -> None:
    assert [nice_top(v) for v in (0, 1, 3, 7, 10, 11, 250, 999)] == [1, 1, 5, 10, 10, 20, 500, 1000]
    chart = bar_chart(["a", "b", "c", "d"], [0, 5, 10, 20])
    assert chart.top == 20 and chart.total == 35
    heights = [b.h for b in chart.bars]
    assert heights[0] == 0 and heights[3] == chart.base - chart.plot_top
    assert abs(heights[2] * 2 - heights[3]) < 0.02
    assert all(b.x + b.w <= chart.width for b in chart.bars)


def test_quantiles_from_a_real_histogram() -> None:
    """The figures the overview shows, from prometheus_client's own exposition text."""
    registry = CollectorRegistry()
    hist = Histogram("aigc_gateway_scan_seconds", "x", ["direction"], registry=registry,
                     buckets=(0.001, 0.002, 0.005, 0.01))
    for _ in range(90):
        hist.labels(direction="input").observe(0.0015)
    for _ in range(10):
        hist.labels(direction="output").observe(0.008)
    figures = latencies(generate_latest(registry))["aigc_gateway_scan_seconds"]
    assert figures.count == 100
    # rank 50 of 90 in (1 ms, 2 ms]: 1 + 50/90 ms; rank 99 in (5, 10]: 5 + 5 * 9/10 ms
    assert abs(figures.p50_ms - (1 + 50 / 90)) < 0.001
    assert abs(figures.p99_ms - 9.5) < 0.001
    assert quantile(0.5, []) is None
    assert quantile(0.99, [(0.001, 0.0), (float("inf"), 4.0)]) == 0.001


def test_every_template_string_has_chinese() -> None:
    keys = set()
    for path in TEMPLATES.glob("*.html"):
        keys |= set(re.findall(r'_\("([^"]+)"\)', path.read_text()))
        keys |= set(re.findall(r"_\('([^']+)'\)", path.read_text()))
    missing = sorted(k for k in keys if k not in ZH)
    assert not missing, missing
    assert len(keys) > 150
