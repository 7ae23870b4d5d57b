"""Operator actions shared by the admin API and the console; each one is recorded.

Both front ends call these functions, so an action taken in the browser runs the same code as
the same action through ``/admin/*`` and leaves the same ``admin_action`` record: who
(``actor``), what (``action``), which object (``target``), when. Only actions that succeed are
recorded; a refused one (validation error, unknown ticket) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service import reloading
from service.errors import ServiceUnavailable, ValidationFailed
from service.records.events import AdminActionEvent
from service.runtime import ReloadResult, Runtime

API_ACTOR = "admin-token"


@dataclass(frozen=True, slots=True)
class Operator:
    """Who acts: ``admin-token`` for the admin API, ``console:<name>`` for a console session."""

    actor: str
    via: str = "api"  # "api" | "console"
    request_id: str = ""


def api_operator(request: Any) -> Operator:
    """The operator of an ``/admin/*`` call (the shared admin token names no person)."""
    from service.deps import get_request_id

    return Operator(API_ACTOR, "api", get_request_id(request))


async def record_action(
    runtime: Runtime,
    op: Operator,
    action: str,
    target: str,
    *,
    tenant_id: str = "",
    **details: Any,
) -> None:
    """Record one operator action (awaited: durable as the records durability mode says)."""
    await runtime.recorder.record(
        AdminActionEvent(
            actor=op.actor,
            action=action,
            target=target,
            tenant_id=tenant_id,
            details={"via": op.via, **details},
            request_id=op.request_id,
        )
    )


def _recorder(runtime: Runtime) -> Any:
    recorder = runtime.recorder
    if not hasattr(recorder, "resolve_complaint"):
        raise ServiceUnavailable("Records are not available in this deployment.")
    return recorder


async def assign_complaint(
    runtime: Runtime, op: Operator, ticket_id: str, assignee: Any
) -> dict[str, Any]:
    ticket = await _recorder(runtime).assign_complaint(ticket_id, assignee)
    await record_action(
        runtime,
        op,
        "complaint.assign",
        ticket_id,
        tenant_id=ticket["tenant_id"],
        assignee=ticket.get("assignee"),
    )
    return ticket


async def resolve_complaint(
    runtime: Runtime,
    op: Operator,
    ticket_id: str,
    *,
    outcome: Any,
    upheld: Any,
    allow_phrase: Any = None,
    assignee: Any = None,
) -> dict[str, Any]:
    """Close a ticket; an upheld false block with ``allow_phrase`` extends the tenant's
    allow-list (the phrase is in the record: it changes what the gateway lets through)."""
    ticket = await _recorder(runtime).resolve_complaint(
        ticket_id, outcome=outcome, upheld=upheld, allow_phrase=allow_phrase, assignee=assignee
    )
    await record_action(
        runtime,
        op,
        "complaint.resolve",
        ticket_id,
        tenant_id=ticket["tenant_id"],
        upheld=ticket.get("upheld"),
        allow_phrase=ticket.get("allow_phrase"),
        assignee=ticket.get("assignee"),
    )
    return ticket


async def lift_sanction(
    runtime: Runtime, op: Operator, tenant_id: Any, user_id: Any, reason: Any
) -> Any:
    """End a user's sanction; returns the user's state afterwards."""
    tenant, user = _user_key(tenant_id, user_id)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise ValidationFailed("'reason' is required (at most 500 characters)")
    recorder = _recorder(runtime)
    await recorder.lift_sanction(tenant, user, reason=reason.strip())
    await record_action(
        runtime, op, "sanction.lift", f"{tenant}/{user}", tenant_id=tenant, reason=reason.strip()
    )
    return await recorder.user_status(tenant, user)


async def restrict_user(runtime: Runtime, op: Operator, tenant_id: Any, user_id: Any) -> int:
    """A deletion request inside the retention window: restrict the user's records."""
    tenant, user = _user_key(tenant_id, user_id)
    count = await _recorder(runtime).restrict_user(tenant, user)
    await record_action(
        runtime, op, "records.restrict", f"{tenant}/{user}", tenant_id=tenant, records=count
    )
    return count


async def reload(runtime: Runtime, op: Operator) -> ReloadResult:
    """Reload config, policies and lexicons; 422 ``reload_failed`` keeps the old version.

    A failed reload is recorded too (an operator tried to change what is in force)."""
    try:
        result = await reloading.admin_reload(runtime, runtime.metrics)
    except Exception as exc:  # any reason the new version cannot be built
        await record_action(
            runtime, op, "lexicon.reload", runtime.snapshot.version, outcome="failed"
        )
        raise ValidationFailed(
            f"Reload failed, previous version kept: {exc}", code="reload_failed"
        ) from exc
    await record_action(
        runtime,
        op,
        "lexicon.reload",
        result.version,
        outcome="reloaded",
        previous_version=result.previous_version,
        changed=result.changed,
    )
    return result


def _user_key(tenant_id: Any, user_id: Any) -> tuple[str, str]:
    ok = all(isinstance(v, str) and v and len(v) <= 128 for v in (tenant_id, user_id))
    if not ok:
        raise ValidationFailed("'tenant_id' and 'user_id' are required strings")
    return tenant_id, user_id
