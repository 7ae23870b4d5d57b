"""Records of a proxied call, built in one place and recorded before the answer ends.

``record(call)`` builds every event of the call — the network log, one incident per screened
direction with non-allowed hits or a classifier finding (``classifier.outcome``: the lexicon's
and the classifier's decisions combined), one label delivery per labeled output — and awaits
``runtime.recorder.record(*events)``. The proxy calls it once per call, before the client
receives the last bytes of its answer (the body of a whole answer, the terminal event of a
stream, the error body), so a client never holds a full answer whose record could still be
lost once the recorder makes ``record`` durable.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from service.errors import GatewayError
from service.excerpt import incident_excerpt

from .call import Call
from .classifier import Outcome, outcome
from .decisions import Decisions

__all__ = ["events", "record"]

log = logging.getLogger("aigc_gateway.proxy")


def _incident(call: Call, d: Decisions, direction: str, tenant_id: str, seen: Outcome) -> Any:
    from service.records import IncidentEvent

    position = call.stream_position if direction == "output" else None
    masked_text, offsets = d.screened()
    return IncidentEvent(
        request_id=call.request_id,
        tenant_id=tenant_id,
        user_id=call.user_id,
        direction=direction,
        route=call.route.path,
        action=seen.action,
        categories=list(seen.categories),
        terms=[h.match.term for h in d.hits],
        offsets=offsets,
        lexicon_version=d.lexicon_version,
        stream_position=position,
        excerpt=incident_excerpt(masked_text, offsets),
        content_id=call.produce_id or None,
        classifier=seen.classifier,
    )


def events(call: Call) -> list[Any]:
    """Every record event of ``call``, in a fixed order."""
    from service.records import LabelDeliveryEvent, NetworkLogEvent

    tenant_id = call.tenant.id if call.tenant is not None else ""
    client = call.scope.get("client")
    out: list[Any] = []
    for direction, d in (("input", call.inputs), ("output", call.outputs)):
        seen = outcome(call, direction, d) if d is not None else None
        if seen is not None:
            out.append(_incident(call, d, direction, tenant_id, seen))
    out.append(
        NetworkLogEvent(
            request_id=call.request_id,
            tenant_id=tenant_id,
            user_id=call.user_id,
            route=call.route.path,
            model=call.model,
            client_addr=client[0] if client else None,
            status=call.status,
            latency_ms=round((time.perf_counter() - call.started) * 1000, 3),
            decision=call.decision,
        )
    )
    plan = call.plan
    text_out = call.adapter is not None and call.adapter.output == "text"
    delivered = call.status < 400 or call.status == 499  # 499: part went out, labeled
    if plan is not None and plan.enabled and delivered and text_out:
        if call.labeled or call.produce_id:
            out.append(
                LabelDeliveryEvent(
                    request_id=call.request_id,
                    tenant_id=tenant_id,
                    user_id=call.user_id,
                    content_id=call.produce_id or call.request_id,
                    media_type="text/plain",
                    explicit=call.labeled,
                    implicit=True,
                )
            )
    for content_id, media_type, explicit in call.media_labeled:
        out.append(
            LabelDeliveryEvent(
                request_id=call.request_id,
                tenant_id=tenant_id,
                user_id=call.user_id,
                content_id=content_id,
                media_type=media_type,
                explicit=explicit,
                implicit=True,
            )
        )
    return out


async def record(call: Call) -> None:
    """Record ``call`` (once) and count its decisions.

    Raises only what the recorder raises by policy (``RecordsUnavailable``, 503, when records
    cannot be made durable and ``records.when_unrecordable = "refuse"``): the answer must then
    not be completed. Any other fault is logged, never raised.
    """
    if call.recorded:
        return
    call.recorded = True
    try:
        await call.runtime.recorder.record(*events(call))
    except GatewayError:
        raise
    except Exception:  # noqa: BLE001 - the recorder spools; a fault here is logged, not raised
        log.warning("records: the call could not be recorded", exc_info=True)
    try:
        _count(call)
    except Exception:  # noqa: BLE001 - metrics never break a request
        log.debug("metrics failed", exc_info=True)


def _count(call: Call) -> None:
    service = call.runtime.metrics
    proxy = getattr(getattr(call.scope.get("app"), "state", None), "proxy", None)
    for direction, d in (("input", call.inputs), ("output", call.outputs)):
        seen = outcome(call, direction, d) if d is not None else None
        if seen is None:
            continue
        if service is not None:
            service.observe_decision(direction, seen.action, seen.categories.items(), 0.0)
        if proxy is not None:
            proxy.metrics.screened(direction, seen.action, seen.categories)
