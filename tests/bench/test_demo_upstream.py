"""The demo upstream speaks the real wire formats: checked with the official SDKs as clients."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator

import anthropic
import httpx
import mutagen
import openai
import orjson
import pytest
import soundfile
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from service.demo_upstream import create_app, run_in_background, split_text
from tests.support.server import serve

PROMPT = "你好，world: 讲个故事"
REPLY = "Echo: " + PROMPT


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(create_app(chunks=7)) as url:
        yield url


@pytest.fixture
def oai(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key="demo", max_retries=0)


@pytest.fixture
def claude(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="demo", max_retries=0)


USER = [{"role": "system", "content": "be brief"}, {"role": "user", "content": PROMPT}]


@given(st.text(max_size=60), st.integers(min_value=1, max_value=40))
def test_split_text_keeps_text_and_count(text: str, chunks: int) -> None:
    pieces = split_text(text, chunks)
    assert "".join(pieces) == text
    assert len(pieces) == max(1, min(chunks, len(text)))
    sizes = [len(p) for p in pieces]
    assert max(sizes) - min(sizes) <= 1


def test_chat_non_stream_with_several_choices(oai: openai.OpenAI) -> None:
    out = oai.chat.completions.create(model="m1", messages=USER, n=3)
    assert [c.index for c in out.choices] == [0, 1, 2]
    assert all(c.message.content == REPLY and c.finish_reason == "stop" for c in out.choices)
    assert out.model == "m1" and out.object == "chat.completion"
    assert out.usage is not None and out.usage.completion_tokens == 7 * 3


def test_chat_stream_chunks_and_usage_chunk(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="m", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text_pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(text_pieces) == REPLY
    assert len(text_pieces) == 7
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])


def test_chat_stream_raw_sse_ends_with_done(base_url: str) -> None:
    body = {"model": "m", "messages": USER, "stream": True, "n": 2}
    with httpx.stream("POST", base_url + "/v1/chat/completions", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    chunks = [orjson.loads(e.removeprefix("data: ")) for e in events[:-1]]
    for index in (0, 1):
        text = "".join(
            c["choices"][0]["delta"].get("content", "")
            for c in chunks
            if c["choices"][0]["index"] == index
        )
        assert text == REPLY
    assert all("usage" not in c for c in chunks)


def test_legacy_completions(oai: openai.OpenAI) -> None:
    assert oai.completions.create(model="m", prompt="abc").choices[0].text == "Echo: abc"
    chunks = list(oai.completions.create(model="m", prompt="abc", stream=True))
    assert "".join(c.choices[0].text for c in chunks) == "Echo: abc"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_responses_non_stream_and_stream(oai: openai.OpenAI) -> None:
    assert oai.responses.create(model="m", input=PROMPT).output_text == REPLY
    items = [{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}]
    with oai.responses.stream(model="m", input=items) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert final.output_text == REPLY and final.status == "completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 7


def test_anthropic_messages(claude: anthropic.Anthropic) -> None:
    blocks = [{"type": "text", "text": PROMPT}]
    msg = claude.messages.create(
        model="claude-x", max_tokens=50, messages=[{"role": "user", "content": blocks}]
    )
    assert msg.content[0].text == REPLY and msg.stop_reason == "end_turn"
    with claude.messages.stream(
        model="claude-x", max_tokens=50, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert final.content[0].text == REPLY
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    assert kinds.index("message_delta") == len(kinds) - 2


def test_anthropic_error_envelope(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(model="m", max_tokens=5, messages="nope")  # type: ignore[arg-type]
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "extra", "key"),
    [
        ("/api/chat", {"messages": USER}, "message"),
        ("/api/generate", {"prompt": PROMPT}, "response"),
    ],
)
def test_ollama_ndjson_and_single(base_url: str, path: str, extra: dict, key: str) -> None:
    def text(obj: dict) -> str:
        return obj[key]["content"] if key == "message" else obj[key]

    r = httpx.post(base_url + path, json={"model": "llama", **extra})
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = [orjson.loads(line) for line in r.text.splitlines()]
    assert "".join(text(x) for x in lines) == REPLY
    assert [x["done"] for x in lines] == [False] * 7 + [True]
    assert lines[-1]["done_reason"] == "stop" and lines[-1]["eval_count"] == 7
    single = httpx.post(base_url + path, json={"model": "llama", "stream": False, **extra}).json()
    assert text(single) == REPLY and single["done"] is True


def test_embeddings_base64_and_float(oai: openai.OpenAI, base_url: str) -> None:
    out = oai.embeddings.create(model="e", input=["a", "b"], dimensions=8)  # SDK asks base64
    assert [len(d.embedding) for d in out.data] == [8, 8]
    assert out.data[0].embedding != out.data[1].embedding
    raw = httpx.post(
        base_url + "/v1/embeddings", json={"model": "e", "input": "a", "dimensions": 8}
    )
    assert raw.json()["data"][0]["embedding"] == pytest.approx(out.data[0].embedding, rel=1e-6)


def test_images_b64_and_url(oai: openai.OpenAI) -> None:
    b64 = oai.images.generate(model="img", prompt="一只猫", n=2).data
    assert len(b64) == 2
    with Image.open(io.BytesIO(base64.b64decode(b64[0].b64_json or ""))) as image:
        assert image.format == "PNG" and image.size == (64, 64)
    url = oai.images.generate(model="img", prompt="一只猫", response_format="url").data[0].url
    fetched = httpx.get(url or "")
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.content == base64.b64decode(b64[0].b64_json or "")


@pytest.mark.parametrize(("fmt", "mime"), [("mp3", "audio/mpeg"), ("wav", "audio/wav")])
def test_speech_is_real_audio(oai: openai.OpenAI, fmt: str, mime: str) -> None:
    out = oai.audio.speech.create(model="tts", voice="alloy", input="你好", response_format=fmt)
    assert out.response.headers["content-type"] == mime
    audio = mutagen.File(io.BytesIO(out.content))
    assert audio is not None and 0.3 < audio.info.length < 1.0
    if fmt == "wav":
        samples, rate = soundfile.read(io.BytesIO(out.content))
        assert rate == 24000 and abs(samples).max() > 0.2


def test_models_and_not_found(oai: openai.OpenAI, base_url: str) -> None:
    assert [m.id for m in oai.models.list()] == ["demo-model"]
    assert httpx.get(base_url + "/v1/nothing").status_code == 404
    assert httpx.get(base_url + "/v1/chat/completions").status_code == 405
    bad = httpx.post(base_url + "/v1/chat/completions", content=b"{not json")
    assert bad.status_code == 400 and "error" in bad.json()
    assert httpx.post(base_url + "/api/chat", content=b"[]").json()["error"]


def test_delay_between_chunks() -> None:
    with run_in_background(chunks=5, delay=0.02) as upstream:
        client = openai.OpenAI(base_url=upstream.url + "/v1", api_key="x", max_retries=0)
        start = time.perf_counter()
        pieces = [c for c in client.chat.completions.create(model="m", messages=USER, stream=True)]
        assert time.perf_counter() - start >= 5 * 0.02
        assert len(pieces) == 1 + 5 + 1


def test_subprocess_with_workers() -> None:
    upstream = run_in_background(process=True, workers=2, chunks=3)
    try:
        client = openai.OpenAI(base_url=upstream.url + "/v1", api_key="x", max_retries=0)
        out = client.chat.completions.create(model="m", messages=USER, stream=True)
        assert len([c for c in out if c.choices and c.choices[0].delta.content]) == 3
    finally:
        upstream.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(upstream.url + "/health")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": {"x": 1}}]}),
        ("/v1/chat/completions", {"messages": [], "stream": True, "stream_options": "yes"}),
        ("/v1/chat/completions", {"messages": [], "n": 99}),
        ("/v1/responses", {"input": 5}),
        ("/v1/embeddings", {"input": []}),
        ("/v1/images/generations", {"prompt": 1}),
        ("/v1/audio/speech", {"input": "x", "response_format": "aac"}),
        ("/v1/messages", {"messages": [{"role": "user", "content": 3}]}),
        ("/api/generate", {"prompt": ["x"]}),
    ],
)
def test_malformed_fields_get_a_400(base_url: str, path: str, body: dict) -> None:
    r = httpx.post(base_url + path, json={"model": "m", **body})
    assert r.status_code == 400
    assert "error" in r.json()


def test_client_leaving_a_slow_stream_stops_it() -> None:
    app = create_app(chunks=50, delay=0.02)
    with serve(app) as url:
        body = {"model": "m", "messages": USER, "stream": True}
        with httpx.stream("POST", url + "/v1/chat/completions", json=body) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("data: ")
        deadline = time.monotonic() + 5
        while app.cancelled == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert app.cancelled == 1  # stopped long before its 50 * 20 ms were up
        with httpx.stream("POST", url + "/api/chat", json=body) as r:
            assert len(r.read().splitlines()) == len(split_text(REPLY, 50)) + 1
        assert app.cancelled == 1
