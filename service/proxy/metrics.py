"""Proxy metric families: added latency, time-to-first-token added, hold-back, blocks."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["ProxyMetrics"]

_FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)
_CHARS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256)


class ProxyMetrics:
    """Registered on the app's registry (a private one when none is given)."""

    def __init__(self, registry: Any = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.added = Histogram(
            "aigc_gateway_proxy_added_seconds",
            "Time the gateway added to a non-streaming call (total minus upstream).",
            buckets=_FAST,
            registry=r,
        )
        self.ttft_added = Histogram(
            "aigc_gateway_proxy_ttft_added_seconds",
            "Streams: from the first upstream byte to the first byte sent to the client.",
            buckets=_FAST,
            registry=r,
        )
        self.holdback = Histogram(
            "aigc_gateway_proxy_holdback_chars",
            "Streams: most characters held back at once while they could still start a match.",
            buckets=_CHARS,
            registry=r,
        )
        self.scan_input = Histogram(
            "aigc_gateway_proxy_input_scan_seconds",
            "Screening all texts of one request.",
            buckets=_FAST,
            registry=r,
        )
        self.scan_output = Histogram(
            "aigc_gateway_proxy_output_scan_seconds",
            "Screening one whole response.",
            buckets=_FAST,
            registry=r,
        )
        self.blocks = Counter(
            "aigc_gateway_proxy_blocks",
            "Proxied calls blocked, by direction and category.",
            ["direction", "category"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "aigc_gateway_proxy_upstream_errors",
            "Upstream failures relayed to clients, by HTTP status or code.",
            ["code"],
            registry=r,
        )

    def screened(self, direction: str, action: str, categories: dict[str, str]) -> None:
        if action != "block":
            return
        for category, cat_action in categories.items():
            if cat_action == "block":
                self.blocks.labels(direction=direction, category=category).inc()
