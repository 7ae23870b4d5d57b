"""Prometheus metrics: requests, decisions by category and action, scan latency, lexicon version.

Multiprocess-safe: when ``PROMETHEUS_MULTIPROC_DIR`` is set before ``prometheus_client`` is
imported (``aigc-gateway serve --workers N`` does this), every worker writes its values to
files there and ``/metrics`` aggregates all workers. Each app gets its own registry, so several
apps in one process (tests) do not clash.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_SCAN_BUCKETS = (0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25)
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_MAX_CHILDREN = 4096  # memoised labelled children (see Metrics._child)


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    """The service's metric families, registered on a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple, Any] = {}
        r = self.registry
        self.requests = Counter(
            "aigc_gateway_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "aigc_gateway_request_seconds",
            "HTTP request latency (until the last body byte is sent).",
            ["route"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "aigc_gateway_decisions",
            "Moderation decisions: one per flagged category per text, by effective action.",
            ["direction", "category", "action"],
            registry=r,
        )
        self.texts = Counter(
            "aigc_gateway_texts_screened",
            "Texts screened, by direction and overall action.",
            ["direction", "action"],
            registry=r,
        )
        self.scan_seconds = Histogram(
            "aigc_gateway_scan_seconds",
            "Lexicon scan + policy decision time per text.",
            ["direction"],
            buckets=_SCAN_BUCKETS,
            registry=r,
        )
        self.lexicon = Gauge(
            "aigc_gateway_lexicon_info",
            "1 for the lexicon version a worker serves (0 after it is replaced).",
            ["version"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.lexicon_terms = Gauge(
            "aigc_gateway_lexicon_terms",
            "Terms in the default lexicon.",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.reloads = Counter(
            "aigc_gateway_reloads",
            "Lexicon and policy reloads, by outcome.",
            ["outcome"],
            registry=r,
        )
        self._version: str | None = None

    def set_lexicon(self, version: str, terms: int) -> None:
        if self._version and self._version != version:
            self.lexicon.labels(version=self._version).set(0)
        self.lexicon.labels(version=version).set(1)
        self.lexicon_terms.set(terms)
        self._version = version

    def _child(self, key: tuple, make: Any) -> Any:
        """The labelled child(ren) for ``key``, memoised (``labels()`` costs microseconds per
        call); label sets beyond ``_MAX_CHILDREN`` are not memoised."""
        child = self._children.get(key)
        if child is None:
            child = make()
            if len(self._children) < _MAX_CHILDREN:
                self._children[key] = child
        return child

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        count, latency = self._child(
            ("request", route, method, status),
            lambda: (
                self.requests.labels(route=route, method=method, status=str(status)),
                self.request_seconds.labels(route=route),
            ),
        )
        count.inc()
        latency.observe(seconds)

    def observe_decision(
        self, direction: str, action: str, categories: Iterable[tuple[str, str]], seconds: float
    ) -> None:
        """Count one screened text; ``categories`` are (category, effective action) pairs."""
        texts, scan = self._child(
            ("text", direction, action),
            lambda: (
                self.texts.labels(direction=direction, action=action),
                self.scan_seconds.labels(direction=direction),
            ),
        )
        texts.inc()
        for category, cat_action in categories:
            self._child(
                ("decision", direction, category, cat_action),
                lambda c=category, a=cat_action: self.decisions.labels(
                    direction=direction, category=c, action=a
                ),
            ).inc()
        scan.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """Exposition text of this process, or of all workers in multiprocess mode."""
        if multiprocess_mode():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int | None = None) -> None:
    """Drop this worker's live gauges from the multiprocess files (at shutdown)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid or os.getpid())


class Timer:
    """``with Timer() as t: ...; t.seconds``"""

    __slots__ = ("_t0", "seconds")

    def __enter__(self) -> Timer:
        self._t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self._t0
