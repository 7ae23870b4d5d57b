"""ReservedCode1/2 SecurityData: HMAC-SHA256 and SM2/SM3, tamper detection."""

from __future__ import annotations

import io
import json

import pytest
from gmssl import sm2
from hypothesis import given, settings
from hypothesis import strategies as st

from labelers import (
    LabelRecord,
    LabelSettings,
    SigningConfig,
    generate_sm2_keypair,
    inspect_file,
    label_file,
    propagate_file,
)
from labelers.integrity import content_hash, message_for, sign_record, verify_field

from .doc_support import PRODUCER, PROPAGATOR, make_pdf

KEY = b"0123456789abcdef0123456789abcdef"
PRIVATE, PUBLIC = generate_sm2_keypair()
HMAC = SigningConfig("hmac-sha256", "k1", key=KEY)
SM2 = SigningConfig("sm2", "sm2-1", private_key=PRIVATE, public_key=PUBLIC)
RECORD = LabelRecord("1", PRODUCER, "4f1c2a9e")


def _digest(content: bytes):
    return lambda algorithm: content_hash(content, algorithm)


@pytest.mark.parametrize("config", [HMAC, SM2], ids=["hmac", "sm2"])
def test_sign_and_verify(config: SigningConfig) -> None:
    code = sign_record(RECORD, config, "producer", content_hash(b"content", config.algorithm))
    signed = RECORD.replace(reserved_code1=code)  # Annex E charset accepted it
    assert len(code) <= 2048
    body = json.loads(code)["SecurityData"]
    assert body["Type"] == "TC260PG" and body["Version"]
    verdict = verify_field(signed, "producer", _digest(b"content"), {"k1": KEY})
    assert verdict.state == "valid", verdict.reason
    assert verify_field(signed, "producer", _digest(b"c0ntent"), {"k1": KEY}).state == "invalid"
    assert verify_field(signed, "propagator", None, {"k1": KEY}).state == "absent"


def test_sm2_layout_matches_pg_sec() -> None:
    code = sign_record(RECORD, SM2, "producer", None)
    entries = json.loads(code)["SecurityData"]["PubSD"]
    pub = next(e for e in entries if e["Type"] == "PubKey")
    ds = next(e for e in entries if e["Type"] == "DS")
    assert pub["AlgID"] == ds["AlgID"] == "1.2.156.10197.1.501"
    assert pub["KeyValue"] == PUBLIC and len(ds["Signature"]) == 128  # r||s hex
    assert ds["TBSData"] == {"Type": "Md"}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["label", "content_producer", "produce_id"]), st.integers(0, 50),
       st.sampled_from([HMAC, SM2]))
def test_any_changed_producer_field_is_caught(field: str, pos: int, config: SigningConfig) -> None:
    code = sign_record(RECORD, config, "producer", None)
    signed = RECORD.replace(reserved_code1=code)
    old = getattr(signed, field)
    if field == "label":
        new = "2" if old == "1" else "1"
    else:
        i = pos % len(old)
        new = old[:i] + ("Z" if old[i] != "Z" else "Y") + old[i + 1 :]
    tampered = signed.replace(**{field: new})
    assert verify_field(tampered, "producer", None, {"k1": KEY}).state == "invalid"


def test_hmac_without_key_is_unverified_and_wrong_key_invalid() -> None:
    signed = RECORD.replace(reserved_code1=sign_record(RECORD, HMAC, "producer", None))
    assert verify_field(signed, "producer", None, {}).state == "unverified"
    assert verify_field(signed, "producer", None, {"k1": b"x" * 32}).state == "invalid"


def test_pinned_sm2_key_mismatch_is_invalid() -> None:
    signed = RECORD.replace(reserved_code1=sign_record(RECORD, SM2, "producer", None))
    other = generate_sm2_keypair()[1]
    assert verify_field(signed, "producer", None, {"sm2-1": other}).state == "invalid"
    assert verify_field(signed, "producer", None, {"sm2-1": PUBLIC}).state == "valid"


