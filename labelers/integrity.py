"""Integrity of the label: PG-SEC ``SecurityData`` in ReservedCode1 (producer) / ReservedCode2
(propagator).

Layout (TC260-PG-202511A as summarised in labeling.md §4), stored as a compact JSON string:

    {"SecurityData":{"Type":"TC260PG","Version":"1.0",
      "Bindings":[{"Type":"Bnd","AlgID":<hash OID>,"CntSel":"aigc-gateway/neutral-record",
                   "Value":<hex digest of the content>}],                      # optional
      "PubSD":[{"Type":"PubKey","AlgID":"1.2.156.10197.1.501","KeyID":..,"KeyValue":<hex x||y>},
               {"Type":"DS","AlgID":"1.2.156.10197.1.501","KeyID":..,"Signature":<hex r||s>,
                "TBSData":{"Type":"Md"}},
               {"Type":"DS",...,"TBSData":{"Type":"Bnd"}}]}}                    # SM2 (public)

HMAC-SHA256 goes into ``PrivSD`` (verifiable only by the key holder) with entries
``{"Type":"MAC","AlgID":"1.2.840.113549.2.9","KeyID":..,"Signature":<hex>,"TBSData":{..}}``;
that is *not* PG-SEC conformant (which names SM2), it is the fallback for non-CN deployments.

Judgement calls:

- ``Md`` message for the producer is the PG-SEC Annex A.1 string: the three JSON pairs
  ``"Label":"1","ContentProducer":"..","ProduceID":".."`` joined by commas, no braces. For the
  propagator (not described in the sources) we sign the pairs of every field except
  ReservedCode2, so the propagator's signature also covers the producer's fields.
- ``Bnd``: the guide's per-format content selection (CntSel) is not available to us. We hash
  the file as rewritten with a fixed *neutral* record (see :func:`labelers.api`), so the digest
  does not depend on the label fields and survives propagation, while any change to the
  content bytes changes it. The caller passes that digest in.
- SM2 uses gmssl's SM3withSM2 with the default user id ``1234567812345678``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gmssl import func, sm2, sm3

from .errors import LabelFormatError
from .record import FIELDS, LabelRecord
from .settings import SigningConfig

__all__ = [
    "SignatureState",
    "VerifyKeys",
    "content_hash",
    "generate_sm2_keypair",
    "bare_public",
    "sm2_key",
    "message_for",
    "sign_record",
    "verify_field",
]

SM2_SM3 = "1.2.156.10197.1.501"
SM3 = "1.2.156.10197.1.401"
HMAC_SHA256 = "1.2.840.113549.2.9"
SHA256 = "2.16.840.1.101.3.4.2.1"
CNTSEL = "aigc-gateway/neutral-record"

Role = Literal["producer", "propagator"]
SignatureState = Literal["valid", "invalid", "absent", "unverified"]
# key id -> HMAC secret (bytes) or pinned SM2 public key (hex str)
VerifyKeys = Mapping[str, bytes | str]


def _pairs(record: LabelRecord, names: tuple[str, ...]) -> bytes:
    values = record.to_dict()
    return ",".join(
        f"{json.dumps(n)}:{json.dumps(values[n], ensure_ascii=True)}" for n in names
    ).encode("ascii")


def message_for(record: LabelRecord, role: Role) -> bytes:
    """The metadata (``Md``) message signed for ``role`` (A.1 form for the producer)."""
    if role == "producer":
        return _pairs(record, FIELDS[:3])
    return _pairs(record, FIELDS[:6])


def content_hash(data: bytes, algorithm: str) -> str:
    """Hex digest of ``data`` with SM3 (for SM2) or SHA-256 (for HMAC)."""
    if algorithm == "sm2":
        return sm3.sm3_hash(func.bytes_to_list(data))
    return hashlib.sha256(data).hexdigest()


def generate_sm2_keypair() -> tuple[str, str]:
    """A new SM2 key pair ``(private_hex, public_hex)``; public is x||y without ``04``."""
    n = int(sm2.default_ecc_table["n"], 16)
    while True:
        d = int(func.random_hex(64), 16)
        if 1 <= d < n - 1:
            break
    private = f"{d:064x}"
    signer = sm2.CryptSM2(private_key=private, public_key="")
    public = signer._kg(d, sm2.default_ecc_table["g"])  # gmssl has no public helper
    return private, public


def sm2_key(private: str, public: str) -> sm2.CryptSM2:
    """A gmssl SM2 object for ``public`` (hex x||y, optionally ``04``-prefixed).

    The key is set after construction: gmssl 3.2's constructor drops the ``04`` prefix with
    ``str.lstrip("04")``, which on a key whose x starts with ``04`` (one in 256) also eats the
    following ``0``/``4`` digits, so signing or verifying with it failed or raised.
    """
    key = sm2.CryptSM2(private_key=private, public_key="")
    key.public_key = bare_public(public)
    return key


def bare_public(public: str) -> str:
    """x||y in lower-case hex, without the uncompressed-point prefix ``04`` if it has one."""
    public = public.lower()
    return public[2:] if len(public) == 130 and public.startswith("04") else public


def _compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True)


def sign_record(record: LabelRecord, signing: SigningConfig, role: Role,
                content_digest: str | None = None) -> str:
    """The SecurityData string for ReservedCode1 (producer) or ReservedCode2 (propagator).

    ``content_digest`` is :func:`content_hash` of the neutral-record file (None: no binding).
    """
    md = message_for(record, role)
    bindings: list[dict[str, Any]] = []
    if content_digest is not None:
        bindings.append({"Type": "Bnd", "AlgID": SM3 if signing.algorithm == "sm2" else SHA256,
                         "CntSel": CNTSEL, "Value": content_digest})
    tbs = [("Md", md)] + [("Bnd", _compact(b).encode("ascii")) for b in bindings]
    body: dict[str, Any] = {"Type": "TC260PG", "Version": "1.0"}
    if bindings:
        body["Bindings"] = bindings
    if signing.algorithm == "sm2":
        signer = sm2_key(signing.private_key, signing.public_key)
        entries: list[dict[str, Any]] = [{"Type": "PubKey", "AlgID": SM2_SM3,
                                          "KeyID": signing.key_id, "KeyValue": signer.public_key}]
        for kind, message in tbs:
            entries.append({"Type": "DS", "AlgID": SM2_SM3, "KeyID": signing.key_id,
                            "Signature": signer.sign_with_sm3(message),
                            "TBSData": {"Type": kind}})
        body["PubSD"] = entries
    else:
        body["PrivSD"] = [
            {"Type": "MAC", "AlgID": HMAC_SHA256, "KeyID": signing.key_id,
             "Signature": hmac.new(signing.key, message, hashlib.sha256).hexdigest(),
             "TBSData": {"Type": kind}}
            for kind, message in tbs
        ]
    return _compact({"SecurityData": body})


@dataclass(frozen=True, slots=True)
class FieldVerdict:
    """Outcome of verifying one reserved code."""

    state: SignatureState
    algorithm: str | None = None
    key_id: str | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "algorithm": self.algorithm, "key_id": self.key_id,
                "reason": self.reason}


def _parse_security_data(value: str) -> dict[str, Any] | None:
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("SecurityData"), dict):
        return None
    body = data["SecurityData"]
    return body if body.get("Type") == "TC260PG" else None


def verify_field(record: LabelRecord, role: Role, digest_for: Callable[[str], str] | None,
                 keys: VerifyKeys | None = None) -> FieldVerdict:
    """Verify ReservedCode1 (producer) or ReservedCode2 (propagator) of ``record``.

    ``digest_for(algorithm)`` returns the current content digest ("sm2" -> SM3, else SHA-256);
    ``keys`` maps key ids to HMAC secrets or pinned SM2 public keys. A value that is not our
    SecurityData (another vendor's opaque code) is ``unverified``.
    """
    value = record.reserved_code1 if role == "producer" else record.reserved_code2
    if not value:
        return FieldVerdict("absent")
    body = _parse_security_data(value)
    if body is None:
        return FieldVerdict("unverified", reason="not a TC260PG SecurityData value")
    try:
        return _verify_body(body, message_for(record, role), digest_for,
                            keys if keys is not None else {})
    except (KeyError, TypeError, ValueError, AttributeError, LabelFormatError) as exc:
        return FieldVerdict("invalid", reason=f"malformed SecurityData: {exc}")


def _verify_body(body: dict[str, Any], md: bytes, digest_for: Callable[[str], str] | None,
                 keys: VerifyKeys) -> FieldVerdict:
    bindings = body.get("Bindings") or []
    messages = {"Md": md}
    for binding in bindings:
        messages["Bnd"] = _compact(binding).encode("ascii")
    if "PubSD" in body:
        algorithm = "sm2"
        entries = body["PubSD"]
        pub = next((e for e in entries if e["Type"] == "PubKey"), None)
        if pub is None:
            return FieldVerdict("invalid", algorithm, None, "no public key entry")
        key_id, public = str(pub["KeyID"]), str(pub["KeyValue"])
        pinned = keys.get(key_id)
        if isinstance(pinned, str) and bare_public(pinned) != bare_public(public):
            return FieldVerdict("invalid", algorithm, key_id, "public key differs from pinned key")
        verifier = sm2_key("", public)
        signatures = [e for e in entries if e["Type"] == "DS"]

        def check(entry: dict[str, Any], message: bytes) -> bool:
            return bool(verifier.verify_with_sm3(str(entry["Signature"]), message))
    else:
        algorithm = "hmac-sha256"
        signatures = list(body["PrivSD"])
        if not signatures:
            return FieldVerdict("invalid", algorithm, None, "no MAC entry")
        key_id = str(signatures[0]["KeyID"])
        secret = keys.get(key_id)
        if not isinstance(secret, bytes):
            return FieldVerdict("unverified", algorithm, key_id, "no HMAC key for this key id")

        def check(entry: dict[str, Any], message: bytes) -> bool:
            expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, str(entry["Signature"]))

    kinds = {e["TBSData"]["Type"] for e in signatures}
    if "Md" not in kinds:
        return FieldVerdict("invalid", algorithm, key_id, "no metadata signature")
    for entry in signatures:
        kind = entry["TBSData"]["Type"]
        if kind not in messages or not check(entry, messages[kind]):
            return FieldVerdict("invalid", algorithm, key_id, f"{kind} signature does not verify")
    for binding in bindings:
        if digest_for is None:
            return FieldVerdict("unverified", algorithm, key_id, "content binding not checked")
        if binding.get("CntSel") != CNTSEL:
            return FieldVerdict("unverified", algorithm, key_id, "unknown content selection")
        if digest_for(algorithm) != binding["Value"]:
            return FieldVerdict("invalid", algorithm, key_id, "content changed since signing")
    return FieldVerdict("valid", algorithm, key_id)
