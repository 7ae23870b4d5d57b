"""Generated images and speech reach the client labeled (GB 45438), read back independently."""

from __future__ import annotations

import base64
import io

import httpx
import openai
from PIL import Image

from tests.support.fake_upstream import FakeUpstream, Reply

from . import scripts

IMAGES = "/v1/images/generations"


def _xmp_label(data: bytes) -> str:
    """The TC260 AIGC property, read with Pillow's own XMP access (not the labelers library)."""
    img = Image.open(io.BytesIO(data))
    xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp") or b""
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
    assert "tc260" in text.lower(), text[:200]
    return text


def test_b64_image_is_labeled(gateway: str, fake: FakeUpstream) -> None:
    fake.json(
        IMAGES,
        {"created": 1, "data": [{"b64_json": base64.b64encode(scripts.png_bytes(256)).decode()}]},
    )
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="k", max_retries=0)
    raw = client.images.with_raw_response.generate(
        model="img", prompt="a cat", response_format="b64_json"
    )
    data = base64.b64decode(raw.parse().data[0].b64_json)
    assert "ProduceID" in _xmp_label(data)
    assert '"Label":"1"' in raw.headers["x-aigc-label"]


def test_url_image_fetched_from_upstream_only_and_served_labeled(
    gateway: str, fake: FakeUpstream, upstream_url: str
) -> None:
    fake.reply("/files/cat.png", Reply([scripts.png_bytes(256)], content_type="image/png"))
    fake.json(IMAGES, {"created": 1, "data": [{"url": upstream_url + "/files/cat.png"}]})
    r = httpx.post(gateway + IMAGES, json={"model": "img", "prompt": "a cat"})
    assert r.status_code == 200, r.text
    url = r.json()["data"][0]["url"]
    assert url.startswith(gateway + "/v1/aigc/files/")
    image = httpx.get(url)
    assert image.headers["content-type"] == "image/png"
    _xmp_label(image.content)

    fake.json(IMAGES, {"created": 1, "data": [{"url": "http://169.254.169.254/latest/meta-data"}]})
    r = httpx.post(gateway + IMAGES, json={"model": "img", "prompt": "a cat"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "label_failed"


def test_image_url_size_limit(make_gateway, fake: FakeUpstream, upstream_url: str) -> None:  # noqa: ANN001
    import random

    noise = Image.frombytes("RGB", (128, 128), random.Random(1).randbytes(128 * 128 * 3))
    buf = io.BytesIO()
    noise.save(buf, "PNG")
    assert len(buf.getvalue()) > 1024
    fake.reply("/files/big.png", Reply([buf.getvalue()], content_type="image/png"))
    fake.json(IMAGES, {"created": 1, "data": [{"url": upstream_url + "/files/big.png"}]})
    with make_gateway(proxy={"media_max_bytes": 1024}) as base:
        r = httpx.post(base + IMAGES, json={"model": "img", "prompt": "a cat"})
    assert r.status_code == 502 and "larger than" in r.json()["error"]["message"]


def test_speech_is_labeled(gateway: str, fake: FakeUpstream) -> None:
    fake.reply("/v1/audio/speech", Reply([scripts.wav_bytes()], content_type="audio/wav"))
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="k", max_retries=0)
    audio = client.audio.speech.create(
        model="tts", voice="alloy", input="你好", response_format="wav"
    )
    data = audio.read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    # walk the RIFF chunks ourselves: the implicit label is an 'AIGC' chunk
    pos, chunks = 12, {}
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks[cid] = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    assert b"AIGC" in chunks and b'"Label":"1"' in chunks[b"AIGC"].replace(b" ", b"")
    assert len(data) > len(scripts.wav_bytes())  # the audible notice was added too


def test_unlabelable_output_is_not_delivered(gateway: str, fake: FakeUpstream) -> None:
    fake.reply("/v1/audio/speech", Reply([b"not audio at all"], content_type="audio/mpeg"))
    r = httpx.post(gateway + "/v1/audio/speech", json={"model": "tts", "voice": "v", "input": "hi"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "label_failed"
    assert b"not audio at all" not in r.content
