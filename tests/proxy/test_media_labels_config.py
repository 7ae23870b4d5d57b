"""Labels enabled without a producer code: the gateway delivers no generated content rather
than a record with an empty ``ContentProducer`` — the same 503 ``labels_not_configured`` as
``POST /label``, in each protocol's envelope, before the model API is contacted. Routes with
nothing to label keep working; ``/readyz`` says which state labels are in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json

import httpx
import openai
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.lexicon import BLOCK

from . import scripts
from .conftest import PRODUCER

UNSET = {"producer_code": ""}


def _key_hash(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def test_labeled_routes_answer_503_before_the_upstream(
    make_gateway, fake: FakeUpstream
) -> None:  # noqa: ANN001
    fake.json("/v1/embeddings", {"object": "list", "data": [
        {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}], "model": "e"})
    fake.json("/v1/batches", {"object": "list", "data": []})
    with make_gateway(labels=UNSET) as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.InternalServerError) as err:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert err.value.status_code == 503 and err.value.code == "labels_not_configured"
        assert "labels.producer_code" in err.value.message
        calls = [
            ("POST", "/v1/completions", {"model": "m", "prompt": "hi"}),
            ("POST", "/v1/responses", {"model": "m", "input": "hi"}),
            ("POST", "/v1/images/generations", {"model": "m", "prompt": "a cat"}),
            ("POST", "/v1/audio/speech", {"model": "m", "input": "hi", "voice": "v"}),
            ("POST", "/v1/videos", {"model": "sora-2", "prompt": "a cat"}),
            ("GET", "/v1/videos/video_1/content", None),
            ("POST", "/api/chat", {"model": "m", "messages": [{"role": "user", "content": "x"}]}),
        ]
        for method, path, body in calls:
            r = httpx.request(method, base + path, json=body)
            assert r.status_code == 503, (path, r.text)
            assert "labels_not_configured" in r.text and "x-aigc-label" not in r.headers
        r = httpx.post(base + "/v1/messages", json={
            "model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 503
        assert r.json()["type"] == "error"  # Anthropic's own envelope
        assert r.json()["error"]["code"] == "labels_not_configured"
        assert fake.requests == []  # nothing reached the model API
        # nothing to label: served
        assert httpx.post(base + "/v1/embeddings", json={"model": "e", "input": "x"}) \
            .status_code == 200
        assert httpx.get(base + "/v1/batches").status_code == 200
        ready = httpx.get(base + "/readyz")
        assert ready.json()["labels"]["state"] == "labels_not_configured"
        assert ready.json()["labels"]["tenants_affected"] == 1
    with make_gateway() as base:
        assert httpx.get(base + "/readyz").json()["labels"] == {
            "state": "ok", "reason": None, "tenants_affected": 0}


def test_blocked_prompt_is_still_a_400_and_recorded(
    make_gateway, fake: FakeUpstream
) -> None:  # noqa: ANN001
    """Unconfigured labels change nothing for a blocked prompt: the 400 (also with
    ``block_mode = "refusal"``, whose reply would need a label) and its incident record."""
    token = "admin-token-for-tests-0123456789"
    with make_gateway(labels=UNSET, proxy={"block_mode": "refusal"}, admin_token=token) as base:
        r = httpx.post(base + "/v1/chat/completions", headers={"x-aigc-user": "u1"},
                       json={"model": "m", "messages": [{"role": "user", "content": BLOCK}]})
        export = httpx.get(base + "/admin/export", params={"format": "jsonl"},
                           headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "content_policy_violation"
    assert "x-aigc-label" not in r.headers and fake.requests == []
    kinds = [json.loads(line)["kind"] for line in export.text.splitlines() if line.strip()]
    assert "incident" in kinds and "label_delivery" not in kinds


def test_tenant_codes_and_switches(
    make_gateway, fake: FakeUpstream, tmp_path
) -> None:  # noqa: ANN001
    """A tenant's own producer code (and explicit text) labels its output, text and images; a
    tenant with labels off is served unlabeled; a tenant with neither is refused."""
    from tests.labelers.image_support import encode, exiftool, gradient, ocr

    tenants = [
        {"id": "own", "api_keys": [_key_hash("own-key")],
         "labels": {"producer_code": PRODUCER, "explicit_text": "AI合成内容"}},
        {"id": "off", "api_keys": [_key_hash("off-key")], "labels": {"enabled": False}},
        {"id": "none", "api_keys": [_key_hash("none-key")]},
    ]
    fake.json("/v1/chat/completions", scripts.chat_json("答案"))
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with make_gateway(labels=UNSET, tenants=tenants) as base:
        own = httpx.post(base + "/v1/chat/completions", json=body,
                         headers={"authorization": "Bearer own-key"})
        off = httpx.post(base + "/v1/chat/completions", json=body,
                         headers={"authorization": "Bearer off-key"})
        none = httpx.post(base + "/v1/chat/completions", json=body,
                          headers={"authorization": "Bearer none-key"})
        ready = httpx.get(base + "/readyz").json()
        png = encode(gradient(400, 300), "PNG")
        fake.json("/v1/images/generations",
                  {"created": 1, "data": [{"b64_json": base64.b64encode(png).decode()}]})
        image = httpx.post(base + "/v1/images/generations", json={"model": "i", "prompt": "猫"},
                           headers={"authorization": "Bearer own-key"})
    assert image.status_code == 200, image.text
    labeled = base64.b64decode(image.json()["data"][0]["b64_json"])
    assert any("AI合成内容" in t for t, _ in ocr(labeled))
    (tmp_path / "own.png").write_bytes(labeled)
    (view,) = exiftool([tmp_path / "own.png"], tmp_path)
    assert json.loads(view["XMP-TC260:AIGC"])["ContentProducer"] == PRODUCER
    assert own.status_code == 200
    assert json.loads(own.headers["x-aigc-label"])["ContentProducer"] == PRODUCER
    assert own.json()["choices"][0]["message"]["content"].startswith("【本内容由人工智能生成】")
    assert off.status_code == 200 and "x-aigc-label" not in off.headers
    assert off.json()["choices"][0]["message"]["content"] == "答案"
    assert none.status_code == 503 and none.json()["error"]["code"] == "labels_not_configured"
    assert ready["labels"]["tenants_affected"] == 1 and "none" not in json.dumps(ready["labels"])


def test_invalid_producer_code_is_503_label_config_invalid(
    make_gateway, fake: FakeUpstream
) -> None:  # noqa: ANN001
    with make_gateway(labels={"producer_code": "not-a-code"}) as base:
        r = httpx.post(base + "/v1/chat/completions",
                       json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        by_route = httpx.post(base + "/label", files={"file": ("a.png", scripts.png_bytes())})
    assert r.status_code == 503 and r.json()["error"]["code"] == "label_config_invalid"
    assert by_route.status_code == 503 and by_route.json()["error"]["code"] == r.json()[
        "error"]["code"]
    assert fake.requests == []


def test_proxy_images_honour_the_label_settings(
    make_gateway, fake: FakeUpstream, tmp_path
) -> None:  # noqa: ANN001
    """Settings the proxy ignored before the bridge: signing (verified by stdlib hmac),
    the explicit text and the tenant's producer code."""
    from tests.labelers.image_support import exiftool, gradient, ocr

    buf = io.BytesIO()
    gradient(400, 300).save(buf, "PNG")
    fake.json("/v1/images/generations",
              {"created": 1, "data": [{"b64_json": base64.b64encode(buf.getvalue()).decode()}]})
    key = "proxy-signing-key-0123456789"
    labels = {"signing": "hmac-sha256", "signing_key": key, "signing_key_id": "k9",
              "explicit_text": "人工智能合成"}
    with make_gateway(labels=labels) as base:
        r = httpx.post(base + "/v1/images/generations", json={"model": "i", "prompt": "a cat"})
    assert r.status_code == 200, r.text
    data = base64.b64decode(r.json()["data"][0]["b64_json"])
    (tmp_path / "p.png").write_bytes(data)
    (view,) = exiftool([tmp_path / "p.png"], tmp_path)
    record = json.loads(view["XMP-TC260:AIGC"])
    pid = json.loads(r.headers["x-aigc-label"])["ProduceID"]
    assert record["ProduceID"] == pid and record["ContentProducer"] == PRODUCER
    sd = json.loads(record["ReservedCode1"])["SecurityData"]
    message = f'"Label":"1","ContentProducer":"{PRODUCER}","ProduceID":"{pid}"'.encode()
    (mac,) = [e["Signature"] for e in sd["PrivSD"] if e["TBSData"]["Type"] == "Md"]
    assert mac == hmac.new(key.encode(), message, "sha256").hexdigest()
    assert any("人工智能合成" in t for t, _ in ocr(data))
