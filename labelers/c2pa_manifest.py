"""C2PA Content Credentials beside the TC260 record (opt-in, ``LabelSettings.c2pa``).

- ``sign`` embeds a manifest with one ``c2pa.actions`` assertion: ``c2pa.created`` with the
  IPTC digital source type ``trainedAlgorithmicMedia``, signed with the configured certificate
  chain and key through c2pa-python (c2pa-rs). No thumbnail is embedded (it would be a second,
  unlabeled copy of the picture).
- Order (labeling.md §9): explicit label, then the TC260 record, then C2PA, because C2PA's hard
  binding covers every byte outside its own manifest. The TC260 record is left byte-identical
  (checked by the caller).
- ``read_manifest`` reports the manifest store: validation state, the status codes, actions and
  the AI actions among them. An untrusted signer (a private or test CA) is reported as such,
  not as an error: trust lists are the verifier's policy.
- ``without_manifest`` removes the manifest store from PNG/JPEG/WebP *for hashing only*: the
  TC260 content binding (integrity.py) must not depend on the C2PA store added after it.
  Nothing ever writes that stripped file out (M Art. 10).
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

from .errors import LabelError, UnsupportedMediaError
from .settings import C2paConfig

__all__ = ["STRIPPABLE", "read_manifest", "sign", "supported", "without_manifest"]

AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_AI_CODES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia",
             "algorithmicMedia", "compositeSynthetic")
# Formats whose manifest store we can set aside for the TC260 content binding.
STRIPPABLE = frozenset({"image/png", "image/jpeg", "image/webp"})
_SUPPORTED = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/tiff",
                        "video/mp4", "video/quicktime", "audio/mp4", "audio/mpeg", "audio/wav",
                        "audio/flac"})


def supported(media_type: str) -> bool:
    """True when C2PA manifests are written for ``media_type``."""
    return media_type in _SUPPORTED


def _c2pa() -> Any:
    try:
        import c2pa
    except ImportError as exc:  # the wheel ships the Rust library; a failed install lands here
        raise LabelError(f"C2PA is enabled but c2pa-python cannot be imported: {exc}") from exc
    return c2pa


def sign(data: bytes, media_type: str, config: C2paConfig, *, title: str = "",
         parent: bytes | None = None) -> bytes:
    """``data`` with an embedded, signed C2PA manifest (see module docstring).

    ``parent``: the file as received, for a platform that propagates it: the new manifest
    says ``c2pa.opened`` (that file, with its own manifest, as the ``parentOf`` ingredient)
    and ``c2pa.published`` instead of ``c2pa.created``, so the producer's provenance stays
    verifiable inside ours.
    """
    if not supported(media_type):
        raise UnsupportedMediaError(f"C2PA manifests are not written for {media_type}")
    c2pa = _c2pa()
    if parent is None:
        actions: list[dict[str, Any]] = [{"action": "c2pa.created",
                                          "digitalSourceType": AI_SOURCE}]
    else:
        actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["received"]}},
                   {"action": "c2pa.published"}]
    manifest = {
        "claim_generator_info": [{"name": config.claim_generator}],
        "title": title or "AI-generated content",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    try:
        info = c2pa.C2paSignerInfo(
            alg=getattr(c2pa.C2paSigningAlg, config.algorithm.upper()),
            sign_cert=config.cert_chain, private_key=config.private_key,
            ta_url=config.tsa_url.encode() if config.tsa_url else None)
        context = c2pa.Context(settings=c2pa.Settings.from_dict(
            {"builder": {"thumbnail": {"enabled": False}}}))
        with c2pa.Signer.from_info(info) as signer, \
                c2pa.Builder(manifest, context=context) as builder:
            if parent is not None:
                builder.add_ingredient_from_stream(
                    {"title": "received file", "relationship": "parentOf", "label": "received"},
                    media_type, io.BytesIO(parent))
            out = io.BytesIO()
            builder.sign(signer, media_type, io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        raise LabelError(f"C2PA signing failed: {exc}") from exc
    return out.getvalue()


def read_manifest(data: bytes, media_type: str) -> dict[str, Any] | None:
    """The C2PA manifest store of ``data`` (None when there is none or the format has none)."""
    if media_type not in _SUPPORTED or b"c2pa" not in data:
        return None
    try:
        import c2pa
    except ImportError:
        return {"present": True, "state": "unverified",
                "status": ["c2pa-python is not installed"], "actions": [], "ai_actions": []}
    try:
        with c2pa.Reader(media_type, io.BytesIO(data)) as reader:
            store = json.loads(reader.json())
            state = str(reader.get_validation_state() or "")
    except Exception as exc:  # noqa: BLE001 - c2pa raises C2paError subclasses and others
        if "ManifestNotFound" in type(exc).__name__ or "not found" in str(exc).lower():
            return None
        return {"present": True, "state": "invalid", "status": [str(exc)[:300]],
                "actions": [], "ai_actions": []}
    active = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    actions: list[dict[str, Any]] = []
    for assertion in active.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            actions += [a for a in assertion.get("data", {}).get("actions", [])
                        if isinstance(a, dict)]
    ai = [a for a in actions if any(code in str(a.get("digitalSourceType", ""))
                                    for code in _AI_CODES)]
    status = [s.get("code", "") for s in store.get("validation_status", []) or []]
    errors = [s for s in status if s and s != "signingCredential.untrusted"]
    signer = active.get("signature_info", {})
    return {
        "present": True,
        "state": "invalid" if errors else ("valid" if state in ("Valid", "Trusted") else
                                           state.lower() or "unknown"),
        "trusted": state == "Trusted",
        "status": status,
        "signer": {k: signer.get(k) for k in ("issuer", "common_name", "alg") if k in signer},
        "actions": actions,
        "ai_actions": ai,
    }


def without_manifest(data: bytes, media_type: str) -> bytes:
    """``data`` minus its C2PA manifest store (PNG ``caBX``, JPEG APP11, WebP ``C2PA``)."""
    if b"c2pa" not in data:
        return data
    if media_type == "image/png":
        out, pos = [data[:8]], 8
        while pos + 8 <= len(data):
            (length, kind) = struct.unpack(">I4s", data[pos:pos + 8])
            end = pos + 12 + length
            if kind != b"caBX":
                out.append(data[pos:end])
            pos = end
        return b"".join(out) + data[pos:]
    if media_type == "image/jpeg":
        out, pos = [data[:2]], 2
        while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xDA, 0xD9):
            length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
            end = pos + 2 + length
            if not (data[pos + 1] == 0xEB and b"c2pa" in data[pos:end]):
                out.append(data[pos:end])
            pos = end
        return b"".join(out) + data[pos:]
    if media_type == "image/webp":
        chunks, pos = [], 12
        while pos + 8 <= len(data):
            kind, length = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
            end = pos + 8 + length + (length & 1)
            if kind != b"C2PA":
                chunks.append(data[pos:end])
            pos = end
        body = b"WEBP" + b"".join(chunks)
        return b"RIFF" + struct.pack("<I", len(body)) + body
    return data
