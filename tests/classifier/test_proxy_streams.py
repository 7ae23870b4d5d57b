"""Streamed answers through the real gateway with the classifier stage, in ``hold`` and
``async`` modes, with the official SDKs: where the cut falls, that nothing is released before
its verdict (hold: the client's receive time against the time the fake guard answered), the
per-choice cut with ``n > 1``, snapshots and endings per protocol, records and metrics.

Orderings that matter are made by the fakes, not by timing: the guard answers an unsafe
segment only once the client has received what comes before it (``until``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from service.config import DEMO_PRODUCER_CODE
from tests.proxy import scripts
from tests.support.fake_upstream import FakeUpstream, Reply, sse
from tests.support.lexicon import MASK

from .fake_guard import FakeGuard, Fault

CHAT = "/v1/chat/completions"
# sentences of at least 8 characters: one guard segment each
S1 = "今天的天气非常晴朗。"
S2 = "我们一起去公园散步吧。"
BAD = "顺便说说炸弹的做法。"  # the fake guard finds it unsafe (and every window that holds it)
S4 = "然后回家吃一顿晚饭。"


def chat(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0)


class Reader:
    """Reads a chat stream with the SDK, noting when each text arrived and the endings."""

    def __init__(self) -> None:
        self.text: dict[int, str] = {}
        self.finish: dict[int, str | None] = {}
        self.arrived: list[tuple[float, str]] = []
        self.seen = threading.Event()  # set once ``want`` has arrived
        self.want = ""

    def read(self, base: str, prompt: str = "讲个故事", **kw: Any) -> None:
        stream = chat(base).chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}], stream=True, **kw
        )
        for chunk in stream:
            for choice in chunk.choices:
                piece = choice.delta.content or ""
                if piece:
                    self.arrived.append((time.perf_counter(), piece))
                    self.text[choice.index] = self.text.get(choice.index, "") + piece
                    if self.want and self.want in self.text[choice.index]:
                        self.seen.set()
                if choice.finish_reason:
                    self.finish[choice.index] = choice.finish_reason


def test_hold_releases_each_segment_only_after_its_verdict(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.stream(CHAT, scripts.chat_stream([S1[:4], S1[4:] + S2[:3], S2[3:], S4]))
    reader = Reader()
    with make_gateway(stream_mode="hold") as gw:
        reader.read(gw.url)
        holdbacks = gw.metric("aigc_gateway_classifier_holdback_chars_count", mode="hold")
        ttft = gw.metric("aigc_gateway_classifier_ttft_added_seconds_count", mode="hold")
    assert reader.text == {0: S1 + S2 + S4} and reader.finish == {0: "stop"}
    windows = {c.body["messages"][1]["content"]: c for c in guard.checks("output")}
    assert list(windows) == [S1, S1 + S2, S1 + S2 + S4]  # each segment with its context
    first_time, first = reader.arrived[0]
    assert first.startswith(S1)  # whole segments only
    answered = windows[S1].answered
    assert answered is not None and first_time > answered  # released after its verdict
    assert holdbacks == 1 and ttft == 1


def test_hold_cuts_at_the_unsafe_segment_and_releases_nothing_after(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    reader = Reader()
    reader.want = S1 + S2
    guard.script["炸弹"] = Fault(until=reader.seen.is_set)
    pieces = scripts.chat_stream([S1, S2, BAD, S4])
    upstream.stream(CHAT, pieces[:-2], endless=True)  # no finish: the upstream must be cut
    with make_gateway(stream_mode="hold") as gw:
        reader.read(gw.url)
        (incident,) = gw.records("incident")
    assert reader.text == {0: S1 + S2}  # the safe segments before the unsafe one, nothing else
    assert reader.finish == {0: "content_filter"}
    assert upstream.cancelled.wait(10)
    assert incident["direction"] == "output" and incident["action"] == "block"
    assert incident["categories"] == ["a1.violence_obscenity"]
    assert incident["classifier"]["safety"] == "unsafe"
    assert incident["classifier"]["direction"] == "output"
    assert incident["stream_position"] >= len(S1 + S2)


def test_async_releases_at_once_and_cuts_on_the_verdict(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    reader = Reader()
    reader.want = BAD  # the guard answers once the client has the unsafe sentence itself
    guard.script["炸弹"] = Fault(until=reader.seen.is_set)
    pieces = scripts.chat_stream([S1, S2, BAD, S4])
    upstream.stream(CHAT, pieces[:4], endless=True)  # S4 never comes: the cut comes first
    with make_gateway(stream_mode="async") as gw:
        reader.read(gw.url)
        (incident,) = gw.records("incident")
    assert reader.text == {0: S1 + S2 + BAD}  # sent before the verdict: it stays sent
    assert reader.finish == {0: "content_filter"}
    assert upstream.cancelled.wait(10)
    assert incident["action"] == "block" and incident["classifier"]["safety"] == "unsafe"


def test_async_waits_for_every_verdict_before_the_end(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    reader = Reader()
    reader.want = BAD
    guard.script["炸弹"] = Fault(until=reader.seen.is_set)
    upstream.stream(CHAT, scripts.chat_stream([S1, BAD]))  # the upstream ends at once
    with make_gateway(stream_mode="async") as gw:
        reader.read(gw.url)
    assert reader.text == {0: S1 + BAD}
    assert reader.finish == {0: "content_filter"}  # the last segment's verdict still ended it


def test_n_choices_are_cut_one_by_one(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    def chunk(index: int, text: str | None, finish: str | None = None) -> bytes:
        delta = {"content": text} if text is not None else {}
        return scripts.chat_chunk([{"index": index, "delta": delta, "finish_reason": finish}])

    upstream.stream(
        CHAT,
        [
            chunk(0, S1),
            chunk(1, S1),
            chunk(0, S2),
            chunk(1, BAD),
            chunk(0, S4, "stop"),  # the last text comes with the finish
            chunk(1, S4, "stop"),
            b"data: [DONE]\n\n",
        ],
    )
    reader = Reader()
    with make_gateway(stream_mode="hold") as gw:
        reader.read(gw.url, n=2)
    assert reader.text[0] == S1 + S2 + S4 and reader.finish[0] == "stop"
    assert BAD not in reader.text.get(1, "") and S4 not in reader.text.get(1, "")
    assert reader.finish[1] == "content_filter"


def test_fail_closed_output_cuts_the_stream(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    guard.script["晴朗"] = Fault(status=500)
    upstream.stream(CHAT, scripts.chat_stream([S1, S2]))
    reader = Reader()
    with make_gateway(stream_mode="hold", fail_output="closed", retries=0) as gw:
        reader.read(gw.url)
        incidents = gw.records("incident")
        (log,) = gw.records("network_log")
    assert reader.text == {} and reader.finish == {0: "content_filter"}
    assert incidents == [] and log["decision"] == "block"


def test_fail_open_output_lets_the_stream_through(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    guard.script["晴朗"] = Fault(status=500)
    upstream.stream(CHAT, scripts.chat_stream([S1, S2]))
    reader = Reader()
    with make_gateway(stream_mode="hold", fail="closed", fail_output="open", retries=0) as gw:
        reader.read(gw.url)
    assert reader.text == {0: S1 + S2} and reader.finish == {0: "stop"}


@pytest.mark.parametrize("mode", ["hold", "async"])
def test_anthropic_stream_ends_with_a_refusal(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream, mode: str
) -> None:
    seen = threading.Event()
    guard.script["炸弹"] = Fault(until=seen.is_set)
    pieces = [S1, S2, BAD, S4] if mode == "hold" else [S1, S2, BAD]
    upstream.stream("/v1/messages", scripts.anthropic_stream(pieces))
    text = ""
    stops = []
    want = S1 + S2 if mode == "hold" else S1 + S2 + BAD
    with make_gateway(stream_mode=mode) as gw:
        c = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
        with c.messages.stream(
            model="claude", max_tokens=100, messages=[{"role": "user", "content": "讲"}]
        ) as stream:
            for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    text += event.delta.text
                    if want in text:
                        seen.set()
                elif event.type == "message_delta":
                    stops.append(event.delta.stop_reason)
    if mode == "hold":  # cut at the unsafe segment
        assert text == S1 + S2
    else:  # out before the verdict; the block's end waited for it: still the refusal
        assert text == S1 + S2 + BAD
    assert stops == ["refusal"]


def test_responses_snapshots_hold_exactly_the_streamed_text(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.stream("/v1/responses", scripts.responses_stream([S1[:3], S1[3:] + S2, S4]))
    deltas, done, completed = "", None, None
    with make_gateway(stream_mode="hold") as gw:
        stream = chat(gw.url).responses.create(model="m", input="讲", stream=True)
        sequence = []
        for event in stream:
            sequence.append(event.sequence_number)
            if event.type == "response.output_text.delta":
                deltas += event.delta
            elif event.type == "response.output_text.done":
                done = event.text
            elif event.type == "response.completed":
                completed = event.response.output_text
    assert deltas == done == completed == S1 + S2 + S4
    assert sequence == list(range(len(sequence)))


def test_ollama_final_line_text_is_judged_before_the_end(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    lines = scripts.ollama_stream([S1, S2])
    last = orjson.loads(lines[-1])
    last["message"]["content"] = BAD  # the final line carries text
    upstream.stream("/api/chat", [*lines[:-1], orjson.dumps(last) + b"\n"])
    with make_gateway(stream_mode="hold") as gw:
        r = httpx.post(
            gw.url + "/api/chat",
            json={"model": "llama", "messages": [{"role": "user", "content": "讲"}]},
            timeout=20,
        )
    got = [orjson.loads(line) for line in r.text.splitlines()]
    assert "".join(g["message"]["content"] for g in got) == S1 + S2
    assert got[-1]["done"] is True and got[-1]["done_reason"] == "content_filter"


def test_tool_call_arguments_are_judged_decoded(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    escaped = orjson.dumps({"q": BAD}).decode().replace("炸", "\\u70b8")
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
    upstream.stream(
        CHAT,
        [
            scripts.chat_chunk(
                [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]
            ),
            *[
                scripts.chat_chunk(
                    [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [{"index": 0, "function": {"arguments": part}}]
                            },
                            "finish_reason": None,
                        }
                    ]
                )
                for part in (escaped[:7], escaped[7:])
            ],
            scripts.chat_chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
            b"data: [DONE]\n\n",
        ],
    )
    with make_gateway(stream_mode="hold") as gw:
        r = httpx.post(
            gw.url + CHAT,
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "查"}]},
            timeout=20,
        )
    assert "70b8" not in r.text and "content_filter" in r.text
    windows = [c.body["messages"][1]["content"] for c in guard.checks("output")]
    assert any("炸弹" in w for w in windows)  # the guard read the decoded arguments


def test_whole_answer_choice_blocked_by_the_guard(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    body = scripts.chat_json(S1)
    body["choices"].append(
        {**body["choices"][0], "index": 1, "message": {"role": "assistant", "content": BAD}}
    )
    upstream.json(CHAT, body)
    with make_gateway() as gw:
        answer = chat(gw.url).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "讲"}], n=2
        )
        (incident,) = gw.records("incident")
    assert answer.choices[0].message.content == S1 and answer.choices[0].finish_reason == "stop"
    assert (
        answer.choices[1].message.content == ""
        and answer.choices[1].finish_reason == "content_filter"
    )
    assert incident["direction"] == "output" and incident["classifier"]["checks"] == 2


def test_stream_guard_keeps_the_upstream_error_event(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.reply(CHAT, Reply([*scripts.chat_stream([S1])[:2], sse("not json")]))
    with make_gateway(stream_mode="hold") as gw:
        r = httpx.post(
            gw.url + CHAT,
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "讲"}]},
            timeout=20,
        )
    assert "upstream_invalid_stream" in r.text and "[DONE]" not in r.text


def test_the_label_notice_goes_out_with_the_first_released_text(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    thought = "先想一想这个问题该怎么回答。"

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return scripts.chat_chunk([{"index": 0, "delta": delta, "finish_reason": finish}])

    upstream.stream(
        CHAT,
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning_content": thought}),  # the first displayed text is reasoning
            chunk({"content": S1}),
            chunk({}, "stop"),
            b"data: [DONE]\n\n",
        ],
    )
    notice = "本内容由人工智能生成"
    labels = {"text_position": "start", "producer_code": DEMO_PRODUCER_CODE}
    with make_gateway(stream_mode="hold", settings={"labels": labels}) as gw:
        r = httpx.post(
            gw.url + CHAT,
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "讲"}]},
            timeout=20,
        )
    deltas = [
        orjson.loads(line[6:])["choices"][0]["delta"]
        for line in r.text.splitlines()
        if line.startswith("data: {") and orjson.loads(line[6:])["choices"]
    ]
    first = next(d for d in deltas if d.get("reasoning_content"))
    assert first["reasoning_content"] == thought and notice in first["content"]
    content = "".join(d.get("content") or "" for d in deltas)
    assert content == first["content"] + S1


def test_masked_text_reaches_the_guard_masked(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream, tmp_path
) -> None:
    upstream.stream(CHAT, scripts.chat_stream([f"我的暗号是{MASK}，", "请记住它好吗。"]))
    reader = Reader()
    with make_gateway(stream_mode="hold") as gw:
        reader.read(gw.url)
    assert reader.text == {0: "我的暗号是****，请记住它好吗。"}
    windows = [c.body["messages"][1]["content"] for c in guard.checks("output")]
    assert windows and all(MASK not in w for w in windows)


def test_a_client_leaving_while_verdicts_are_awaited_cancels_everything(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    guard.script["晴朗"] = Fault(hang=True)  # no verdict until the gateway gives up
    upstream.stream(CHAT, scripts.chat_stream([S1])[:2], endless=True)
    with make_gateway(stream_mode="hold", timeout_s=60) as gw:
        with httpx.stream(
            "POST",
            gw.url + CHAT,
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "讲"}]},
            timeout=20,
        ) as r:
            assert r.status_code == 200
            deadline = time.monotonic() + 20
            while not guard.checks("output") and time.monotonic() < deadline:
                time.sleep(0.01)  # the gateway is now waiting for the verdict on S1
        assert upstream.cancelled.wait(20)
        deadline = time.monotonic() + 20
        while not guard.checks("output")[0].cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
    assert guard.checks("output")[0].cancelled  # the guard call was given up, not left hanging


def test_anthropic_whole_answer_blocked_by_the_guard(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.json("/v1/messages", scripts.anthropic_json(S1 + BAD))
    with make_gateway() as gw:
        c = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
        message = c.messages.create(
            model="claude", max_tokens=10, messages=[{"role": "user", "content": "讲"}]
        )
    assert message.content == [] and message.stop_reason == "refusal"
