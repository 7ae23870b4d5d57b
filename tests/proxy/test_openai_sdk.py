"""The official `openai` SDK against the real gateway (gateways.md §9.7, OpenAI part)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.support.fake_upstream import FakeUpstream, split_bytes, sse
from tests.support.lexicon import BLOCK, MASK

from . import scripts

CHAT = "/v1/chat/completions"
NOTICE = "本内容由人工智能生成"


@pytest.fixture
def client(gateway: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway + "/v1", api_key="sk-test", max_retries=0, timeout=10)


def _ask(client: openai.OpenAI, **kw: object) -> object:
    return client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        **kw,  # type: ignore[arg-type]
    )


def test_blocked_prompt_is_a_400_in_the_openai_envelope(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": BLOCK}])
    assert info.value.status_code == 400
    assert info.value.code == "content_policy_violation"
    assert fake.requests == []


def test_whole_reply_masked_and_labeled(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.json(CHAT, scripts.chat_json(f"这是{MASK}。"))
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == f"【{NOTICE}】\n\n这是****。"
    assert raw.headers["x-aigc-decision"] == "mask"
    label = raw.headers["x-aigc-label"]
    assert '"Label":"1"' in label and '"ProduceID":"chatcmpl-fake"' in label


def test_term_split_across_chunks_and_utf8_bytes(client: openai.OpenAI, fake: FakeUpstream) -> None:
    pieces = scripts.chat_stream(["前", MASK[0], MASK[1:3], MASK[3] + "后"], usage=True)
    fake.stream(CHAT, split_bytes(b"".join(pieces), 1))  # every byte its own network write
    chunks = list(_ask(client, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"【{NOTICE}】\n\n前****后"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 10  # usage kept, last


def test_block_mid_stream_ends_with_content_filter_usage_and_done(
    gateway: str, fake: FakeUpstream
) -> None:
    pieces = scripts.chat_stream(["安全", BLOCK[:1], BLOCK[1:4], BLOCK[4:], "泄露"], usage=True)
    fake.stream(CHAT, pieces)
    body = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
    }
    with httpx.stream("POST", gateway + CHAT, json=body) as r:
        raw = r.read().decode()
    assert BLOCK[1:] not in raw and "泄露" not in raw
    events = [e for e in raw.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert '"finish_reason":"content_filter"' in events[-3]
    assert '"usage":{' in events[-2] and '"choices":[]' in events[-2]
    # and through the SDK
    fake.stream(CHAT, pieces)
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="k", max_retries=0)
    chunks = list(_ask(client, stream=True, stream_options={"include_usage": True}))
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "content_filter"
    assert chunks[-1].usage is not None


def test_block_cancels_the_upstream(client: openai.OpenAI, fake: FakeUpstream) -> None:
    pieces = scripts.chat_stream(["a", BLOCK, "继续"])[:-2]  # no finish: the upstream goes on
    fake.stream(CHAT, pieces, endless=True)
    chunks = list(_ask(client, stream=True))
    assert chunks[-1].choices[0].finish_reason == "content_filter"
    assert fake.cancelled.wait(5), "the upstream request was not cancelled"


def test_client_disconnect_cancels_the_upstream(gateway: str, fake: FakeUpstream) -> None:
    fake.stream(CHAT, scripts.chat_stream(["hello"] * 3)[:-2], endless=True)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", gateway + CHAT, json=body) as r:
        next(r.iter_bytes())
    assert fake.cancelled.wait(5), "the upstream request was not cancelled"


def _tool_stream(term: str) -> list[bytes]:
    args = '{"q": "' + term + '"}'
    chunks = [
        scripts.chat_chunk(
            [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": ""},
                            }
                        ],
                    },
                    "finish_reason": None,
                }
            ]
        )
    ]
    for i in range(0, len(args), 3):
        chunks.append(
            scripts.chat_chunk(
                [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 3]}}]
                        },
                        "finish_reason": None,
                    }
                ]
            )
        )
    chunks += [
        scripts.chat_chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
        b"data: [DONE]\n\n",
    ]
    return chunks


def test_term_inside_tool_call_arguments(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.stream(CHAT, _tool_stream(MASK))
    got = ""
    contents = ""
    for c in _ask(client, stream=True):
        for tc in c.choices[0].delta.tool_calls or []:
            got += tc.function.arguments or ""
        contents += c.choices[0].delta.content or ""
    assert json.loads(got) == {"q": "****"}  # held whole, masked, sent re-serialised
    assert contents == ""  # tool-call-only turn: no explicit label

    fake.stream(CHAT, [b"".join(_tool_stream(BLOCK))])
    last = list(_ask(client, stream=True))[-1]
    assert last.choices[0].finish_reason == "content_filter"


def test_two_choices_interleaved_keep_their_own_state(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    a, b = ["x", MASK[:2], MASK[2:], "y"], [MASK[:2], "无关", MASK[2:]]
    chunks = []
    for i in range(4):
        if i < len(a):
            chunks.append(
                scripts.chat_chunk(
                    [{"index": 0, "delta": {"content": a[i]}, "finish_reason": None}]
                )
            )
        if i < len(b):
            chunks.append(
                scripts.chat_chunk(
                    [{"index": 1, "delta": {"content": b[i]}, "finish_reason": None}]
                )
            )
    chunks += [
        scripts.chat_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        scripts.chat_chunk([{"index": 1, "delta": {}, "finish_reason": "stop"}]),
        b"data: [DONE]\n\n",
    ]
    fake.stream(CHAT, chunks)
    texts = {0: "", 1: ""}
    for c in _ask(client, stream=True, n=2):
        for ch in c.choices:
            texts[ch.index] += ch.delta.content or ""
    label = f"【{NOTICE}】\n\n"
    assert texts[0] == label + "x****y"
    assert texts[1] == label + MASK[:2] + "无关" + MASK[2:]  # not a match: never contiguous


def test_upstream_error_mid_stream_is_passed_through(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    err = {"error": {"message": "overloaded", "type": "server_error", "code": "overloaded"}}
    fake.stream(CHAT, scripts.chat_stream(["hi"])[:2] + [sse(err)])
    with pytest.raises(openai.APIError) as info:
        list(_ask(client, stream=True))
    assert "overloaded" in str(info.value)


def test_upstream_http_errors_are_relayed(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.json(
        CHAT,
        {"error": {"message": "slow down", "type": "rate_limit", "code": "rate"}},
        status=429,
        headers=[("retry-after", "7"), ("x-ratelimit-remaining-requests", "0")],
    )
    with pytest.raises(openai.RateLimitError) as info:
        _ask(client)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_upstream_down_is_502_and_slow_is_504(make_gateway, fake: FakeUpstream) -> None:  # noqa: ANN001
    from tests.support.server import free_port

    with make_gateway(upstream=f"http://127.0.0.1:{free_port()}") as base:
        c = openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.APIStatusError) as info:
            _ask(c)
        assert info.value.status_code == 502 and info.value.code == "upstream_error"
    fake.stream(CHAT, [b""], endless=True)
    with make_gateway(proxy={"timeout_s": 0.3}) as base:
        c = openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.APIStatusError) as info:
            _ask(c)
        assert info.value.status_code == 504 and info.value.code == "upstream_timeout"


def test_responses_sequence_numbers_and_final_output(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    fake.stream("/v1/responses", scripts.responses_stream(["前", MASK[:1], MASK[1:], "后"]))
    events = list(client.responses.create(model="m", input="hi", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    streamed = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert streamed == f"【{NOTICE}】\n\n前****后"
    done = [e for e in events if e.type == "response.output_text.done"][0]
    final = events[-1]
    assert final.type == "response.completed"
    assert done.text == streamed == final.response.output_text

    fake.stream("/v1/responses", scripts.responses_stream(["前", BLOCK[:2], BLOCK[2:], "后"]))
    events = list(client.responses.create(model="m", input="hi", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "content_filter"
    assert BLOCK not in events[-1].response.model_dump_json()


def test_legacy_completions_stream(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.stream("/v1/completions", scripts.completions_stream(["a", MASK[:3], MASK[3:], "b"]))
    text = "".join(
        c.choices[0].text for c in client.completions.create(model="m", prompt="p", stream=True)
    )
    assert text.endswith("a****b")


def test_embeddings_input_only(client: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.json(
        "/v1/embeddings",
        {
            "object": "list",
            "model": "e",
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
            "data": [{"object": "embedding", "embedding": [0.5, 0.25], "index": 0}],
        },
    )
    out = client.embeddings.create(model="e", input="hello", encoding_format="float")
    assert out.data[0].embedding == [0.5, 0.25]
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="e", input=["ok", BLOCK])


def test_models_passthrough_and_refusal(
    client: openai.OpenAI, fake: FakeUpstream, make_gateway
) -> None:  # noqa: ANN001
    fake.json(
        "/v1/models",
        {
            "object": "list",
            "data": [{"id": "m1", "object": "model", "created": 0, "owned_by": "x"}],
        },
    )
    assert [m.id for m in client.models.list()] == ["m1"]
    with make_gateway(proxy={"passthrough": False}) as base:
        r = httpx.get(base + "/v1/models")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_upstream_connection_lost_mid_stream_ends_with_an_error_event(
    gateway: str, fake: FakeUpstream
) -> None:
    fake.stream(CHAT, scripts.chat_stream(["hello", " world"])[:3], drop=True)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", gateway + CHAT, json=body) as r:
        raw = r.read().decode()
    assert r.status_code == 200
    last = [e for e in raw.split("\n\n") if e][-1]
    assert last.startswith('data: {"error"') and '"code":"upstream_error"' in last
    assert "hello" in raw


def test_responses_function_call_arguments_are_screened(
    client: openai.OpenAI, fake: FakeUpstream
) -> None:
    seq = iter(range(100))
    args = '{"q": "' + MASK + '"}'

    def ev(kind: str, **data: object) -> bytes:
        return sse({"type": kind, "sequence_number": next(seq), **data}, kind)

    item = {
        "id": "fc_1",
        "type": "function_call",
        "call_id": "call_1",
        "name": "f",
        "arguments": "",
        "status": "in_progress",
    }
    done_item = {**item, "arguments": args, "status": "completed"}
    base = scripts.responses_json("x")
    frames = [
        ev("response.created", response={**base, "status": "in_progress", "output": []}),
        ev("response.output_item.added", output_index=0, item=item),
    ]
    frames += [
        ev(
            "response.function_call_arguments.delta",
            item_id="fc_1",
            output_index=0,
            delta=args[i : i + 3],
        )
        for i in range(0, len(args), 3)
    ]
    frames += [
        ev("response.function_call_arguments.done", item_id="fc_1", output_index=0, arguments=args),
        ev("response.output_item.done", output_index=0, item=done_item),
        ev("response.completed", response={**base, "output": [done_item]}),
    ]
    fake.stream("/v1/responses", frames)
    events = list(client.responses.create(model="m", input="hi", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    streamed = "".join(
        e.delta for e in events if e.type == "response.function_call_arguments.delta"
    )
    assert json.loads(streamed) == {"q": "****"}
    assert events[-1].response.output[0].arguments == streamed
