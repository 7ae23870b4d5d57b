"""Geometry of the small bar charts the templates draw as inline SVG (no JavaScript)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 600
HEIGHT = 160
_LEFT, _BOTTOM, _TOP = 40, 20, 8


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    value: int
    label: str


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]  # x-axis labels (a few, evenly spread)
    top: int  # value at the top gridline
    total: int
    left: int = _LEFT
    plot_top: int = _TOP
    base: int = HEIGHT - _BOTTOM


def nice_top(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^k at or above ``value`` (at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def bar_chart(labels: list[str], values: list[int], *, max_ticks: int = 6) -> BarChart:
    """One bar per bucket, scaled to a round top value."""
    n = max(1, len(values))
    top = nice_top(max(values, default=0))
    plot_w = WIDTH - _LEFT - 4
    plot_h = HEIGHT - _BOTTOM - _TOP
    slot = plot_w / n
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        bars.append(
            Bar(
                x=round(_LEFT + i * slot + slot * 0.1, 2),
                y=round(HEIGHT - _BOTTOM - h, 2),
                w=round(slot * 0.8, 2),
                h=round(h, 2),
                value=value,
                label=label,
            )
        )
    every = max(1, -(-n // max_ticks))
    ticks = [
        Tick(round(_LEFT + i * slot + slot / 2, 2), labels[i]) for i in range(0, len(labels), every)
    ]
    return BarChart(WIDTH, HEIGHT, bars, ticks, top, sum(values))
