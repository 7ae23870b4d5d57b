"""Delivering a labeled file over HTTP: what ``POST /label`` and the console's Labels page share.

``read_upload`` reads the multipart ``file`` field within the upload limit, ``in_thread`` runs a ``service.labeling`` bridge call (CPU-bound) off the event loop,
``record_delivery`` records the ``LabelDeliveryEvent`` of a labeled file, and
``file_response`` answers the file with the ``x-aigc-*`` headers that describe its labels.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from service.deps import get_request_id, header_user_id
from service.errors import BadRequest, PayloadTooLarge, ValidationFailed

__all__ = ["file_response", "in_thread", "read_upload", "record_delivery"]

T = TypeVar("T")


async def read_upload(
    request: Request, limit: int
) -> tuple[bytes, str | None, str | None, dict[str, str]]:
    """``(data, filename, declared content type, other form fields)`` of the ``file`` field."""
    try:
        form = await request.form(max_files=1, max_fields=30)
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


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a bridge call in a thread; it raises GatewayError subclasses."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def record_delivery(
    request: Request, runtime: Any, tenant: Any, out: Any, content_id: str
) -> None:
    """Record the delivery of the labeled ``out`` (a ``labeling.label``/``propagate`` result)."""
    from service.records import LabelDeliveryEvent

    await runtime.recorder.record(
        LabelDeliveryEvent(
            request_id=get_request_id(request),
            tenant_id=tenant.id,
            user_id=header_user_id(request),
            content_id=content_id,
            media_type=out.media_type,
            explicit=out.explicit,
            implicit=out.implicit,
        )
    )


def file_response(out: Any, filename: str | None) -> Response:
    """The labeled file, its label record and which labels it carries as headers; a download
    named ``filename`` when one is given."""
    headers = {
        "x-aigc-label": out.record.to_json(),
        "x-aigc-explicit": "true" if out.explicit else "false",
        "x-aigc-implicit": "true" if out.implicit else "false",
        "x-aigc-c2pa": "true" if out.c2pa else "false",
    }
    if filename:
        headers["content-disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return Response(out.data, media_type=out.media_type, headers=headers)
