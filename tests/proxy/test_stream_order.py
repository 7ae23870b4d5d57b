"""Issue 11 items 3-4: per-choice state for n > 1, the explicit label before any delivered
text whenever a block comes, and no empty deltas while text is held back."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson

from tests.support.fake_upstream import FakeUpstream, split_bytes, sse
from tests.support.lexicon import BLOCK, MASK

from . import scripts

CHAT = "/v1/chat/completions"
NOTICE = "【本内容由人工智能生成】"


def chunk(index: int, delta: dict, finish: str | None = None) -> bytes:
    return scripts.chat_chunk([{"index": index, "delta": delta, "finish_reason": finish}])


def events(raw: bytes) -> list[dict]:
    out = []
    for frame in raw.split(b"\n\n"):
        for line in frame.split(b"\n"):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                out.append(orjson.loads(line[6:]))
    return out


def _stream(gateway: str, path: str, body: dict) -> bytes:
    with httpx.stream("POST", gateway + path, json={**body, "stream": True}) as r:
        return r.read()


CHAT_BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_n2_block_in_one_choice_ends_only_that_choice(fake: FakeUpstream, gateway: str) -> None:
    frames = [
        chunk(0, {"role": "assistant", "content": ""}),
        chunk(1, {"role": "assistant", "content": ""}),
        chunk(0, {"content": "安全" + BLOCK[:2]}),
        chunk(1, {"content": "第二个"}),
        chunk(0, {"content": BLOCK[2:] + "泄露"}),
        chunk(1, {"content": "回答继续"}),
        chunk(0, {"content": "更多泄露"}),
        chunk(1, {}, "stop"),
        chunk(0, {}, "stop"),
        b"data: [DONE]\n\n",
    ]
    fake.stream(CHAT, frames)
    raw = _stream(gateway, CHAT, {**CHAT_BODY, "n": 2})
    assert BLOCK[2:].encode() not in raw and "泄露".encode() not in raw
    texts: dict[int, str] = {0: "", 1: ""}
    finish: dict[int, list] = {0: [], 1: []}
    for ev in events(raw):
        for c in ev["choices"]:
            texts[c["index"]] += c["delta"].get("content") or ""
            if c.get("finish_reason"):
                finish[c["index"]].append(c["finish_reason"])
    assert finish == {0: ["content_filter"], 1: ["stop"]}
    assert texts[1] == NOTICE + "\n\n第二个回答继续"
    assert texts[0] in ("", NOTICE + "\n\n安全")
    assert raw.endswith(b"data: [DONE]\n\n")
    assert not fake.cancelled.is_set()  # the other choice was still streaming


def test_n2_through_the_sdk(gateway: str, fake: FakeUpstream) -> None:
    frames = [
        chunk(0, {"content": f"甲{MASK}"}),
        chunk(1, {"content": BLOCK}),
        chunk(0, {}, "stop"),
    ]
    frames += [chunk(1, {}, "stop"), b"data: [DONE]\n\n"]
    fake.stream(CHAT, split_bytes(b"".join(frames), 3))
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="k", max_retries=0)
    got: dict[int, Any] = {}
    for c in client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True, n=2
    ):
        for ch in c.choices:
            text, reason = got.get(ch.index, ("", None))
            got[ch.index] = (text + (ch.delta.content or ""), ch.finish_reason or reason)
    assert got[0] == (NOTICE + "\n\n甲****", "stop")
    assert got[1] == ("", "content_filter")


def test_label_precedes_text_when_the_block_is_in_the_first_chunk(
    fake: FakeUpstream, gateway: str
) -> None:
    for path, frames, read in (
        (
            CHAT,
            [chunk(0, {"content": "安全的话" + BLOCK})],
            lambda ev: ev.get("choices", [{}])[0].get("delta", {}).get("content"),
        ),
        (
            "/v1/completions",
            [
                sse(
                    {
                        "id": "c",
                        "object": "text_completion",
                        "choices": [
                            {"index": 0, "text": "安全的话" + BLOCK, "finish_reason": None}
                        ],
                    }
                )
            ],
            lambda ev: (ev.get("choices") or [{}])[0].get("text"),
        ),
    ):
        fake.reset()
        fake.stream(path, frames, endless=True)
        body = CHAT_BODY if path == CHAT else {"model": "m", "prompt": "p"}
        raw = _stream(gateway, path, body)
        text = "".join(read(ev) or "" for ev in events(raw))
        assert BLOCK not in text
        assert text in ("", NOTICE + "\n\n安全的话"), text
        assert fake.cancelled.wait(5)


def test_label_precedes_reasoning_text_too(fake: FakeUpstream, gateway: str) -> None:
    frames = [
        chunk(0, {"reasoning_content": "想"}),
        chunk(0, {"content": "答"}),
        chunk(0, {}, "stop"),
    ]
    fake.stream(CHAT, frames + [b"data: [DONE]\n\n"])
    raw = _stream(gateway, CHAT, CHAT_BODY)
    first = next(ev for ev in events(raw) if ev["choices"] and ev["choices"][0]["delta"])
    assert first["choices"][0]["delta"]["content"] == NOTICE + "\n\n"
    assert first["choices"][0]["delta"]["reasoning_content"] == "想"


def test_end_label_is_delivered_before_a_block_ending(
    make_gateway: Any, fake: FakeUpstream
) -> None:
    fake.stream(
        CHAT, [chunk(0, {"content": "前面的话"}), chunk(0, {"content": BLOCK})], endless=True
    )
    with make_gateway(labels={"text_position": "end"}) as base:
        raw = _stream(base, CHAT, CHAT_BODY)
    text = "".join(
        (ev["choices"][0]["delta"].get("content") or "") for ev in events(raw) if ev["choices"]
    )
    assert text == "前面的话\n\n" + NOTICE


def test_hold_back_sends_no_empty_deltas(fake: FakeUpstream, gateway: str) -> None:
    # every piece could still start a term: they are held, then released together
    pieces = [MASK[0], MASK[1], MASK[2], "不是", BLOCK[0], BLOCK[1], "结束"]
    fake.stream(CHAT, scripts.chat_stream(pieces))
    raw = _stream(gateway, CHAT, CHAT_BODY)
    for ev in events(raw):
        for c in ev["choices"]:
            delta = c["delta"]
            assert delta or c["finish_reason"], ev
            assert delta.get("content") != "" or "role" in delta, ev
    text = "".join(c["delta"].get("content") or "" for ev in events(raw) for c in ev["choices"])
    assert text == NOTICE + "\n\n" + "".join(pieces)

    fake.stream("/v1/messages", scripts.anthropic_stream(pieces))
    raw = _stream(
        gateway,
        "/v1/messages",
        {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    )
    for ev in events(raw):
        if ev["type"] == "content_block_delta":
            assert ev["delta"].get("text"), ev

    fake.stream("/v1/responses", scripts.responses_stream(pieces))
    raw = _stream(gateway, "/v1/responses", {"model": "m", "input": "hi"})
    evs = events(raw)
    assert [e["sequence_number"] for e in evs] == list(range(len(evs)))
    assert all(e["delta"] for e in evs if e["type"] == "response.output_text.delta")

    fake.stream("/api/chat", scripts.ollama_stream(pieces), content_type="application/x-ndjson")
    with httpx.stream("POST", gateway + "/api/chat", json={"model": "l", "messages": []}) as r:
        lines = [orjson.loads(line) for line in r.iter_lines() if line]
    assert all(line["message"]["content"] or line["done"] for line in lines)


def test_end_label_closes_a_blocked_answer_in_every_protocol(
    make_gateway: Any, fake: FakeUpstream
) -> None:
    with make_gateway(labels={"text_position": "end"}) as base:
        fake.stream(
            "/v1/responses", scripts.responses_stream(["前面的话", BLOCK, "后"])[:-4], endless=True
        )
        raw = _stream(base, "/v1/responses", {"model": "m", "input": "hi"})
        evs = events(raw)
        text = "".join(e["delta"] for e in evs if e["type"] == "response.output_text.delta")
        assert text == "前面的话\n\n" + NOTICE and evs[-1]["type"] == "response.incomplete"
        assert evs[-1]["response"]["output"][0]["content"][0]["text"] == text

        fake.stream(
            "/v1/messages", scripts.anthropic_stream(["前面的话", BLOCK])[:-3], endless=True
        )
        raw = _stream(base, "/v1/messages", {"model": "c", "max_tokens": 5, "messages": []})
        texts = [e["delta"]["text"] for e in events(raw) if e["type"] == "content_block_delta"]
        assert "".join(texts) == "前面的话\n\n" + NOTICE

        fake.stream(
            "/api/chat",
            scripts.ollama_stream(["前面的话", BLOCK]),
            content_type="application/x-ndjson",
        )
        with httpx.stream("POST", base + "/api/chat", json={"model": "l", "messages": []}) as r:
            lines = [orjson.loads(line) for line in r.iter_lines() if line]
        assert "".join(x["message"]["content"] for x in lines) == "前面的话\n\n" + NOTICE
        assert lines[-1]["done_reason"] == "content_filter"


def _responses_refusal_stream(pieces: list[str]) -> list[bytes]:
    """A Responses stream whose only output is a refusal part, as the API sends one."""
    full = "".join(pieces)
    part = {"type": "refusal", "refusal": full}
    item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed"}
    done = scripts.responses_json("x") | {"output": [item | {"content": [part]}]}
    at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    evs: list[dict] = [
        {"type": "response.created", "response": done | {"status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": item | {"content": []}},
        {"type": "response.content_part.added", **at, "part": {"type": "refusal", "refusal": ""}},
        *({"type": "response.refusal.delta", **at, "delta": p} for p in pieces),
        {"type": "response.refusal.done", **at, "refusal": full},
        {"type": "response.content_part.done", **at, "part": part},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": item | {"content": [part]},
        },
        {"type": "response.completed", "response": done},
    ]
    return [sse(ev | {"sequence_number": n}, ev["type"]) for n, ev in enumerate(evs)]


def test_label_goes_on_a_refusal_alone(fake: FakeUpstream, gateway: str) -> None:
    """A refusal is displayed text: with no content before it, the notice opens it (whole
    answers and streams, Chat and Responses)."""
    body = scripts.chat_json("x")
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": "不行"}
    fake.json(CHAT, body)
    got = httpx.post(gateway + CHAT, json=CHAT_BODY).json()["choices"][0]["message"]
    assert got["refusal"] == NOTICE + "\n\n不行" and not got["content"]

    fake.stream(CHAT, [chunk(0, {"refusal": "不"}), chunk(0, {"refusal": "行"}, "stop")])
    deltas = [ev["choices"][0]["delta"] for ev in events(_stream(gateway, CHAT, CHAT_BODY))]
    assert "".join(d.get("refusal") or "" for d in deltas) == NOTICE + "\n\n不行"
    assert not "".join(d.get("content") or "" for d in deltas)

    refusal = {"type": "refusal", "refusal": "不行"}
    item = {"type": "message", "id": "m", "role": "assistant", "content": [refusal]}
    fake.json("/v1/responses", scripts.responses_json("x") | {"output": [item]})
    got = httpx.post(gateway + "/v1/responses", json={"model": "m", "input": "hi"}).json()
    assert got["output"][0]["content"][0]["refusal"] == NOTICE + "\n\n不行"

    fake.stream("/v1/responses", _responses_refusal_stream(["不", "行"]))
    evs = events(_stream(gateway, "/v1/responses", {"model": "m", "input": "hi"}))
    text = "".join(e["delta"] for e in evs if e["type"] == "response.refusal.delta")
    assert text == NOTICE + "\n\n不行"
    last = evs[-1]
    assert last["type"] == "response.completed"
    assert last["response"]["output"][0]["content"][0]["refusal"] == text


def test_label_is_the_content_of_a_whole_answer_with_reasoning_alone(
    fake: FakeUpstream, gateway: str
) -> None:
    """Reasoning cut short by max_tokens is displayed text: the notice goes in the content,
    as a stream sends it beside the first reasoning chunk."""
    body = scripts.chat_json("x")
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "reasoning": "想"}
    fake.json(CHAT, body)
    got = httpx.post(gateway + CHAT, json=CHAT_BODY).json()["choices"][0]["message"]
    assert got["content"] == NOTICE + "\n\n" and got["reasoning"] == "想"

    answer = scripts.ollama_json("")
    answer["message"]["thinking"] = "想"
    fake.json("/api/chat", answer)
    got = httpx.post(gateway + "/api/chat", json={"model": "l", "messages": [], "stream": False})
    assert got.json()["message"]["content"] == NOTICE + "\n\n", got.text
