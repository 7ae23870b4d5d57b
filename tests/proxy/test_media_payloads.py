"""Media inside text answers: chat audio (``message.audio.data``), data-URL images in content
parts (vLLM-Omni), Responses image-generation results. Labeled where they are through the
bridge and read back independently; raw PCM, corrupt files and streamed media are refused."""

from __future__ import annotations

import base64
import io
import math
import struct

import httpx
import openai
import pytest
from PIL import Image

from tests.support.fake_upstream import FakeUpstream, sse
from tests.support.lexicon import BLOCK, MASK

from . import scripts

CHAT = "/v1/chat/completions"


def riff_chunks(data: bytes) -> dict[bytes, bytes]:
    """Top-level RIFF chunks, walked by hand (shares no code with the labelers)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos, chunks = 12, {}
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks[cid] = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    return chunks


def pcm16(seconds: float = 0.3, rate: int = 24000) -> bytes:
    """Raw 16-bit PCM (what chat audio with ``format: "pcm16"`` carries): no container."""
    n = int(seconds * rate)
    return b"".join(struct.pack("<h", int(8000 * math.sin(i / 7))) for i in range(n))


def chat_audio(data: bytes, transcript: str = "你好") -> dict:
    audio = {
        "id": "audio_1",
        "data": base64.b64encode(data).decode(),
        "expires_at": 2,
        "transcript": transcript,
    }
    return scripts.chat_json(None, audio=audio) | {"id": "chatcmpl-audio"}


def _xmp(data: bytes) -> str:
    img = Image.open(io.BytesIO(data))
    xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp") or b""
    return xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)


def test_chat_audio_answer_is_labeled(gateway: str, fake: FakeUpstream) -> None:
    wav = scripts.wav_bytes(0.3)
    fake.json(CHAT, chat_audio(wav, transcript=f"好的{MASK}"))
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="k", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": "hi"}],
    )
    msg = raw.parse().choices[0].message
    data = base64.b64decode(msg.audio.data)
    chunks = riff_chunks(data)
    assert b'"ProduceID":"chatcmpl-audio"' in chunks[b"AIGC"].replace(b" ", b"")
    assert len(chunks[b"data"]) > len(riff_chunks(wav)[b"data"])  # the audible notice
    assert msg.audio.transcript == "好的****"  # the transcript is screened like any text
    assert '"Label":"1"' in raw.headers["x-aigc-label"]


def test_raw_pcm_and_corrupt_audio_are_refused(gateway: str, fake: FakeUpstream) -> None:
    cases = (
        (pcm16(), "raw PCM audio"),  # no container: nowhere to put a label
        (scripts.wav_bytes()[:40] + b"\xff" * 64, "(corrupt_file)"),  # a broken WAV
    )
    for data, why in cases:
        fake.json(CHAT, chat_audio(data))
        r = httpx.post(
            gateway + CHAT,
            json={
                "model": "m",
                "modalities": ["text", "audio"],
                "audio": {"format": "pcm16"},
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        assert r.status_code == 502 and r.json()["error"]["code"] == "label_failed", r.text
        assert why in r.json()["error"]["message"]
        assert base64.b64encode(data).decode()[:40] not in r.text


def test_streamed_media_is_refused_before_the_upstream(gateway: str, fake: FakeUpstream) -> None:
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="gpt-4o-audio-preview",
            modalities=["text", "audio"],
            stream=True,
            audio={"voice": "alloy", "format": "pcm16"},
            messages=[{"role": "user", "content": "hi"}],
        )
    assert err.value.code == "stream_not_labelable"
    r = httpx.post(
        gateway + "/v1/responses",
        json={
            "model": "gpt-5",
            "input": "draw a cat",
            "stream": True,
            "tools": [{"type": "image_generation"}],
        },
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "stream_not_labelable"
    assert fake.requests == []
    # a blocked prompt is still a content-policy refusal, whatever it asked for
    r = httpx.post(
        gateway + CHAT,
        json={
            "model": "m",
            "stream": True,
            "modalities": ["audio"],
            "messages": [{"role": "user", "content": BLOCK}],
        },
    )
    assert r.status_code == 400


def test_data_url_image_in_a_chat_answer_is_labeled(gateway: str, fake: FakeUpstream) -> None:
    """vLLM-Omni's image models answer chat with the image as a data URL content part."""
    png = scripts.png_bytes(128)
    part = {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
    }
    answer = scripts.chat_json("x")
    answer["choices"][0]["message"]["content"] = [part]
    fake.json(CHAT, answer)
    r = httpx.post(
        gateway + CHAT,
        json={"model": "qwen-image", "messages": [{"role": "user", "content": "a cat"}]},
    )
    assert r.status_code == 200, r.text
    url = r.json()["choices"][0]["message"]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    labeled = base64.b64decode(url.split(",", 1)[1])
    assert "chatcmpl-fake" in _xmp(labeled) and labeled != png


