"""C2PA manifests beside the TC260 record, read back by c2pa-python's Reader (c2pa-rs)."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from PIL import Image

from labelers import C2paConfig, LabelSettings, SigningConfig, inspect_file, label_file
from labelers.errors import LabelFormatError

from .audio_support import encode as encode_audio
from .audio_support import programme
from .c2pa_support import make_pki
from .image_support import encode, gradient, ocr

c2pa = pytest.importorskip("c2pa")
CODE = "001191110102MACQD9K64010000"
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _config() -> C2paConfig:
    chain, key = make_pki()
    return C2paConfig(cert_chain=chain, private_key=key)


def _read(data: bytes, media_type: str) -> tuple[str, dict]:
    with c2pa.Reader(media_type, io.BytesIO(data)) as reader:
        return str(reader.get_validation_state()), json.loads(reader.json())


@pytest.mark.parametrize(("fmt", "media_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"),
                                                 ("WEBP", "image/webp")])
def test_manifest_and_tc260_record_coexist(fmt: str, media_type: str) -> None:
    src = encode(gradient(320, 240), fmt)
    signing = SigningConfig("hmac-sha256", "k1", key=b"c2pa-test-secret-0123")
    plain = label_file(src, settings=LabelSettings(CODE, signing=signing), produce_id="p1")
    both = label_file(src, settings=LabelSettings(CODE, signing=signing, c2pa=_config()),
                      produce_id="p1")
    assert both.c2pa and not plain.c2pa
    state, store = _read(both.data, media_type)
    assert state == "Valid"  # signature and hard binding valid; the test CA is not trusted
    codes = [s["code"] for s in store.get("validation_status", [])]
    assert codes == ["signingCredential.untrusted"]
    manifest = store["manifests"][store["active_manifest"]]
    actions = [a for s in manifest["assertions"] if s["label"].startswith("c2pa.actions")
               for a in s["data"]["actions"]]
    assert actions == [{"action": "c2pa.created", "digitalSourceType": AI}]
    # the TC260 record: byte-identical with and without C2PA (same produce id, same signature)
    ours = inspect_file(both.data, verify_key=b"c2pa-test-secret-0123")
    theirs = inspect_file(plain.data, verify_key=b"c2pa-test-secret-0123")
    assert [f.raw for f in ours.found] == [f.raw for f in theirs.found]
    assert ours.compliant, ours.problems
    assert ours.signatures["producer"].state == "valid"  # content binding ignores the store
    assert ours.c2pa["state"] == "valid" and ours.c2pa["ai_actions"] == actions
    assert any("AI生成" in t for t, _ in ocr(both.data))


def test_tampering_after_signing_is_caught_by_the_c2pa_reader() -> None:
    out = label_file(encode(gradient(200, 160), "PNG"),
                     settings=LabelSettings(CODE, c2pa=_config())).data
    img = Image.open(io.BytesIO(out))
    assert img.size == (200, 160)
    tampered = bytearray(out)
    idat = out.index(b"IDAT")
    length = struct.unpack(">I", out[idat - 4:idat])[0]
    tampered[idat + 20] ^= 0xFF  # one byte of compressed pixels, chunk CRC fixed up
    crc = zlib.crc32(bytes(tampered[idat:idat + 4 + length]))
    tampered[idat + 4 + length:idat + 8 + length] = struct.pack(">I", crc)
    report = inspect_file(bytes(tampered))
    assert report.c2pa is not None and report.c2pa["state"] == "invalid"
    assert any("C2PA" in p for p in report.problems)


def test_c2pa_with_content_binding_refused_where_it_cannot_coexist() -> None:
    signing = SigningConfig("hmac-sha256", "k1", key=b"c2pa-test-secret-0123")
    with pytest.raises(LabelFormatError, match="content binding"):
        label_file(encode_audio(programme(1.0, 16000, 1), 16000, "WAV", "PCM_16"), settings=LabelSettings(CODE, signing=signing, c2pa=_config()))


def test_propagation_re_signs_with_the_received_file_as_ingredient() -> None:
    from labelers import propagate_file

    from .doc_support import PROPAGATOR

    key = b"c2pa-test-secret-0123"
    signing = SigningConfig("hmac-sha256", "k1", key=key)
    produced = label_file(encode(gradient(240, 180), "PNG"),
                          settings=LabelSettings(CODE, signing=signing, c2pa=_config())).data
    shared = propagate_file(produced, propagator_code=PROPAGATOR, propagate_id="post-1",
                            settings=LabelSettings(CODE, signing=signing, c2pa=_config()))
    assert shared.c2pa
    state, store = _read(shared.data, "image/png")
    assert state == "Valid" and len(store["manifests"]) == 2  # ours + the producer's
    active = store["manifests"][store["active_manifest"]]
    assert [i["relationship"] for i in active["ingredients"]] == ["parentOf"]
    report = inspect_file(shared.data, verify_key=key)
    assert report.compliant, report.problems
    assert {k: v.state for k, v in report.signatures.items()} == {"producer": "valid",
                                                                  "propagator": "valid"}