def test_foreign_and_malformed_values() -> None:
    vendor = RECORD.replace(reserved_code1="e862483430d978cbf828b8b24296ef9328d843a0")
    assert verify_field(vendor, "producer", None).state == "unverified"
    broken = RECORD.replace(reserved_code1='{"SecurityData":{"Type":"TC260PG","PubSD":[]}}')
    assert verify_field(broken, "producer", None).state == "invalid"


@pytest.mark.parametrize("config", [HMAC, SM2], ids=["hmac", "sm2"])
def test_end_to_end_pdf_content_and_field_tampering(config: SigningConfig) -> None:
    s = LabelSettings(PRODUCER, signing=config)
    out = label_file(make_pdf(text="Hello world"), settings=s)
    report = inspect_file(out.data, verify_key=KEY)
    assert report.signatures["producer"].state == "valid"
    # one changed content byte (same length, so the file still parses)
    assert out.data.count(b"(Hello world 1)") == 1
    changed = out.data.replace(b"(Hello world 1)", b"(Hellp world 1)")
    assert inspect_file(changed, verify_key=KEY).signatures["producer"].state == "invalid"
    # one changed field byte in both carriers
    pid = out.record.produce_id.encode()
    forged = out.data.replace(pid, pid[:-1] + (b"0" if pid[-1:] != b"0" else b"1"))
    assert inspect_file(forged, verify_key=KEY).signatures["producer"].state == "invalid"


def test_propagator_signature_and_producer_binding_survive_propagation() -> None:
    s = LabelSettings(PRODUCER, signing=SM2)
    out = label_file(make_pdf(), settings=s)
    prop = propagate_file(out.data, propagator_code=PROPAGATOR, propagate_id="p-1",
                          settings=s.replace(signing=HMAC))
    report = inspect_file(prop.data, verify_key={"k1": KEY})
    assert report.signatures["producer"].state == "valid"
    assert report.signatures["propagator"].state == "valid"
    assert report.record.reserved_code1 == out.record.reserved_code1


def _wav() -> bytes:
    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    tone = 0.2 * np.sin(np.linspace(0, 2000, 32000)).astype("float32")
    sf.write(buf, tone, 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").resize((320, 240)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("make", [_wav, _jpeg], ids=["wav", "jpeg"])
def test_content_binding_catches_a_changed_media_byte(make) -> None:
    s = LabelSettings(PRODUCER, signing=SM2)
    out = label_file(make(), settings=s)
    assert inspect_file(out.data).signatures["producer"].state == "valid"
    data = bytearray(out.data)
    pos = len(data) - 200  # PCM samples / entropy-coded scan data near the end
    data[pos] ^= 0x01
    report = inspect_file(bytes(data))
    assert report.record == out.record  # the label itself still reads back
    assert report.signatures["producer"].state == "invalid"


def test_sm2_keys_whose_x_starts_with_04_sign_and_verify() -> None:
    """gmssl's constructor strips a ``04`` prefix with ``lstrip``, eating x's leading digits."""
    private, public = generate_sm2_keypair()
    while not public.startswith("04"):  # one key in 256
        private, public = generate_sm2_keypair()
    config = SigningConfig("sm2", "sm2-x", private_key=private, public_key=public)
    for _ in range(3):  # a fresh random k each time
        code = sign_record(RECORD, config, "producer", None)
        signed = RECORD.replace(reserved_code1=code)
        assert verify_field(signed, "producer", None, {"sm2-x": public}).state == "valid"
        ds = next(e for e in json.loads(code)["SecurityData"]["PubSD"] if e["Type"] == "DS")
        independent = sm2.CryptSM2(private_key="", public_key="")
        independent.public_key = public  # gmssl's verify, the key set past its constructor
        message = message_for(RECORD, "producer")
        assert independent.verify_with_sm3(ds["Signature"], message)
