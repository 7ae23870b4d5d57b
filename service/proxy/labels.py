"""GB 45438 labels on proxied output: the label plan of a tenant, the explicit text notice, the
implicit record header, and media files through the one bridge (``service.labeling``).

Judgement call (compliance), the same as ``POST /label``: with labels enabled, a tenant whose
producer code is missing (or whose ``[labels]`` configuration is invalid) gets no labeled
output at all. Every protocol route that delivers generated content answers 503
``labels_not_configured`` (or ``label_config_invalid``) in its protocol's envelope before the
model API is contacted; embeddings (no content to label) and the generic routes are served.
A record with an empty ``ContentProducer`` would look labeled while breaking GB 45438 §6.1 a).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from service.errors import GatewayError

__all__ = [
    "LabelPlan",
    "TextLabel",
    "check_request",
    "implicit_header",
    "label_media",
    "label_plan",
]

_ID_UNSAFE = re.compile(r"[^\x21-\x7e]|[\"\\]")


@dataclass(frozen=True, slots=True)
class TextLabel:
    """Explicit text label: a notice put before (``start``) or after (``end``) generated text."""

    notice: str
    position: str = "start"  # "start" | "end"

    def wrap(self, text: str) -> str:
        if not text:
            return text
        return self.notice + text if self.position == "start" else text + self.notice


@dataclass(frozen=True, slots=True)
class LabelPlan:
    """What labels one tenant's output gets.

    ``labels`` and ``tenant_labels`` are what the bridge (``service.labeling``) labels media
    files with; ``problem`` is the error every labeled route answers with while labels are
    enabled but cannot be made (no producer code, invalid configuration).
    """

    enabled: bool
    producer_code: str
    text: TextLabel | None
    explicit_text: str
    record_ok: bool = False  # the producer code passed labelers.LabelRecord validation
    labels: Any = None  # service.config.LabelsSettings
    tenant_labels: Any = None  # service.tenants.TenantLabels | None
    problem: GatewayError | None = None


def label_plan(settings: Any, tenant: Any) -> LabelPlan:
    """Global label settings with the tenant's overrides applied, resolved by the bridge."""
    from service import labeling

    glob = settings.labels
    mine = getattr(tenant, "labels", None)
    enabled = glob.enabled if mine is None or mine.enabled is None else mine.enabled
    producer = explicit = ""
    problem: GatewayError | None = None
    try:
        resolved = labeling.label_settings(glob, mine)
    except GatewayError as exc:  # LabelsNotConfigured, LabelConfigInvalid
        problem = exc
    else:
        producer, explicit = resolved.producer_code, resolved.explicit_text
    position = getattr(mine, "text_position", None) or glob.text_position
    notice = glob.text_notice
    text = None
    if enabled and problem is None and position != "off":
        wrapped = f"【{notice}】\n\n" if position == "start" else f"\n\n【{notice}】"
        text = TextLabel(wrapped, position)
    record_ok = False
    if problem is None:
        from labelers import LabelRecord

        try:
            LabelRecord(label="1", content_producer=producer, produce_id="x")
            record_ok = True
        except Exception:  # noqa: BLE001 - fall back to sanitising on every call
            record_ok = False
    return LabelPlan(
        enabled,
        producer,
        text,
        explicit,
        record_ok,
        labels=glob,
        tenant_labels=mine,
        problem=problem if enabled else None,
    )


def check_request(plan: LabelPlan | None, adapter: Any, request: Any) -> None:
    """Refuse, before the model API is contacted, a call whose output could not be labeled.

    - labels enabled but not configured: every route that delivers generated content (all
      protocol routes but embeddings) answers ``plan.problem`` (503);
    - labels enabled and the request asks for generated media in a stream (chat audio with
      ``stream: true``): 400 ``stream_not_labelable`` (streamed media cannot be labeled).
    """
    if plan is None or not plan.enabled or adapter is None or adapter.output == "vectors":
        return
    if plan.problem is not None:
        raise plan.problem
    streamed = getattr(adapter, "streamed_media", None)
    if isinstance(request, dict) and streamed is not None and streamed(request):
        from service.errors import BadRequest

        raise BadRequest(
            f"Streamed {streamed(request)} cannot be labeled (GB 45438); ask for a whole "
            "answer (stream: false).",
            code="stream_not_labelable",
        )


def safe_id(value: str | None) -> str:
    """An Annex E value: printable ASCII without space, quote or backslash."""
    return _ID_UNSAFE.sub("_", value or "")[:128]


def implicit_record(plan: LabelPlan, produce_id: str) -> dict[str, str]:
    """The Annex E record (7 fields, in order) for a text output."""
    try:
        from labelers import LabelRecord

        return LabelRecord(
            label="1", content_producer=plan.producer_code, produce_id=safe_id(produce_id)
        ).to_dict()
    except Exception:  # noqa: BLE001 - an invalid configured producer code must not lose the label
        return {
            "Label": "1",
            "ContentProducer": safe_id(plan.producer_code),
            "ProduceID": safe_id(produce_id),
            "ReservedCode1": "",
            "ContentPropagator": "",
            "PropagateID": "",
            "ReservedCode2": "",
        }


def implicit_header(plan: LabelPlan, produce_id: str) -> bytes:
    """Value of the ``x-aigc-label`` response header: the Annex E record as compact JSON.

    The producer code is validated once per plan (``labelers.LabelRecord``); per call only the
    ProduceID changes, so the hot path builds the same 7 fields directly.
    """
    if not plan.record_ok:
        return orjson.dumps(implicit_record(plan, produce_id))
    return orjson.dumps(
        {
            "Label": "1",
            "ContentProducer": plan.producer_code,
            "ProduceID": safe_id(produce_id),
            "ReservedCode1": "",
            "ContentPropagator": "",
            "PropagateID": "",
            "ReservedCode2": "",
        }
    )


def label_media(data: bytes, *, media_type: str | None, plan: LabelPlan, produce_id: str) -> Any:
    """Label a media file through the bridge with the tenant's settings (signing, font, image
    position, audio cue, limits, video, C2PA ...); returns ``labelers.LabeledFile``.

    Raises the bridge's ``GatewayError`` subclasses.
    """
    from service import labeling

    if plan.problem is not None:
        raise plan.problem
    return labeling.label(
        plan.labels,
        plan.tenant_labels,
        data,
        media_type=media_type,
        produce_id=safe_id(produce_id),
    )
