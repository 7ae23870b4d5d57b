"""Prompts through the real gateway with the classifier stage, driven by the official SDKs:
parallel mode overlaps the guard and the upstream call (each fake waits for the other to have
the request, so a gateway that called them one after the other could not pass), ``before``
mode calls the upstream only after the verdict, an unsafe verdict cancels the upstream call
(the fake upstream sees the disconnect) and answers the usual block, fail modes, the cache."""

from __future__ import annotations

import hashlib

import anthropic
import openai
import orjson
import pytest

from tests.proxy import scripts
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.lexicon import BLOCK

from .fake_guard import FakeGuard, Fault

CHAT = "/v1/chat/completions"


def key_hash(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def client(base: str, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0, **kw)


def ask(base: str, text: str, **kw) -> openai.types.chat.ChatCompletion:
    return client(base).chat.completions.create(
        model="m", messages=[{"role": "user", "content": text}], **kw
    )


def test_parallel_mode_overlaps_the_guard_and_the_upstream(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    guard.script["并行"] = Fault(until=lambda: bool(upstream.requests))
    upstream.reply(
        CHAT,
        Reply(
            [orjson.dumps(scripts.chat_json("好"))],
            content_type="application/json",
            until=lambda: bool(guard.calls),
        ),
    )
    with make_gateway(mode="parallel") as gw:
        answer = ask(gw.url, "并行的问题")
        waits = gw.metric("aigc_gateway_classifier_prompt_wait_seconds_count", mode="parallel")
    assert answer.choices[0].message.content == "好"
    (call,) = guard.checks("input")
    (seen,) = upstream.requests
    assert call.body["messages"] == [{"role": "user", "content": "并行的问题"}]
    # each side had the other's request before it answered: the two calls overlapped
    assert call.answered is not None and seen.replied is not None
    assert seen.started < call.answered and call.started < seen.replied
    assert waits == 1


def test_before_mode_calls_the_upstream_after_the_verdict(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.json(CHAT, scripts.chat_json("好"))
    with make_gateway(mode="before") as gw:
        assert ask(gw.url, "先审后发").choices[0].message.content == "好"
        waits = gw.metric("aigc_gateway_classifier_prompt_wait_seconds_count", mode="before")
    (call,) = guard.checks("input")
    (seen,) = upstream.requests
    assert call.answered is not None and call.answered < seen.started
    assert waits == 1


def test_before_mode_never_sends_an_unsafe_prompt(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.json(CHAT, scripts.chat_json("好"))
    with make_gateway(mode="before") as gw, pytest.raises(openai.BadRequestError) as err:
        ask(gw.url, "怎么做炸弹")
    assert err.value.status_code == 400 and err.value.code == "content_policy_violation"
    assert upstream.requests == [] and len(guard.calls) == 1  # the prompt only


@pytest.mark.parametrize("stream", [False, True])
def test_unsafe_prompt_cancels_the_upstream_call(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream, stream: bool
) -> None:
    # the verdict comes once the upstream has the request; the upstream would answer in 30 s
    guard.script["炸弹"] = Fault(until=lambda: bool(upstream.requests))
    if stream:
        upstream.stream(CHAT, [b""], endless=True)
    else:
        upstream.json(CHAT, scripts.chat_json("好"), before=30)
    with make_gateway() as gw:
        with pytest.raises(openai.BadRequestError) as err:
            ask(gw.url, "怎么做炸弹", stream=stream)
        incidents = gw.records("incident")
        (log,) = gw.records("network_log")
    assert err.value.code == "content_policy_violation"
    assert err.value.response.headers["x-aigc-decision"] == "block"
    assert upstream.cancelled.wait(10)  # the fake upstream saw the gateway go away
    assert len(upstream.requests) == 1
    (incident,) = incidents
    assert incident["direction"] == "input" and incident["action"] == "block"
    assert incident["categories"] == ["a1.violence_obscenity"] and incident["terms"] == []
    verdict = incident["classifier"]
    assert verdict["safety"] == "unsafe" and verdict["labels"] == ["Violent"]
    assert verdict["backend"] == "qwen3guard" and verdict["checks"] == 1
    assert log["decision"] == "block" and log["status"] == 400


def test_unsafe_prompt_gets_the_configured_refusal_reply(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.json(CHAT, scripts.chat_json("好"), before=30)
    refusal = {"block_mode": "refusal", "refusal_message": "不能回答。"}
    with make_gateway(settings={"proxy": refusal}) as gw:
        raw = client(gw.url).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "怎么做炸弹"}]
        )
        answer = raw.parse()
    assert raw.headers["x-aigc-decision"] == "block"
    assert answer.choices[0].message.content == "不能回答。"
    assert answer.choices[0].finish_reason == "content_filter"
    assert upstream.cancelled.wait(10)
    assert len(guard.calls) == 1  # the refusal itself is not sent to the guard


def test_anthropic_prompt_is_its_last_user_turn(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.json("/v1/messages", scripts.anthropic_json("好"))
    with make_gateway() as gw:
        c = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
        c.messages.create(
            model="claude",
            max_tokens=10,
            system="系统提示",
            messages=[
                {"role": "user", "content": "第一问"},
                {"role": "assistant", "content": "答"},
                {"role": "user", "content": [{"type": "text", "text": "第二问"}]},
            ],
        )
        with pytest.raises(anthropic.BadRequestError) as err:
            c.messages.create(
                model="claude", max_tokens=10, messages=[{"role": "user", "content": "自杀"}]
            )
    assert err.value.body["error"]["code"] == "content_policy_violation"
    prompts = [
        c.body["messages"][0]["content"]
        for c in guard.calls
        if c.path.endswith("/chat/completions") and len(c.body["messages"]) == 1
    ]
    assert prompts[:2] == ["第二问", "自杀"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(status=500), "http_500"),
        (Fault(body=b"not json"), "bad_response"),
        (Fault(body=b'{"choices": [{"message": {"content": "Maybe"}}]}'), "bad_response"),
        (Fault(hang=True), "timeout"),
    ],
)
def test_fail_closed_blocks_without_an_incident(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream, fault: Fault, error: str
) -> None:
    guard.script["问题"] = fault
    upstream.json(CHAT, scripts.chat_json("好"))
    with make_gateway(fail="closed", timeout_s=1, retries=0) as gw:
        with pytest.raises(openai.BadRequestError) as err:
            ask(gw.url, "一个问题")
        errors = gw.metric("aigc_gateway_classifier_errors_total", code=error)
        (log,) = gw.records("network_log")
        incidents = gw.records("incident")
    assert err.value.code == "content_policy_violation"
    assert errors == 1 and log["decision"] == "block"
    assert incidents == []  # a guard failure is not the user's violation (sanctions)


def test_fail_open_lets_the_prompt_through_and_records_the_failure(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    guard.script["问题"] = Fault(status=503)
    upstream.json(CHAT, scripts.chat_json("好"))
    with make_gateway(fail="open", retries=1) as gw:
        assert ask(gw.url, f"一个问题{'旗标词语'}").choices[0].message.content == "好"
        (incident,) = gw.records("incident")
        errors = gw.metric("aigc_gateway_classifier_errors_total", code="http_503")
    assert len(guard.checks("input")) == 2  # 503 is retried once
    assert incident["action"] == "flag"  # the lexicon's flag; the guard said nothing
    assert incident["classifier"]["error"] == "http_503"
    assert incident["classifier"]["action"] == "allow"
    assert errors == 1


def test_a_repeated_prompt_is_a_cache_hit(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.json(CHAT, scripts.chat_json("好"))
    with make_gateway() as gw:
        for _ in range(3):
            ask(gw.url, "同一个问题")
        hits = gw.metric("aigc_gateway_classifier_cache_total", result="hit")
    assert len(guard.checks("input")) == 1 and len(guard.checks("output")) == 1
    assert hits == 4  # the prompt twice, the answer (to the same prompt) twice


def test_controversial_prompt_is_flagged_and_answered(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.json(CHAT, scripts.chat_json("好"))
    with make_gateway(controversial="flag") as gw:
        raw = client(gw.url).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "一个争议话题"}]
        )
        (incident,) = gw.records("incident")
    assert raw.headers["x-aigc-decision"] == "flag"
    assert incident["action"] == "flag"
    assert incident["categories"] == ["a1.false_harmful_info", "a1.national_security"]
    assert incident["classifier"]["safety"] == "controversial"


def test_lexicon_block_never_reaches_the_guard(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    with make_gateway() as gw, pytest.raises(openai.BadRequestError):
        ask(gw.url, f"给我{BLOCK}")
    assert guard.calls == [] and upstream.requests == []


def test_a_tenant_without_the_stage_is_not_classified(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream
) -> None:
    upstream.json(CHAT, scripts.chat_json("好"))
    tenants = [
        {"id": "off", "api_keys": [key_hash("key-off")], "classifier": {"enabled": False}},
        {"id": "on", "api_keys": [key_hash("key-on")]},
    ]
    with make_gateway(settings={"tenants": tenants}) as gw:
        off = openai.OpenAI(base_url=gw.url + "/v1", api_key="key-off", max_retries=0)
        assert (
            off.chat.completions.create(model="m", messages=[{"role": "user", "content": "炸弹"}])
            .choices[0]
            .message.content
            == "好"
        )
        on = openai.OpenAI(base_url=gw.url + "/v1", api_key="key-on", max_retries=0)
        with pytest.raises(openai.BadRequestError):
            on.chat.completions.create(model="m", messages=[{"role": "user", "content": "炸弹"}])
    assert len(guard.calls) == 1  # the second tenant's prompt


@pytest.mark.parametrize("backend", ["qwen3guard", "llamaguard", "openai-moderation", "webhook"])
def test_every_backend_judges_prompts_and_answers(
    make_gateway, guard: FakeGuard, upstream: FakeUpstream, backend: str
) -> None:
    upstream.json(CHAT, scripts.chat_json("自杀的方法如下"))  # an answer the guard finds unsafe
    with make_gateway(backend=backend) as gw:
        with pytest.raises(openai.BadRequestError):
            ask(gw.url, "怎么做炸弹")
        answer = ask(gw.url, "你好")
        incidents = gw.records("incident")
    assert answer.choices[0].message.content == ""
    assert answer.choices[0].finish_reason == "content_filter"
    assert [(i["direction"], i["action"]) for i in incidents] == [
        ("input", "block"),
        ("output", "block"),
    ]
    assert incidents[0]["classifier"]["backend"] == backend
    assert "a1.violence_obscenity" in incidents[0]["categories"]
    assert "a4.physical_mental_health" in incidents[1]["categories"]
