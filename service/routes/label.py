"""``POST /label``, ``/label/inspect``, ``/label/propagate``: GB 45438 labels over HTTP."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from service.deps import RuntimeDep, TenantDep, get_request_id, header_user_id
from service.errors import (
    BadRequest,
    EmptyText,
    GatewayError,
    InvalidJSON,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMedia,
    ValidationFailed,
    from_library_error,
)
from service.runtime import Runtime
from service.tenants import Tenant

router = APIRouter(tags=["labels"])

_ID = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")
T = TypeVar("T")


def label_settings(runtime: Runtime, tenant: Tenant | None = None) -> Any:
    """``labelers.LabelSettings`` from the ``labels`` config section (tenant overrides)."""
    from labelers import LabelError, LabelSettings, SigningConfig

    cfg = runtime.settings.labels
    mine = tenant.labels if tenant is not None else None
    producer = (mine.producer_code if mine and mine.producer_code else None) or cfg.producer_code
    if not producer:  # --demo sets demo codes in config.Settings
        raise ServiceUnavailable("Labeling needs labels.producer_code (the TC260 provider "
                                 "code of this service) in the configuration.")
    signing = None
    try:
        if cfg.signing == "hmac-sha256":
            key = cfg.signing_key.get_secret_value().encode() if cfg.signing_key else b""
            signing = SigningConfig("hmac-sha256", cfg.signing_key_id, key=key)
        elif cfg.signing == "sm2":
            private = cfg.sm2_private_key.get_secret_value() if cfg.sm2_private_key else ""
            signing = SigningConfig("sm2", cfg.signing_key_id, private_key=private,
                                    public_key=cfg.sm2_public_key)
        position = cfg.text_position if cfg.text_position != "off" else "end"
        return LabelSettings(
            producer_code=producer,
            explicit_text=(mine.explicit_text if mine and mine.explicit_text else None)
            or cfg.explicit_text,
            text_notice=cfg.text_notice,
            text_position=position,
            image_position=cfg.image_position,
            font_path=cfg.font_path,
            audio_morse=cfg.audio_morse,
            signing=signing,
            max_bytes=cfg.max_upload_bytes,
            strict_provider_code=cfg.strict_provider_code,
        )
    except LabelError as exc:
        raise ServiceUnavailable(f"Invalid label configuration: {exc}",
                                 code="label_config_invalid") from exc


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a labelers call in a thread (CPU-bound) and map its errors."""
    from labelers import LabelError

    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except LabelError as exc:
        raise from_library_error(exc) or GatewayError(str(exc)) from exc


async def _upload(request: Request, limit: int) -> tuple[bytes, str | None, str | None, dict]:
    """``(data, filename, declared content type, other form fields)`` of the ``file`` field."""
    try:
        form = await request.form(max_files=1, max_fields=20)
    except Exception as exc:  # multipart parser errors have no common base class
        raise BadRequest(f"Malformed multipart body: {exc}") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ValidationFailed("Send the file as multipart/form-data field 'file'.")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"The file is larger than {limit} bytes.")
    if not data:
        raise ValidationFailed("The uploaded file is empty.")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return data, upload.filename, upload.content_type, fields


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _file_response(out: Any, filename: str | None) -> Response:
    headers = {
        "x-aigc-label": out.record.to_json(),
        "x-aigc-explicit": "true" if out.explicit else "false",
        "x-aigc-implicit": "true" if out.implicit else "false",
    }
    if filename:
        headers["content-disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return Response(out.data, media_type=out.media_type, headers=headers)


@router.post("/label")
async def label(request: Request, runtime: RuntimeDep, tenant: TenantDep) -> Response:
    """Label a file (multipart field ``file``) or a text (JSON ``{"text": ...}``)."""
    from labelers import label_file, label_text

    settings = label_settings(runtime, tenant)
    limit = runtime.settings.labels.max_upload_bytes
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
        labeled = await _run(label_text, text, settings=settings, position=position)
        return Response(orjson.dumps({"text": labeled, "notice": settings.text_notice}),
                        media_type="application/json")
    if not ctype.startswith("multipart/form-data"):
        raise UnsupportedMedia("Send multipart/form-data with a 'file' field, or JSON text.")
    data, filename, declared, fields = await _upload(request, limit)
    produce_id = fields.get("produce_id") or None
    if produce_id is not None and not _ID.fullmatch(produce_id):
        raise ValidationFailed("produce_id must be 1-128 printable ASCII characters "
                               "without space, quote or backslash.")
    out = await _run(label_file, data, filename=filename, media_type=declared,
                     settings=settings, produce_id=produce_id)
    _record(request, runtime, tenant, out, out.record.produce_id)
    return _file_response(out, filename)


def _record(request: Request, runtime: Runtime, tenant: Tenant, out: Any,
            content_id: str) -> None:
    from service.records import LabelDeliveryEvent

    runtime.recorder.submit(LabelDeliveryEvent(
        request_id=get_request_id(request), tenant_id=tenant.id,
        user_id=header_user_id(request), content_id=content_id, media_type=out.media_type,
        explicit=out.explicit, implicit=out.implicit,
    ))


@router.post("/label/inspect")
async def inspect(request: Request, runtime: RuntimeDep, tenant: TenantDep) -> Response:
    """Read and validate the implicit label of an uploaded file (multipart field ``file``)."""
    from labelers import inspect_file

    cfg = runtime.settings.labels
    data, filename, declared, _ = await _upload(request, cfg.max_upload_bytes)
    keys: dict[str, bytes | str] = {}
    if cfg.signing_key is not None:
        keys[cfg.signing_key_id] = cfg.signing_key.get_secret_value().encode()
    if cfg.sm2_public_key:
        keys[cfg.signing_key_id] = cfg.sm2_public_key
    report = await _run(inspect_file, data, filename=filename, media_type=declared,
                        verify_key=keys)
    return Response(orjson.dumps(report.to_dict()), media_type="application/json")


@router.post("/label/propagate")
async def propagate(request: Request, runtime: RuntimeDep, tenant: TenantDep) -> Response:
    """Platform step of Labeling Measures Art. 6: add propagator fields (Label 1/2/3).

    Form fields besides ``file``: ``propagate_id`` (default: new id), ``declared_ai``,
    ``detected_ai`` (booleans).
    """
    from labelers import new_produce_id, propagate_file

    settings = label_settings(runtime, tenant)
    cfg = runtime.settings.labels
    code = cfg.propagator_code
    if not code:
        raise ServiceUnavailable("Propagation needs labels.propagator_code in the configuration.")
    data, filename, declared, fields = await _upload(request, cfg.max_upload_bytes)
    propagate_id = fields.get("propagate_id") or new_produce_id()
    if not _ID.fullmatch(propagate_id):
        raise ValidationFailed("propagate_id must be 1-128 printable ASCII characters "
                               "without space, quote or backslash.")
    out = await _run(propagate_file, data, filename=filename, media_type=declared,
                     propagator_code=code, propagate_id=propagate_id,
                     declared_ai=_flag(fields.get("declared_ai")),
                     detected_ai=_flag(fields.get("detected_ai")), settings=settings)
    _record(request, runtime, tenant, out, out.record.propagate_id)
    response = _file_response(out, filename)
    response.headers["x-aigc-notice"] = quote(out.notice)
    return response
