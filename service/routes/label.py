"""``POST /label``, ``/label/inspect``, ``/label/propagate``: GB 45438 labels over HTTP.

Every call goes through :mod:`service.labeling`, the one bridge from the ``[labels]`` settings
to the labelers library (the CLI and the proxy use the same bridge).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from service import labeling
from service.deps import RuntimeDep, TenantDep
from service.errors import (
    EmptyText,
    InvalidJSON,
    PayloadTooLarge,
    UnsupportedMedia,
    ValidationFailed,
)
from service.label_delivery import file_response, in_thread, read_upload, record_delivery

router = APIRouter(tags=["labels"])

_ID = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@router.post("/label")
async def label(request: Request, runtime: RuntimeDep, tenant: TenantDep) -> Response:
    """Label a file (multipart field ``file``) or a text (JSON ``{"text": ...}``)."""
    cfg = runtime.settings.labels
    labeling.label_settings(cfg, tenant.labels)  # 503 before reading a body when unconfigured
    limit = cfg.max_upload_bytes
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise InvalidJSON("The request body is not valid JSON.") from exc
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise ValidationFailed('Send {"text": "..."} or a multipart file.')
        if not text.strip():
            raise EmptyText("The text to label is empty.")
        if len(text) > runtime.settings.limits.max_text_chars:
            raise PayloadTooLarge("The text is longer than the configured limit.")
        position = body.get("position")
        if position not in (None, "start", "end"):
            raise ValidationFailed("position must be 'start' or 'end'.")
        labeled = await in_thread(labeling.label_text, cfg, tenant.labels, text, position)
        return Response(
            orjson.dumps({"text": labeled, "notice": cfg.text_notice}),
            media_type="application/json",
        )
    if not ctype.startswith("multipart/form-data"):
        raise UnsupportedMedia("Send multipart/form-data with a 'file' field, or JSON text.")
    data, filename, declared, fields = await read_upload(request, limit)
    produce_id = fields.get("produce_id") or None
    if produce_id is not None and not _ID.fullmatch(produce_id):
        raise ValidationFailed(
            "produce_id must be 1-128 printable ASCII characters without space, quote or backslash."
        )
    out = await in_thread(
        labeling.label,
        cfg,
        tenant.labels,
        data,
        filename=filename,
        media_type=declared,
        produce_id=produce_id,
    )
    await record_delivery(request, runtime, tenant, out, out.record.produce_id)
    return file_response(out, filename)


@router.post("/label/inspect")
async def inspect(request: Request, runtime: RuntimeDep, tenant: TenantDep) -> Response:
    """Read and validate the labels of an uploaded file (multipart field ``file``): the
    implicit record, signatures, the visible notice where it can be read, C2PA and traces."""
    cfg = runtime.settings.labels
    data, filename, declared, _ = await read_upload(request, cfg.max_upload_bytes)
    report = await in_thread(labeling.inspect, cfg, data, filename=filename, media_type=declared)
    return Response(orjson.dumps(report.to_dict()), media_type="application/json")


@router.post("/label/propagate")
async def propagate(request: Request, runtime: RuntimeDep, tenant: TenantDep) -> Response:
    """Platform step of Labeling Measures Art. 6: add propagator fields (Label 1/2/3).

    Form fields besides ``file``: ``propagate_id`` (default: new id), ``declared_ai``,
    ``detected_ai`` and ``detect`` (booleans; ``detect`` defaults to
    ``labels.detect_traces``). Traces found are the evidence for Label "3": header
    ``x-aigc-evidence`` (JSON list, ASCII-escaped).
    """
    from labelers import new_produce_id

    cfg = runtime.settings.labels
    labeling.label_settings(cfg, tenant.labels, role="propagator")  # 503 when unconfigured
    data, filename, declared, fields = await read_upload(request, cfg.max_upload_bytes)
    propagate_id = fields.get("propagate_id") or new_produce_id()
    if not _ID.fullmatch(propagate_id):
        raise ValidationFailed(
            "propagate_id must be 1-128 printable ASCII characters "
            "without space, quote or backslash."
        )
    detect = fields.get("detect")
    out = await in_thread(
        labeling.propagate,
        cfg,
        tenant.labels,
        data,
        filename=filename,
        media_type=declared,
        propagate_id=propagate_id,
        declared_ai=_flag(fields.get("declared_ai")),
        detected_ai=_flag(fields.get("detected_ai")),
        detect=None if detect is None else _flag(detect),
    )
    await record_delivery(request, runtime, tenant, out, out.record.propagate_id)
    response = file_response(out, filename)
    response.headers["x-aigc-notice"] = quote(out.notice)
    if out.traces:
        response.headers["x-aigc-evidence"] = _evidence(out.traces)
    return response


def _evidence(traces: Any) -> str:
    """Trace evidence as an ASCII JSON header value, at most 8 KB (whole entries only)."""
    items: list[dict[str, str]] = []
    for trace in traces:
        candidate = [*items, trace.to_dict()]
        if len(orjson.dumps(candidate)) * 2 > 8192:  # \uXXXX escapes at most double it
            break
        items = candidate
    return json.dumps(items, ensure_ascii=True, separators=(",", ":"))
