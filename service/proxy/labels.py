"""GB 45438 labels on proxied output: the explicit text notice, the implicit record header,
and media files (images, speech) through ``labelers.label_file``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["LabelPlan", "TextLabel", "implicit_header", "label_media", "label_plan"]

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
    """What labels one tenant's output gets."""

    enabled: bool
    producer_code: str
    text: TextLabel | None
    explicit_text: str
    record_ok: bool = False  # the producer code passed labelers.LabelRecord validation


def label_plan(settings: Any, tenant: Any) -> LabelPlan:
    """Global label settings with the tenant's overrides applied."""
    glob = settings.labels
    mine = tenant.labels
    enabled = glob.enabled if mine.enabled is None else mine.enabled
    producer = mine.producer_code if mine.producer_code is not None else glob.producer_code
    explicit = mine.explicit_text if mine.explicit_text is not None else glob.explicit_text
    position = getattr(mine, "text_position", None) or getattr(glob, "text_position", "start")
    notice = getattr(mine, "text_notice", None) or getattr(
        glob, "text_notice", "本内容由人工智能生成"
    )
    text = None
    if enabled and position != "off":
        wrapped = f"【{notice}】\n\n" if position == "start" else f"\n\n【{notice}】"
        text = TextLabel(wrapped, position)
    producer = producer or ""
    try:
        from labelers import LabelRecord

        LabelRecord(label="1", content_producer=producer, produce_id="x")
        ok = True
    except Exception:  # noqa: BLE001 - fall back to sanitising on every call
        ok = False
    return LabelPlan(enabled, producer, text, explicit, ok)


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
    """Label an image or audio file; returns ``labelers.LabeledFile``. Raises ``LabelError``."""
    from labelers import LabelSettings, label_file

    settings = LabelSettings(
        producer_code=plan.producer_code,
        explicit_text=plan.explicit_text,
        strict_provider_code=False,
    )
    return label_file(
        data, media_type=media_type, settings=settings, produce_id=safe_id(produce_id)
    )
