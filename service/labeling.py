"""The one bridge from the service's ``[labels]`` settings to the labelers library.

``POST /label``, ``/label/inspect``, ``/label/propagate``, the ``label``/``inspect`` commands
and the proxy's media path all call these functions, so every setting (producer code, signing,
font, image position, audio cue, limits, video, C2PA, trace detection) means the same thing
everywhere. The functions are synchronous (CPU-bound); async callers run them in a thread.

Judgement call (compliance): without a configured producer code nothing is labeled. A record
with an empty ``ContentProducer`` would break GB 45438 §6.1 a) (the provider element is
mandatory) while looking labeled, so ``/label`` answers 503 ``labels_not_configured`` and the
CLI exits 2. ``--demo`` configures syntactically valid placeholder codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from service.errors import GatewayError, PayloadTooLarge, ServiceUnavailable, from_library_error

if TYPE_CHECKING:
    from labelers import InspectReport, LabeledFile, LabelSettings
    from service.config import LabelsSettings
    from service.tenants import TenantLabels

__all__ = [
    "LabelConfigInvalid",
    "LabelsNotConfigured",
    "inspect",
    "label",
    "label_settings",
    "label_text",
    "library_error",
    "propagate",
    "readiness",
    "verify_keys",
]

# Syntactically valid placeholder producer for propagation-only use: propagation never
# writes producer fields, but LabelSettings validates the producer code it carries.
_NO_PRODUCER = "0011" + "0" * 18 + "10000"


class LabelsNotConfigured(ServiceUnavailable):
    """Labeling needs the provider code of this service in the configuration."""

    code = "labels_not_configured"


class LabelConfigInvalid(ServiceUnavailable):
    """The ``[labels]`` configuration is invalid."""

    code = "label_config_invalid"


def library_error(exc: Exception) -> GatewayError:
    """The service error for a labelers error (the one mapping, see ``service.errors``)."""
    return from_library_error(exc) or GatewayError(str(exc), code="label_failed")


def _c2pa(cfg: LabelsSettings) -> Any:
    from labelers import C2paConfig

    c = cfg.c2pa
    if not c.enabled:
        return None
    if c.cert_path is None or c.key_path is None:
        raise LabelConfigInvalid("labels.c2pa.enabled needs labels.c2pa.cert_path and key_path.")
    try:
        return C2paConfig(cert_chain=c.cert_path.read_bytes(), private_key=c.key_path.read_bytes(),
                          algorithm=c.algorithm, tsa_url=c.tsa_url,
                          claim_generator=c.claim_generator)
    except OSError as exc:
        raise LabelConfigInvalid(f"Cannot read the C2PA certificate or key: {exc.strerror}") \
            from exc


def _signing(cfg: LabelsSettings) -> Any:
    from labelers import SigningConfig

    if cfg.signing == "hmac-sha256":
        key = cfg.signing_key.get_secret_value().encode() if cfg.signing_key else b""
        return SigningConfig("hmac-sha256", cfg.signing_key_id, key=key)
    if cfg.signing == "sm2":
        private = cfg.sm2_private_key.get_secret_value() if cfg.sm2_private_key else ""
        return SigningConfig("sm2", cfg.signing_key_id, private_key=private,
                             public_key=cfg.sm2_public_key)
    return None


def label_settings(cfg: LabelsSettings, tenant: TenantLabels | None = None, *,
                   role: str = "producer") -> LabelSettings:
    """``labelers.LabelSettings`` for ``role`` ("producer" or "propagator").

    Raises LabelsNotConfigured (no producer / propagator code) or LabelConfigInvalid.
    """
    from labelers import LabelError, LabelSettings

    producer = (tenant.producer_code if tenant and tenant.producer_code else None) \
        or cfg.producer_code
    if role == "propagator":
        if not cfg.propagator_code:
            raise LabelsNotConfigured("Propagation needs labels.propagator_code (the TC260 "
                                      "provider code of this platform) in the configuration.")
    elif not producer:
        raise LabelsNotConfigured("Labeling needs labels.producer_code (the TC260 provider code "
                                  "of this service) in the configuration.")
    explicit_text = (tenant.explicit_text if tenant and tenant.explicit_text else None) \
        or cfg.explicit_text
    position = (tenant.text_position if tenant and tenant.text_position else None) \
        or cfg.text_position
    try:
        return LabelSettings(
            producer_code=producer or _NO_PRODUCER,
            explicit_text=explicit_text,
            text_notice=cfg.text_notice,
            text_position=position if position != "off" else "end",
            image_position=cfg.image_position,
            image_text_height=cfg.image_text_height,
            font_path=cfg.font_path,
            audio_morse=cfg.audio_morse,
            signing=_signing(cfg),
            max_bytes=cfg.max_upload_bytes,
            max_video_seconds=cfg.video_max_seconds,
            video_notice_seconds=cfg.video_notice_seconds,
            c2pa=_c2pa(cfg),
            strict_provider_code=cfg.strict_provider_code or not producer,
        )
    except LabelError as exc:
        raise LabelConfigInvalid(f"Invalid label configuration: {exc}") from exc


def readiness(cfg: LabelsSettings, tenants: Iterable[TenantLabels | None]) -> dict[str, Any]:
    """Whether every tenant with labels enabled can be labeled (``/readyz``, ``serve``).

    ``{"state": "ok" | "labels_not_configured" | "label_config_invalid", "reason": message,
    "tenants_affected": n}``; tenant ids are not named (``/readyz`` needs no token).
    """
    problems: list[GatewayError] = []
    for mine in tenants:
        enabled = cfg.enabled if mine is None or mine.enabled is None else mine.enabled
        if not enabled:
            continue
        try:
            label_settings(cfg, mine)
        except GatewayError as exc:
            problems.append(exc)
    if not problems:
        return {"state": "ok", "reason": None, "tenants_affected": 0}
    return {"state": problems[0].code, "reason": problems[0].message,
            "tenants_affected": len(problems)}


def verify_keys(cfg: LabelsSettings) -> dict[str, bytes | str]:
    """Keys ``inspect`` verifies signatures with: the HMAC secret, the pinned SM2 key."""
    keys: dict[str, bytes | str] = {}
    if cfg.signing_key is not None:
        keys[cfg.signing_key_id] = cfg.signing_key.get_secret_value().encode()
    if cfg.sm2_public_key:
        keys[cfg.signing_key_id] = cfg.sm2_public_key
    return keys


def _check_size(cfg: LabelsSettings, data: bytes) -> None:
    if len(data) > cfg.max_upload_bytes:
        raise PayloadTooLarge(f"The file is larger than {cfg.max_upload_bytes} bytes.")


def label(cfg: LabelsSettings, tenant: TenantLabels | None, data: bytes, *,
          filename: str | None = None, media_type: str | None = None,
          produce_id: str | None = None) -> LabeledFile:
    """Explicit + implicit label (and C2PA when enabled). Raises GatewayError subclasses."""
    from labelers import LabelError, label_file

    settings = label_settings(cfg, tenant)
    _check_size(cfg, data)
    try:
        return label_file(data, filename=filename, media_type=media_type, settings=settings,
                          produce_id=produce_id)
    except LabelError as exc:
        raise library_error(exc) from exc


def label_text(cfg: LabelsSettings, tenant: TenantLabels | None, text: str,
               position: str | None = None) -> str:
    """The text with the explicit notice at its start or end."""
    from labelers import label_text as add_notice

    return add_notice(text, settings=label_settings(cfg, tenant), position=position)


def propagate(cfg: LabelsSettings, tenant: TenantLabels | None, data: bytes, *,
              propagate_id: str, filename: str | None = None, media_type: str | None = None,
              declared_ai: bool = False, detected_ai: bool = False,
              detect: bool | None = None) -> LabeledFile:
    """The platform step of Labeling Measures Art. 6; ``detect`` None: ``cfg.detect_traces``."""
    from labelers import LabelError, propagate_file

    settings = label_settings(cfg, tenant, role="propagator")
    _check_size(cfg, data)
    try:
        return propagate_file(data, filename=filename, media_type=media_type,
                              propagator_code=cfg.propagator_code, propagate_id=propagate_id,
                              declared_ai=declared_ai, detected_ai=detected_ai,
                              detect=cfg.detect_traces if detect is None else detect,
                              settings=settings)
    except LabelError as exc:
        raise library_error(exc) from exc


def inspect(cfg: LabelsSettings, data: bytes, *, filename: str | None = None,
            media_type: str | None = None,
            keys: Mapping[str, bytes | str] | bytes | None = None) -> InspectReport:
    """Every carrier, the record, its problems, signatures, traces, C2PA and visible notice."""
    from labelers import LabelError, inspect_file

    _check_size(cfg, data)
    try:
        return inspect_file(data, filename=filename, media_type=media_type,
                            verify_key=verify_keys(cfg) if keys is None else keys,
                            max_bytes=cfg.max_upload_bytes)
    except LabelError as exc:
        raise library_error(exc) from exc
