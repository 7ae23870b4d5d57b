"""Figures for the overview from the Prometheus metrics (all workers, since they started)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# Time the gateway adds to a proxied call, and the scan + policy time of one /moderate text.
ADDED = "aigc_gateway_proxy_added_seconds"
SCAN = "aigc_gateway_scan_seconds"


@dataclass(frozen=True, slots=True)
class Latency:
    name: str
    count: int
    p50_ms: float | None
    p99_ms: float | None


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus ``histogram_quantile``: linear interpolation inside the bucket holding
    rank ``q * count``. ``buckets`` are cumulative ``(upper bound, count)``, ``+Inf`` last."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    buckets = sorted(buckets)
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):  # in the open last bucket: the highest finite bound
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def latencies(exposition: bytes | str) -> dict[str, Latency]:
    """p50/p99 (ms) of the added-latency and scan-time histograms, summed over labels."""
    text = exposition.decode() if isinstance(exposition, bytes) else exposition
    out: dict[str, Latency] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in (ADDED, SCAN):
            continue
        per_bound: dict[float, float] = {}
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                per_bound[bound] = per_bound.get(bound, 0.0) + sample.value
        buckets = sorted(per_bound.items())
        count = int(buckets[-1][1]) if buckets else 0

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 3)

        out[family.name] = Latency(
            family.name, count, ms(quantile(0.5, buckets)), ms(quantile(0.99, buckets))
        )
    return out


def from_app(app: Any) -> dict[str, Latency]:
    payload, _ = app.state.metrics.render()
    return latencies(payload)
