"""The guard client against a real fake guard on loopback: every backend's wire format, and
production behaviour (deadline, retries, breaker, cache, concurrency limit, long texts)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import pytest

from service.classifier import ClassifierSettings, ClassifierStage, GuardClient, GuardError
from service.classifier.verdict import GuardInput
from tests.support.server import free_port

from .fake_guard import FakeGuard, Fault

BACKENDS = ["qwen3guard", "llamaguard", "openai-moderation", "webhook"]
EXPECTED_RISKS = {
    "qwen3guard": ("a1.violence_obscenity",),
    "llamaguard": ("a1.violence_obscenity", "a1.terrorism_extremism"),
    "openai-moderation": ("a1.violence_obscenity",),
    "webhook": ("a1.violence_obscenity",),
}

Make = Callable[..., ClassifierSettings]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_each_backend_end_to_end(guard: FakeGuard, make_settings: Make, backend: str) -> None:
    stage = ClassifierStage(make_settings(backend, api_key="guard-key-1"))
    cfg = stage.base
    try:
        unsafe = await stage.classify(
            cfg, "请告诉我 UNSAFE-VIOLENCE 的做法", "input", request_id="r1"
        )
        safe = await stage.classify(cfg, "今天杭州天气怎么样？", "input")
    finally:
        await stage.close()
    assert unsafe.action == "block" and unsafe.safety == "unsafe"
    assert unsafe.risks == EXPECTED_RISKS[backend]
    assert safe.action == "allow" and safe.safety == "safe" and safe.risks == ()
    assert unsafe.backend == backend and unsafe.model == cfg.effective_model
    call = guard.calls[0]
    assert call.headers["authorization"] == "Bearer guard-key-1"
    body = call.body
    if backend in ("qwen3guard", "llamaguard"):
        assert call.path.endswith("/v1/chat/completions")
        assert body["messages"] == [{"role": "user", "content": "请告诉我 UNSAFE-VIOLENCE 的做法"}]
        assert body["model"] == cfg.model and body["temperature"] == 0
    elif backend == "openai-moderation":
        assert call.path.endswith("/v1/moderations")
        assert body == {
            "model": "omni-moderation-latest",
            "input": "请告诉我 UNSAFE-VIOLENCE 的做法",
        }
    else:
        assert body == {
            "text": "请告诉我 UNSAFE-VIOLENCE 的做法",
            "direction": "input",
            "prompt": None,
            "model": "in-house-v2",
            "request_id": "r1",
        }


async def test_output_moderation_sends_the_prompt_and_reads_refusal(
    guard: FakeGuard, make_settings: Make
) -> None:
    stage = ClassifierStage(make_settings("qwen3guard"))
    try:
        v = await stage.classify(
            stage.base, "抱歉，我不能帮助你。", "output", prompt="怎么做 UNSAFE-VIOLENCE？"
        )
    finally:
        await stage.close()
    assert v.refusal is True and v.safety == "safe" and v.direction == "output"
    assert guard.calls[0].body["messages"] == [
        {"role": "user", "content": "怎么做 UNSAFE-VIOLENCE？"},
        {"role": "assistant", "content": "抱歉，我不能帮助你。"},
    ]


async def test_controversial_from_the_guard_is_flagged_by_default(
    guard: FakeGuard, make_settings: Make
) -> None:
    stage = ClassifierStage(make_settings("qwen3guard"))
    try:
        v = await stage.classify(stage.base, "聊聊 CONTROVERSIAL-POLITICS", "input")
    finally:
        await stage.close()
    assert (v.safety, v.action) == ("controversial", "flag")
    assert v.labels == ("Politically Sensitive Topics",)


@pytest.mark.parametrize(("fail", "action"), [("closed", "block"), ("open", "allow")])
async def test_a_hanging_guard_costs_at_most_the_deadline(
    guard: FakeGuard, make_settings: Make, fail: str, action: str
) -> None:
    guard.script["HANG"] = Fault(hang=True)
    stage = ClassifierStage(make_settings(timeout_s=0.3, fail=fail))
    try:
        v = await stage.classify(stage.base, "HANG 这句话", "input")
    finally:
        await stage.close()
    assert v.error == "timeout" and v.safety is None and v.action == action
    assert len(guard.calls) == 1  # a timeout is not retried


async def test_a_slow_answer_within_the_deadline_is_used(
    guard: FakeGuard, make_settings: Make
) -> None:
    guard.script["SLOW"] = Fault(delay=0.2)
    stage = ClassifierStage(make_settings(timeout_s=5))
    try:
        v = await stage.classify(stage.base, "SLOW UNSAFE-CRIME", "input")
    finally:
        await stage.close()
    assert v.action == "block" and v.error is None


@pytest.mark.parametrize(
    ("status", "retries", "calls", "error"),
    [
        (503, 1, 2, None),  # retried once, then the answer
        (502, 1, 2, None),
        (429, 1, 2, None),
        (500, 1, 1, "http_500"),  # not retried
        (400, 3, 1, "http_400"),
        (503, 0, 1, "http_503"),  # retries off
    ],
)
async def test_retries_only_where_safe(
    guard: FakeGuard, make_settings: Make, status: int, retries: int, calls: int, error: str | None
) -> None:
    guard.script["FLAKY"] = Fault(status=status, times=1)
    stage = ClassifierStage(make_settings(retries=retries))
    try:
        v = await stage.classify(stage.base, "FLAKY 文本", "input")
    finally:
        await stage.close()
    assert len(guard.calls) == calls
    assert v.error == error


async def test_retries_stop_after_the_configured_number(
    guard: FakeGuard, make_settings: Make
) -> None:
    guard.script["DOWN"] = Fault(status=503)
    stage = ClassifierStage(make_settings(retries=2))
    try:
        v = await stage.classify(stage.base, "DOWN", "input")
    finally:
        await stage.close()
    assert len(guard.calls) == 3 and v.error == "http_503" and v.action == "block"


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b'{"choices": [{"message": {"content": "I would rather not say."}}]}',
        b'{"choices": []}',
        b"[]",
        b'{"choices": [{"message": {"content": null}}]}',
    ],
)
async def test_malformed_answers_fail_by_the_fail_mode(
    guard: FakeGuard, make_settings: Make, body: bytes
) -> None:
    guard.script["ODD"] = Fault(body=body)
    stage = ClassifierStage(make_settings())
    try:
        v = await stage.classify(stage.base, "ODD", "input")
    finally:
        await stage.close()
    assert v.error == "bad_response" and v.action == "block"
    assert len(guard.calls) == 1


async def test_an_unreachable_guard_fails_by_the_fail_mode() -> None:
    port = free_port()
    for fail, action in (("closed", "block"), ("open", "allow")):
        cfg = ClassifierSettings(
            backend="qwen3guard", url=f"http://127.0.0.1:{port}/v1", model="m", fail=fail
        )
        stage = ClassifierStage(cfg)
        try:
            v = await stage.classify(cfg, "你好", "input")
        finally:
            await stage.close()
        assert v.error == "unreachable" and v.action == action


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_circuit_breaker_opens_then_tries_one_call(
    guard: FakeGuard, make_settings: Make
) -> None:
    guard.script["BROKEN"] = Fault(status=500)
    client = GuardClient(make_settings(breaker_failures=3, breaker_reset_s=30, retries=0))
    clock = Clock()
    client.breaker.clock = clock
    try:
        for _ in range(3):
            with pytest.raises(GuardError) as info:
                await client.check(GuardInput("BROKEN 1"))
            assert info.value.code == "http_500"
        assert client.breaker.state == "open"
        with pytest.raises(GuardError) as info:
            await client.check(GuardInput("一句正常的话"))
        assert info.value.code == "circuit_open"
        assert len(guard.calls) == 3  # the open circuit did not call the guard
        clock.now += 31  # half-open: one trial; it fails and the circuit opens again
        with pytest.raises(GuardError):
            await client.check(GuardInput("BROKEN 2"))
        assert client.breaker.state == "open" and len(guard.calls) == 4
        clock.now += 31  # the next trial succeeds and closes it
        result, cached = await client.check(GuardInput("一句正常的话"))
        assert result.safety == "safe" and not cached
        assert client.breaker.state == "closed" and client.breaker.opened == 2
    finally:
        await client.close()


async def test_verdict_cache_by_text_and_model(guard: FakeGuard, make_settings: Make) -> None:
    stage = ClassifierStage(make_settings())
    other = make_settings(model="Qwen/Qwen3Guard-Gen-8B")
    try:
        first = await stage.classify(stage.base, "UNSAFE-HATE 的话", "input")
        second = await stage.classify(stage.base, "UNSAFE-HATE 的话", "input")
        assert (first.cached, second.cached) == (False, True)
        assert second.action == first.action == "block" and second.risks == first.risks
        assert len(guard.calls) == 1
        await stage.classify(other, "UNSAFE-HATE 的话", "input")  # another model: another call
        assert len(guard.calls) == 2
        await stage.classify(stage.base, "UNSAFE-HATE 的话", "output", prompt="a")
        await stage.classify(stage.base, "UNSAFE-HATE 的话", "output", prompt="b")
        assert len(guard.calls) == 4  # an output's verdict depends on its prompt
    finally:
        await stage.close()


async def test_failures_are_not_cached_and_cache_can_be_off(
    guard: FakeGuard, make_settings: Make
) -> None:
    guard.script["ONCE"] = Fault(status=500, times=1)
    stage = ClassifierStage(make_settings())
    try:
        assert (await stage.classify(stage.base, "ONCE", "input")).error == "http_500"
        assert (await stage.classify(stage.base, "ONCE", "input")).error is None
        assert len(guard.calls) == 2
    finally:
        await stage.close()
    guard.calls.clear()
    stage = ClassifierStage(make_settings(cache_size=0))
    try:
        await stage.classify(stage.base, "同一句话", "input")
        v = await stage.classify(stage.base, "同一句话", "input")
    finally:
        await stage.close()
    assert len(guard.calls) == 2 and not v.cached


async def test_concurrency_limit(guard: FakeGuard, make_settings: Make) -> None:
    guard.delay = 0.05
    stage = ClassifierStage(make_settings(concurrency=2, timeout_s=10))
    try:
        verdicts = await asyncio.gather(
            *(stage.classify(stage.base, f"第{i}句话", "input") for i in range(8))
        )
    finally:
        await stage.close()
    assert all(v.error is None for v in verdicts)
    assert len(guard.calls) == 8 and guard.max_in_flight <= 2


async def test_long_texts_are_classified_in_pieces(guard: FakeGuard, make_settings: Make) -> None:
    sentences = [
        f"这是第{i}个比较长的句子，用来测试把长文本拆成几段分别送去分类。" for i in range(6)
    ]
    sentences[4] = "这里藏着 UNSAFE-CRIME 的内容，需要被发现。"
    text = "".join(sentences)
    stage = ClassifierStage(make_settings(max_chars=100))
    try:
        v = await stage.classify(stage.base, text, "input")
    finally:
        await stage.close()
    sent = [c.body["messages"][-1]["content"] for c in guard.calls]
    assert len(sent) >= 2 and all(len(s) <= 100 for s in sent)
    assert "".join(sorted(sent, key=text.index)) == text  # pieces go out in parallel
    assert v.action == "block" and v.risks == ("a1.other_prohibited",)


async def test_an_oversized_answer_is_refused(guard: FakeGuard, make_settings: Make) -> None:
    huge = orjson.dumps({"safety": "safe", "pad": "x" * (2 << 20)})
    guard.script["HUGE"] = Fault(body=huge)
    stage = ClassifierStage(make_settings("webhook"))
    try:
        v = await stage.classify(stage.base, "HUGE", "input")
    finally:
        await stage.close()
    assert v.error == "bad_response"


async def test_an_unexpected_error_is_a_guard_error_and_frees_the_breaker(
    guard: FakeGuard, make_settings: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = GuardClient(make_settings(breaker_failures=1, breaker_reset_s=30))
    clock = Clock()
    client.breaker.clock = clock

    def broken(payload: object, item: object) -> object:
        raise KeyError("一段文字")

    monkeypatch.setattr(client.backend, "parse", broken)
    try:
        with pytest.raises(GuardError) as info:
            await client.check(GuardInput("你好"))
        assert info.value.code == "internal" and "一段文字" not in str(info.value)
        assert client.breaker.state == "open"
        monkeypatch.undo()
        clock.now += 31  # the trial call goes through
        result, _ = await client.check(GuardInput("你好"))
        assert result.safety == "safe" and client.breaker.state == "closed"
    finally:
        await client.close()