def test_responses_image_generation_result_is_labeled(gateway: str, fake: FakeUpstream) -> None:
    png = scripts.png_bytes(128)
    answer = scripts.responses_json("here it is")
    answer["output"].insert(
        0,
        {
            "type": "image_generation_call",
            "id": "ig_1",
            "status": "completed",
            "result": base64.b64encode(png).decode(),
        },
    )
    fake.json("/v1/responses", answer)
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="k", max_retries=0)
    response = client.responses.create(
        model="gpt-5", input="draw a cat", tools=[{"type": "image_generation"}]
    )
    image = base64.b64decode(response.output[0].result)
    assert "resp_fake" in _xmp(image)
    assert response.output_text.startswith("【本内容由人工智能生成】")


def test_labels_off_passes_media_as_is(make_gateway, fake: FakeUpstream) -> None:  # noqa: ANN001
    pcm = pcm16()
    fake.json(CHAT, chat_audio(pcm))
    with make_gateway(labels={"enabled": False}) as base:
        r = httpx.post(
            base + CHAT,
            json={
                "model": "m",
                "stream": False,
                "modalities": ["audio"],
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    assert r.status_code == 200
    assert base64.b64decode(r.json()["choices"][0]["message"]["audio"]["data"]) == pcm


def test_media_an_upstream_streams_unasked_is_not_relayed(gateway: str, fake: FakeUpstream) -> None:
    """Hostile shapes: audio deltas in a chat stream, a partial image in a Responses stream,
    when the request asked for neither (a labeled gateway never lets such requests through)."""
    secret = base64.b64encode(pcm16(0.05)).decode()
    frames = scripts.chat_stream(["开头"])
    frames.insert(
        2,
        scripts.chat_chunk(
            [
                {
                    "index": 0,
                    "delta": {"audio": {"id": "audio_1", "data": secret, "transcript": "x"}},
                    "finish_reason": None,
                }
            ]
        ),
    )
    fake.stream(CHAT, frames)
    with httpx.stream(
        "POST",
        gateway + CHAT,
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ) as r:
        raw = r.read()
    assert b"upstream_invalid_stream" in raw and secret[:40].encode() not in raw
    assert b"[DONE]" not in raw
    png = base64.b64encode(scripts.png_bytes(64)).decode()
    frames = scripts.responses_stream(["好"])
    frames.insert(
        2,
        sse_event(
            "response.image_generation_call.partial_image",
            {
                "type": "response.image_generation_call.partial_image",
                "sequence_number": 2,
                "output_index": 0,
                "item_id": "ig_1",
                "partial_image_index": 0,
                "partial_image_b64": png,
            },
        ),
    )
    fake.stream("/v1/responses", frames)
    with httpx.stream(
        "POST", gateway + "/v1/responses", json={"model": "m", "stream": True, "input": "hi"}
    ) as r:
        raw = r.read()
    assert b"upstream_invalid_stream" in raw and png[:40].encode() not in raw


def sse_event(kind: str, obj: dict) -> bytes:
    return sse(obj, kind)


def test_media_in_an_error_answer_is_not_relayed(gateway: str, fake: FakeUpstream) -> None:
    png = base64.b64encode(scripts.png_bytes(64)).decode()
    fake.json(
        CHAT,
        {
            "error": {
                "message": "see attached",
                "code": "x",
                "image": "data:image/png;base64," + png,
            }
        },
        status=400,
    )
    r = httpx.post(
        gateway + CHAT, json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert r.status_code == 502 and r.json()["error"]["code"] == "label_failed"
    assert png[:40] not in r.text
