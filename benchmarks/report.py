"""Render load-test results: terminal table, JSON, Markdown report with PNG charts.

``results`` are ``benchmarks.loadgen.RunResult`` objects (one per load level); ``wrk`` the
dicts of ``benchmarks.loadgen.run_wrk`` for the same levels, possibly empty.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from benchmarks.loadgen import RunResult

__all__ = ["format_table", "markdown_section", "to_json", "write_report"]


_UNSENT = "scheduled requests not sent before the time bound (target or generator saturated)"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "-"


def _rows(results: Sequence[RunResult]) -> tuple[list[str], list[list[str]]]:
    stream = any(r.stream for r in results)
    head = [
        "level",
        "requests",
        "ok",
        "errors",
        "blocks",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
    ]
    if stream:
        head += ["TTFT p50", "TTFT p99", "chunk gap p50", "chunk gap p99"]
    head += ["labeled"]
    rows = []
    for r in results:
        lat = r.latency
        row = [
            r.level,
            f"{r.completed:,}",
            f"{r.ok:,}",
            f"{sum(r.errors.values()):,}",
            f"{sum(r.blocks.values()):,}",
            f"{r.rps:,.0f}",
            _ms(lat["p50"]),
            _ms(lat["p90"]),
            _ms(lat["p99"]),
            _ms(lat["max"]),
        ]
        if stream:
            d = r.to_dict()
            row += [
                _ms(d["ttft_ms"]["p50"]),
                _ms(d["ttft_ms"]["p99"]),
                _ms(d["inter_chunk_ms"]["p50"]),
                _ms(d["inter_chunk_ms"]["p99"]),
            ]
        row.append(f"{r.labeled:,}")
        rows.append(row)
    return head, rows


def _wrk_rows(results: Sequence[RunResult], wrk: Sequence[dict[str, Any]]):
    head = [
        "level",
        "loadgen req/s",
        "wrk req/s",
        "loadgen/wrk",
        "loadgen p50",
        "wrk p50",
        "loadgen p99",
        "wrk p99",
        "wrk non-2xx",
    ]
    rows = []
    for r, w in zip(results, wrk, strict=False):
        lat = r.latency
        ratio = r.rps / w["rps"] if w.get("rps") else 0.0
        rows.append(
            [
                r.level,
                f"{r.rps:,.0f}",
                f"{w['rps']:,.0f}",
                f"{ratio:.2f}",
                _ms(lat["p50"]),
                _ms(w.get("p50")),
                _ms(lat["p99"]),
                _ms(w.get("p99")),
                f"{w.get('non_2xx', 0):,}",
            ]
        )
    return head, rows


def _wrk_name(wrk: Sequence[dict[str, Any]]) -> str:
    version = wrk[0].get("version") if wrk else None
    return f"{version} " if version else ""


def _text_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def format_table(results: Sequence[RunResult], wrk: Sequence[dict[str, Any]] = ()) -> str:
    """The terminal table: one row per level, then blocks/errors by code and wrk side by side."""
    if not results:
        return "no results"
    first = results[0]
    out = [f"{first.api} {'stream' if first.stream else 'non-stream'}  {first.url}", ""]
    out.append(_text_table(*_rows(results)))
    for r in results:
        if r.errors or r.blocks:
            out.append(f"  {r.level}: errors: {_counts(r.errors)}; blocks: {_counts(r.blocks)}")
        if r.unsent:
            out.append(f"  {r.level}: {r.unsent:,} {_UNSENT}")
    if wrk:
        out += [
            "",
            "same target with wrk (1 thread, same bodies):",
            _text_table(*_wrk_rows(results, wrk)),
        ]
    return "\n".join(out)


def to_json(
    results: Sequence[RunResult],
    wrk: Sequence[dict[str, Any]] = (),
    meta: dict[str, Any] | None = None,
) -> str:
    """JSON document: ``{"meta", "runs": [...], "wrk": [...]}``."""
    doc = {"meta": meta or {}, "runs": [r.to_dict() for r in results], "wrk": list(wrk)}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


def markdown_section(
    results: Sequence[RunResult],
    wrk: Sequence[dict[str, Any]] = (),
    meta: dict[str, Any] | None = None,
) -> str:
    """Markdown tables (used in report.md and in RESULTS.md)."""
    if not results:
        return "No results.\n"
    first = results[0]
    mode = "streaming" if first.stream else "non-streaming"
    out = [f"{first.api} API, {mode}, target {(meta or {}).get('target', first.url)}.", ""]
    out.append(_md_table(*_rows(results)))
    codes = [
        f"- {r.level}: errors {_counts(r.errors)}; blocks {_counts(r.blocks)}"
        for r in results
        if r.errors or r.blocks
    ]
    if codes:
        out += ["", "Errors and blocks by code:", "", *codes]
    unsent = [f"- {r.level}: {r.unsent:,} {_UNSENT}" for r in results if r.unsent]
    if unsent:
        out += ["", *unsent]
    if wrk:
        out += [
            "",
            f"The same target, bodies and connection counts with wrk {_wrk_name(wrk)}(1 thread):",
            "",
            _md_table(*_wrk_rows(results, wrk)),
        ]
    return "\n".join(out) + "\n"


def _charts(directory: Path, results: Sequence[RunResult]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    paths = []
    samples = [np.sort(np.asarray(r.latencies) * 1000.0) for r in results]
    low = min((float(x[0]) for x in samples if len(x)), default=0.01)
    high = max((float(x[-1]) for x in samples if len(x)), default=1.0)
    bins = np.geomspace(max(low, 1e-3), max(high, low * 1.01, 1e-3 * 1.01), 60)
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4))
    for r, ms in zip(results, samples, strict=True):
        if not len(ms):
            continue
        hist.hist(ms, bins=bins, histtype="step", label=r.level)
        (line,) = cdf.plot(ms, np.arange(1, len(ms) + 1) / len(ms), label=f"{r.level} latency")
        if r.ttfts:
            t = np.sort(np.asarray(r.ttfts) * 1000.0)
            cdf.plot(
                t,
                np.arange(1, len(t) + 1) / len(t),
                linestyle="--",
                color=line.get_color(),
                label=f"{r.level} TTFT",
            )
    hist.set(
        title="Latency distribution",
        xlabel="latency (ms, log scale)",
        ylabel="requests",
        xscale="log",
    )
    cdf.set(
        title="Latency CDF", xlabel="ms (log scale)", ylabel="fraction of requests", xscale="log"
    )
    cdf.grid(True, which="both", alpha=0.3)
    for ax in (hist, cdf):
        ax.legend(fontsize="small")
    fig.tight_layout()
    paths.append(directory / "latency.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    if len(results) > 1:
        closed = all(r.rate is None for r in results)
        xs = [r.concurrency if closed else r.rate for r in results]
        fig, ax = plt.subplots(figsize=(7, 4))
        handles = ax.plot(xs, [r.rps for r in results], marker="o", label="requests/s")
        ax.set(
            xlabel="concurrency" if closed else "offered rate (req/s)",
            ylabel="requests/s",
            title="Throughput vs " + ("concurrency" if closed else "offered rate"),
        )
        ax.set_ylim(bottom=0)
        if closed:
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [str(x) for x in xs])
        lat = ax.twinx()
        handles += lat.plot(
            xs, [r.latency["p50"] for r in results], "g--", marker="s", label="p50 latency (ms)"
        )
        handles += lat.plot(
            xs, [r.latency["p99"] for r in results], "r--", marker="^", label="p99 latency (ms)"
        )
        lat.set_ylabel("latency (ms)")
        lat.set_ylim(bottom=0)
        ax.legend(handles=handles, loc="upper left", fontsize="small")
        fig.tight_layout()
        paths.append(directory / "throughput.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def write_report(
    directory: str | os.PathLike[str],
    results: Sequence[RunResult],
    wrk: Sequence[dict[str, Any]] = (),
    meta: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``report.md``, ``report.json`` and PNG charts into ``directory``; return the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    charts = _charts(out, results)
    meta = meta or {}
    lines = ["# Load test report", ""]
    if meta.get("command"):
        lines += ["Command:", "", f"    {meta['command']}", ""]
    lines += [markdown_section(results, wrk, meta), ""]
    lines += [f"![{p.stem}]({p.name})" for p in charts]
    lines += [
        "",
        "Latency counts from the scheduled send time (open loop) or the send time "
        "(closed loop) to the last byte; TTFT to the first network read carrying text; "
        "chunk gap between successive reads carrying text.",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    (out / "report.json").write_text(to_json(results, wrk, meta), encoding="utf-8")
    return [out / "report.md", out / "report.json", *charts]
