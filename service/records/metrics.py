"""Records metrics: plain counters always, Prometheus families once bound to a registry."""

from __future__ import annotations

from typing import Any


class RecordsMetrics:
    """What the writer and the complaint desk count (``stats()`` for tests and ``/readyz``)."""

    def __init__(self) -> None:
        self.written: dict[str, int] = {}
        self.spooled = 0
        self.dropped = 0
        self.replayed = 0
        self.refused = 0
        self.anchors = 0
        self.anchor_failures = 0
        self.degraded = False
        self.unrecordable = False
        self.queue_depth = 0
        self.spool_bytes = 0
        self.complaints_overdue = 0
        self.sanction_steps: dict[str, int] = {}
        self._prom: dict[str, Any] | None = None

    def bind(self, registry: Any) -> None:
        """Register the Prometheus families on ``registry`` (the app's ``Metrics.registry``)."""
        from prometheus_client import Counter, Gauge

        r = registry
        self._prom = {
            "written": Counter(
                "aigc_gateway_records_written", "Records stored, by class.", ["kind"], registry=r
            ),
            "spooled": Counter(
                "aigc_gateway_records_spooled",
                "Records written to the local spool because the database was down.",
                registry=r,
            ),
            "replayed": Counter(
                "aigc_gateway_records_replayed", "Spooled records replayed.", registry=r
            ),
            "dropped": Counter(
                "aigc_gateway_records_dropped",
                "Records lost: neither the database nor the spool could take them.",
                registry=r,
            ),
            "anchors": Counter(
                "aigc_gateway_records_anchors", "Signed chain-head anchors taken.", registry=r
            ),
            "anchor_failures": Counter(
                "aigc_gateway_records_anchor_failures",
                "Anchors that could not be delivered to the anchor URL.",
                registry=r,
            ),
            "refused": Counter(
                "aigc_gateway_records_refused",
                "Requests refused because no record could be made durable.",
                registry=r,
            ),
            "unrecordable": Gauge(
                "aigc_gateway_records_unrecordable",
                "1 while neither the records database nor the spool can take records.",
                multiprocess_mode="livemax",
                registry=r,
            ),
            "degraded": Gauge(
                "aigc_gateway_records_degraded",
                "1 while the records database is unreachable (records go to the spool).",
                multiprocess_mode="livemax",
                registry=r,
            ),
            "queue": Gauge(
                "aigc_gateway_records_queue_depth",
                "Records waiting in the in-process queue.",
                multiprocess_mode="livesum",
                registry=r,
            ),
            "spool": Gauge(
                "aigc_gateway_records_spool_bytes",
                "Bytes waiting in the local spool.",
                multiprocess_mode="livemax",
                registry=r,
            ),
            "overdue": Gauge(
                "aigc_gateway_complaints_overdue",
                "Open complaints past their published feedback deadline.",
                multiprocess_mode="livemax",
                registry=r,
            ),
            "sanctions": Counter(
                "aigc_gateway_sanction_steps",
                "User sanction steps taken, by step.",
                ["step"],
                registry=r,
            ),
        }
        self._refresh()

    def _refresh(self) -> None:
        if self._prom is not None:
            self._prom["degraded"].set(1 if self.degraded else 0)
            self._prom["unrecordable"].set(1 if self.unrecordable else 0)
            self._prom["queue"].set(self.queue_depth)
            self._prom["spool"].set(self.spool_bytes)
            self._prom["overdue"].set(self.complaints_overdue)

    def add_written(self, kind: str, n: int) -> None:
        self.written[kind] = self.written.get(kind, 0) + n
        if self._prom is not None:
            self._prom["written"].labels(kind=kind).inc(n)

    def add(self, name: str, n: int = 1) -> None:
        setattr(self, name, getattr(self, name) + n)
        if self._prom is not None:
            self._prom[name].inc(n)

    def add_step(self, step: str) -> None:
        self.sanction_steps[step] = self.sanction_steps.get(step, 0) + 1
        if self._prom is not None:
            self._prom["sanctions"].labels(step=step).inc()

    def set_state(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        self._refresh()

    def stats(self) -> dict[str, Any]:
        return {
            "written": dict(self.written),
            "spooled": self.spooled,
            "replayed": self.replayed,
            "dropped": self.dropped,
            "refused": self.refused,
            "anchors": self.anchors,
            "anchor_failures": self.anchor_failures,
            "degraded": self.degraded,
            "unrecordable": self.unrecordable,
            "queue_depth": self.queue_depth,
            "spool_bytes": self.spool_bytes,
            "complaints_overdue": self.complaints_overdue,
            "sanction_steps": dict(self.sanction_steps),
        }
