"""``POST /moderate``: the native moderation API (DESIGN §3.3), single text or batch.

Two stages: the lexicon and, when configured, the guard-model classifier (``stages`` in the
request; by default the lexicon, plus the classifier where the tenant's ``[classifier]`` has
``moderate`` on). Their verdicts are combined by the one rule (``moderation.with_verdict``)
and both appear in the response (the lexicon's matches; the classifier's under
``classifier``), the records and the metrics.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.responses import Response

from service.deps import (
    RuntimeDep,
    TenantDep,
    get_request_id,
    header_user_id,
    json_body,
    request_body_doc,
)
from service.errors import (
    EmptyText,
    PayloadTooLarge,
    ServiceUnavailable,
    UserSuspended,
    ValidationFailed,
)
from service.excerpt import incident_excerpt
from service.moderation import ModerationResult, Screen, screen_for, with_verdict
from service.runtime import Runtime
from service.tenants import Tenant, strictest

router = APIRouter(tags=["moderation"])

# Above this many characters per request the scan runs in a thread, so one huge batch does not
# stall every other connection of the worker (below it the thread hop costs more than the scan).
OFFLOAD_CHARS = 20_000


Stage = Literal["lexicon", "classifier"]


class ModerateRequest(BaseModel):
    """Exactly one of ``text`` (one string) or ``input`` (a list of strings)."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr | None = Field(default=None, examples=["去網上賭場玩"])
    input: list[StrictStr] | StrictStr | None = None
    direction: Literal["input", "output"] = "input"
    profile: Literal["standard", "minor"] | None = Field(
        default=None, description="Ask for a stricter profile; never weakens the tenant's."
    )
    stages: list[Stage] | None = Field(
        default=None,
        description="Stages to run (default: the lexicon, plus the classifier when the "
        "tenant has one for /moderate).",
        examples=[["lexicon", "classifier"]],
    )


class MatchOut(BaseModel):
    term: str
    category: str
    start: int = Field(description="Offset into the original text, Unicode code points")
    end: int = Field(description="Exclusive end offset")
    text: str = Field(description="The original span text[start:end]")
    action: Literal["flag", "mask", "block"]
    severity: str
    variant: str


class CategoryOut(BaseModel):
    id: str
    name_zh: str
    name_en: str
    action: Literal["flag", "mask", "block"]


class ClassifierOut(BaseModel):
    """The guard model's verdict (docs/classifier.md)."""

    action: Literal["allow", "flag", "block"]
    safety: Literal["safe", "controversial", "unsafe"] | None = Field(
        description="None when the guard did not answer (see error)"
    )
    risks: list[str] = Field(description="TC260-003 risk ids the verdict is evidence of")
    labels: list[str] = Field(description="The backend's own category labels")
    scores: dict[str, float]
    refusal: bool | None
    direction: Literal["input", "output"]
    backend: str
    model: str
    cached: bool
    latency_ms: float
    error: str | None = Field(description="Why the guard gave no verdict; then action = fail mode")


class ModerationOut(BaseModel):
    flagged: bool
    action: Literal["allow", "flag", "mask", "block"]
    categories: list[str]
    category_details: list[CategoryOut]
    matches: list[MatchOut]
    masked_text: str
    direction: Literal["input", "output"]
    profile: str
    lexicon_version: str
    stages: list[Stage]
    classifier: ClassifierOut | None


class BatchOut(BaseModel):
    results: list[ModerationOut]
    lexicon_version: str


def texts_of(body: ModerateRequest, runtime: Runtime) -> tuple[list[str], bool]:
    """The texts to screen and whether the request was a batch; 4xx on bad shapes."""
    limits = runtime.settings.limits
    if (body.text is None) == (body.input is None):
        raise ValidationFailed("Send exactly one of 'text' (a string) or 'input' (a list).")
    if body.text is not None:
        texts, batch = [body.text], False
    elif isinstance(body.input, str):
        texts, batch = [body.input], True
    else:
        texts, batch = list(body.input or ()), True
    if not texts:
        raise EmptyText("'input' is an empty list.")
    if len(texts) > limits.max_batch_items:
        raise PayloadTooLarge(f"At most {limits.max_batch_items} texts per request.")
    for i, text in enumerate(texts):
        where = f"input[{i}]" if batch else "text"
        if not text.strip():
            raise EmptyText(f"'{where}' is empty.")
        if len(text) > limits.max_text_chars:
            raise PayloadTooLarge(
                f"'{where}' has {len(text)} characters; the limit is {limits.max_text_chars}."
            )
    return texts, batch


class ClassifierNotConfigured(ServiceUnavailable):
    code = "classifier_not_configured"


def classifier_for(runtime: Runtime, tenant: Tenant, stages: list[str] | None) -> tuple[bool, Any]:
    """(run the lexicon, classifier settings or None) for a request's ``stages``."""
    stage = runtime.classifier
    if stages is None:
        cfg = stage.settings_for(tenant, "moderate") if stage is not None else None
        return True, cfg
    if not stages:
        raise ValidationFailed("'stages' names no stage; use 'lexicon' and/or 'classifier'.")
    cfg = None
    if "classifier" in stages:
        cfg = stage.settings_for(tenant) if stage is not None else None
        if cfg is None:
            raise ClassifierNotConfigured(
                "The classifier stage is not configured for this tenant ([classifier] backend)."
            )
    return "lexicon" in stages, cfg


