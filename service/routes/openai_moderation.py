"""``POST /v1/moderations`` in OpenAI's request and response shape, backed by our lexicons.

Our categories map onto OpenAI's 13 keys where they fit (through the taxonomy's parent
chain); every flagged category, mapped or not (politics, gambling, ...), is listed under
``x_categories``. ``flagged`` is true when the tenant policy flags, masks or blocks anything,
also when no OpenAI key applies. Keyword hits have no probability: scores are 1.0 for blocked
hits and by severity otherwise (high 1.0, medium 0.8, low 0.6); unflagged keys score 0.0.

With the classifier stage (``stages``, as for ``/moderate``) its verdict is under
``x_classifier``; a flagged verdict sets the OpenAI keys its risks map to (scores: an
``openai-moderation`` guard's own, else 1.0 for a block and 0.8 for a flag), and
``flagged``/``x_action``/``x_categories`` are the combined ones.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.responses import Response

from service.classifier.mapping import OPENAI_CATEGORIES
from service.deps import RuntimeDep, TenantDep, json_body, request_body_doc
from service.errors import EmptyText, GatewayError, PayloadTooLarge
from service.moderation import ModerationResult
from service.routes.moderate import Stage, json_response, moderate_texts, record_call
from service.runtime import Runtime

router = APIRouter(tags=["moderation"])

# Our category (or an ancestor) -> OpenAI keys. First hit along the parent chain wins.
CATEGORY_MAP: dict[str, tuple[str, ...]] = {
    "a1.terrorism_extremism": ("illicit/violent", "violence"),
    "a1.ethnic_hatred": ("hate",),
    "a1.violence_obscenity": ("violence", "sexual"),
    "a1.other_prohibited.crime_instigation": ("illicit",),
    "a2": ("hate",),
    "a4.reputation.insult_defamation": ("harassment",),
    "a4.honor": ("harassment",),
    "x.harmful.sexual_innuendo": ("sexual",),
    "x.harmful.gore": ("violence/graphic", "violence"),
    "x.harmful.group_discrimination": ("hate",),
}
_SEVERITY_SCORE = {"high": 1.0, "medium": 0.8, "low": 0.6}


class TextPart(BaseModel):
    type: Literal["text"]
    text: StrictStr


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["image_url"]
    image_url: dict[str, Any]


Part = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ModerationsRequest(BaseModel):
    """OpenAI's request; ``x_direction`` picks the policy direction (default ``input``)."""

    model_config = ConfigDict(extra="allow")
    input: StrictStr | list[StrictStr] | list[Part]
    model: StrictStr = "omni-moderation-latest"
    x_direction: Literal["input", "output"] = "input"
    stages: list[Stage] | None = None


def openai_error(exc: GatewayError) -> dict[str, Any]:
    """OpenAI's error envelope (the SDK raises the matching ``APIStatusError``)."""
    kind = "server_error" if exc.status >= 500 else "invalid_request_error"
    return {"error": {"message": exc.message, "type": kind, "param": None, "code": exc.code}}


def _openai_keys(category: str, runtime: Runtime, sets: tuple[str, ...]) -> tuple[str, ...]:
    taxonomy = runtime.snapshot.lexicons[sets].taxonomy
    seen: set[str] = set()
    cur: str | None = category
    while cur is not None and cur not in seen:
        keys = CATEGORY_MAP.get(cur)
        if keys:
            return keys
        seen.add(cur)
        info = taxonomy.get(cur)
        cur = info.parent if info is not None else None
    return ()


def _texts(body: ModerationsRequest) -> list[str]:
    if isinstance(body.input, str):
        return [body.input]
    if body.input and not isinstance(body.input[0], str):
        # One multi-modal input: its text parts form one text; images are not screened here.
        parts = [p.text for p in body.input if isinstance(p, TextPart)]
        return ["\n".join(parts)]
    return list(body.input)  # type: ignore[arg-type]


def result_to_openai(
    result: ModerationResult, runtime: Runtime, sets: tuple[str, ...]
) -> dict[str, Any]:
    flags = dict.fromkeys(OPENAI_CATEGORIES, False)
    scores = dict.fromkeys(OPENAI_CATEGORIES, 0.0)
    x_scores: dict[str, float] = {}
    for mm in result.matches:
        score = 1.0 if mm.action == "block" else _SEVERITY_SCORE.get(mm.match.severity, 0.8)
        cat = mm.match.category
        x_scores[cat] = max(x_scores.get(cat, 0.0), score)
        for key in _openai_keys(cat, runtime, sets):
            flags[key] = True
            scores[key] = max(scores[key], score)
    verdict = result.classifier
    if verdict is not None and verdict.flagged and verdict.error is None:
        score = 1.0 if verdict.action == "block" else 0.8
        own = verdict.backend == "openai-moderation"  # its labels are OpenAI's own keys
        for label in verdict.labels if own else ():
            if label in flags:
                flags[label] = True
                scores[label] = max(scores[label], float(verdict.scores.get(label, score)))
        for risk in verdict.risks:
            x_scores[risk] = max(x_scores.get(risk, 0.0), score)
            for key in () if own else _openai_keys(risk, runtime, sets):
                flags[key] = True
                scores[key] = max(scores[key], score)
    return {
        "flagged": result.flagged,
        "categories": flags,
        "category_scores": scores,
        "category_applied_input_types": {key: ["text"] for key in OPENAI_CATEGORIES},
        "x_action": result.action,
        "x_categories": dict.fromkeys(result.categories, True),
        "x_category_scores": x_scores,
        "x_matches": [mm.to_dict() for mm in result.matches],
        "x_masked_text": result.masked_text,
        "x_stages": list(result.stages),
        "x_classifier": None if verdict is None else verdict.to_dict(),
    }


@router.post(
    "/v1/moderations",
    summary="OpenAI-compatible moderation backed by the lexicons.",
    openapi_extra=request_body_doc(ModerationsRequest),
)
async def moderations(request: Request, runtime: RuntimeDep, tenant: TenantDep) -> Response:
    """Same request and response shape as OpenAI's moderation endpoint; extras under ``x_``."""
    runtime.recorder.admit()
    body = await json_body(request, ModerationsRequest)
    started = time.perf_counter()
    texts = _texts(body)
    limits = runtime.settings.limits
    if not texts:
        raise EmptyText("'input' is empty.")
    if len(texts) > limits.max_batch_items:
        raise PayloadTooLarge(f"At most {limits.max_batch_items} inputs per request.")
    for text in texts:
        if len(text) > limits.max_text_chars:
            raise PayloadTooLarge(f"An input is longer than {limits.max_text_chars} characters.")
    results = await moderate_texts(
        request, runtime, tenant, texts, body.x_direction, None, body.stages
    )
    await record_call(runtime, request, tenant, results, "/v1/moderations", started, body.model)
    sets = tenant.lexicon_sets
    return json_response(
        {
            "id": "modr-" + uuid.uuid4().hex,
            "model": body.model,
            "results": [result_to_openai(r, runtime, sets) for r in results],
            "x_lexicon_version": results[0].lexicon_version,
        }
    )


def install(app: Any) -> None:
    """Register the OpenAI error envelope for this route (called by ``create_app``)."""
    from service.app import register_error_envelope

    register_error_envelope(app, "/v1/moderations", openai_error)