def _lexicon(screen: Screen, texts: list[str]) -> list[tuple[ModerationResult, float]]:
    out = []
    for text in texts:
        t0 = time.perf_counter()
        result = screen.moderate(text)
        out.append((result, time.perf_counter() - t0))
    return out


def _skipped(screen: Screen, text: str) -> ModerationResult:
    """The result of a text the lexicon stage did not look at."""
    return ModerationResult(
        flagged=False,
        action="allow",
        categories=[],
        matches=[],
        masked_text=text,
        lexicon_version=screen.lexicon_version,
        direction=screen.direction,
        profile=screen.profile,
        stages=(),
    )


async def moderate_texts(
    request: Request,
    runtime: Runtime,
    tenant: Tenant,
    texts: list[str],
    direction: str,
    profile: str | None,
    stages: list[str] | None,
) -> list[ModerationResult]:
    """Each text through the stages (lexicon with one ``Screen``, off the event loop when the
    texts are long; the classifier's checks side by side), combined; metrics counted
    (``record_call`` records them)."""
    lexicon, cfg = classifier_for(runtime, tenant, stages)
    screen = screen_for(runtime, tenant, direction, profile=profile)
    if not lexicon:
        pairs = [(_skipped(screen, text), 0.0) for text in texts]
    elif sum(map(len, texts)) > OFFLOAD_CHARS:
        pairs = await asyncio.to_thread(_lexicon, screen, texts)
    else:
        pairs = _lexicon(screen, texts)
    if cfg is not None:
        rid = get_request_id(request)
        found = await asyncio.gather(
            *(runtime.classifier.classify(cfg, t, direction, request_id=rid) for t in texts)
        )
        pairs = [(with_verdict(r, v), sec) for (r, sec), v in zip(pairs, found, strict=True)]
    metrics = runtime.metrics
    if metrics is not None:
        for result, seconds in pairs:
            metrics.observe_decision(direction, result.action, result.category_actions(), seconds)
    return [result for result, _ in pairs]


def incident_event(request: Request, tenant: Tenant, result: ModerationResult, route: str) -> Any:
    from service.records.events import IncidentEvent

    offsets = [(mm.match.start, mm.match.end) for mm in result.matches]
    verdict = result.classifier
    return IncidentEvent(
        request_id=get_request_id(request),
        tenant_id=tenant.id,
        user_id=header_user_id(request),
        direction=result.direction,
        route=route,
        action=result.action,
        categories=list(result.categories),
        terms=[mm.match.term for mm in result.matches],
        offsets=offsets,
        lexicon_version=result.lexicon_version,
        excerpt=incident_excerpt(result.masked_text, offsets),
        classifier=None if verdict is None else {**verdict.to_dict(), "checks": 1},
    )


async def record_call(
    runtime: Runtime,
    request: Request,
    tenant: Tenant,
    results: list[ModerationResult],
    route: str,
    started: float,
    model: str | None = None,
) -> None:
    """The call's records, durable before the answer is sent: one incident per text with a
    finding (``ModerationResult.finding``) and one network log (metadata only, no text)."""
    from service.records.events import NetworkLogEvent

    decision = "allow"
    for r in results:
        decision = strictest(decision, r.action)
    client = request.client
    incidents = [incident_event(request, tenant, r, route) for r in results if r.finding]
    await runtime.recorder.record(
        *incidents,
        NetworkLogEvent(
            request_id=get_request_id(request),
            tenant_id=tenant.id,
            user_id=header_user_id(request),
            route=route,
            model=model,
            client_addr=client.host if client else None,
            status=200,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            decision=decision,
        ),
    )


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


@router.post(
    "/moderate",
    response_model=ModerationOut | BatchOut,
    summary="Screen one text or a batch with the tenant's lexicon and policy.",
    openapi_extra=request_body_doc(ModerateRequest),
)
async def moderate_endpoint(request: Request, runtime: RuntimeDep, tenant: TenantDep) -> Response:
    """Screen text; offsets point into the original text (Unicode code points)."""
    runtime.recorder.admit()
    body = await json_body(request, ModerateRequest)
    started = time.perf_counter()
    texts, batch = texts_of(body, runtime)
    profile = body.profile
    user = header_user_id(request)
    if user:  # a restricted (or suspended) user is screened with the strictest profile
        try:
            if await runtime.recorder.user_restrictions(tenant.id, user) == "restricted":
                profile = "minor"
        except UserSuspended:
            profile = "minor"  # screening itself is never refused
    results = await moderate_texts(
        request, runtime, tenant, texts, body.direction, profile, body.stages
    )
    await record_call(runtime, request, tenant, results, "/moderate", started)
    taxonomy = runtime.snapshot.lexicon_for(tenant).taxonomy
    if not batch:
        return json_response(results[0].to_dict(taxonomy))
    return json_response(
        {
            "results": [r.to_dict(taxonomy) for r in results],
            "lexicon_version": results[0].lexicon_version,
        }
    )
