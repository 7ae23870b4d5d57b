"""The stage as the service uses it: no text in logs, metrics, prompt checks started early,
and streamed outputs cut at the unsafe segment, all against the fake guard on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from service.classifier import ClassifierMetrics, ClassifierSettings, ClassifierStage
from service.logs import JsonFormatter

from .fake_guard import FakeGuard, Fault

Make = Callable[..., ClassifierSettings]
SECRET = "绝密标记LOGCHECK7731"


async def test_no_text_in_logs_whatever_happens(
    guard: FakeGuard, make_settings: Make, caplog: pytest.LogCaptureFixture
) -> None:
    guard.script["ECHO400"] = Fault(status=400)  # the error body echoes the text
    guard.script["ECHO503"] = Fault(status=503)
    guard.script["ECHOBODY"] = Fault(
        body=('{"choices": [{"message": {"content": "' + SECRET + '"}}]}').encode()
    )
    guard.script["HANGS"] = Fault(hang=True)
    caplog.set_level(logging.DEBUG)
    stage = ClassifierStage(make_settings(timeout_s=0.5, breaker_failures=100))
    try:
        for marker in ("", "ECHO400", "ECHO503", "ECHOBODY", "HANGS", "UNSAFE-VIOLENCE"):
            v = await stage.classify(stage.base, f"{marker} {SECRET}", "input")
            assert SECRET not in str(v.to_dict())
        await stage.classify(stage.base, "答复 " + SECRET, "output", prompt="问 " + SECRET)
    finally:
        await stage.close()
    assert any(r.name == "aigc_gateway.classifier" for r in caplog.records)  # it did log
    formatter = JsonFormatter()
    for record in caplog.records:
        assert SECRET not in formatter.format(record)
        assert SECRET not in str(record.__dict__)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


async def test_metrics_count_outcomes_risks_cache_and_errors(
    guard: FakeGuard, make_settings: Make
) -> None:
    guard.script["FAILS"] = Fault(status=500)
    metrics = ClassifierMetrics(CollectorRegistry())
    stage = ClassifierStage(make_settings("llamaguard", retries=0), metrics)
    try:
        await stage.classify(stage.base, "UNSAFE-VIOLENCE", "input")
        await stage.classify(stage.base, "UNSAFE-VIOLENCE", "input")  # cached
        await stage.classify(stage.base, "你好", "output", prompt="hi")
        await stage.classify(stage.base, "FAILS", "input")
    finally:
        await stage.close()
    r = metrics.registry
    total = "aigc_gateway_classifier_checks_total"
    assert sample(r, total, backend="llamaguard", direction="input", outcome="unsafe") == 2
    assert sample(r, total, backend="llamaguard", direction="output", outcome="safe") == 1
    assert sample(r, total, backend="llamaguard", direction="input", outcome="error") == 1
    assert (
        sample(r, "aigc_gateway_classifier_errors_total", backend="llamaguard", code="http_500")
        == 1
    )
    assert sample(r, "aigc_gateway_classifier_cache_total", result="hit") == 1
    decisions = "aigc_gateway_classifier_decisions_total"
    assert (
        sample(r, decisions, direction="input", risk="a1.terrorism_extremism", action="block") == 2
    )
    assert sample(r, decisions, direction="input", risk="-", action="block") == 1  # failed closed
    assert (
        sample(r, "aigc_gateway_classifier_seconds_count", backend="llamaguard", direction="input")
        == 1
    )


async def test_breaker_state_is_a_metric(guard: FakeGuard, make_settings: Make) -> None:
    guard.script["X"] = Fault(status=500)
    metrics = ClassifierMetrics(CollectorRegistry())
    stage = ClassifierStage(make_settings(retries=0, breaker_failures=2), metrics)
    try:
        for _ in range(3):
            await stage.classify(stage.base, "X", "input")
    finally:
        await stage.close()
    assert (
        sample(metrics.registry, "aigc_gateway_classifier_breaker_open", backend="qwen3guard") == 1
    )
    assert (
        sample(metrics.registry, "aigc_gateway_classifier_errors_total", code="circuit_open") == 1
    )


async def test_prompt_check_runs_beside_other_work(guard: FakeGuard, make_settings: Make) -> None:
    """Parallel mode: the guard call is under way while the caller does its upstream call."""
    guard.delay = 0.2
    stage = ClassifierStage(make_settings())
    loop = asyncio.get_running_loop()
    try:
        check = stage.prompt_check(stage.base, "UNSAFE-VIOLENCE 在这里")
        upstream_started = loop.time()
        await asyncio.sleep(0.2)  # stands for the upstream call
        upstream_done = loop.time()
        verdict = await check.verdict()
    finally:
        await stage.close()
    assert verdict.action == "block"
    call = guard.calls[0]
    assert call.ended is not None
    # the guard's work and the "upstream" overlapped: the guard had started before it ended
    assert check.started <= call.started
    assert upstream_started < upstream_done
    assert check.waited_after(check.started) >= 0.0


async def test_a_cancelled_prompt_check_frees_the_breaker_trial(
    guard: FakeGuard, make_settings: Make
) -> None:
    guard.script["SLOWX"] = Fault(delay=1.0)
    stage = ClassifierStage(make_settings())
    try:
        check = stage.prompt_check(stage.base, "SLOWX")
        await asyncio.sleep(0.05)
        check.cancel()
        with pytest.raises(asyncio.CancelledError):
            await check.verdict()
        assert stage.client_for(stage.base).breaker.state == "closed"
    finally:
        await stage.close()


@pytest.mark.parametrize("mode", ["hold", "async"])
async def test_stream_cut_at_the_unsafe_segment(
    guard: FakeGuard, make_settings: Make, mode: str
) -> None:
    metrics = ClassifierMetrics(CollectorRegistry())
    stage = ClassifierStage(make_settings(stream_mode=mode, context_chars=0), metrics)
    text = "第一句是安全的内容。第二句也很正常。第三句包含 UNSAFE-CRIME 的内容。第四句不应出现。"
    sent = ""
    try:
        stream = stage.stream(stage.base, prompt="讲个故事")
        for i in range(0, len(text), 3):
            sent += stream.feed(text[i : i + 3])
            while stream.pending and stream.unsafe is None:  # a slow upstream: verdicts come first
                sent += await stream.wait()
            if stream.unsafe is not None:
                break
        sent += await stream.finish()
        stage.stream_done(stream)
    finally:
        await stage.close()
    assert stream.unsafe is not None and stream.unsafe.risks == ("a1.other_prohibited",)
    if mode == "hold":  # released only what was classified safe
        assert sent == "第一句是安全的内容。第二句也很正常。"
    else:  # released at once, cut when the verdict came back (within the same 3-char chunk)
        three = "第一句是安全的内容。第二句也很正常。第三句包含 UNSAFE-CRIME 的内容。"
        assert sent.startswith(three) and len(sent) < len(three) + 3 and "第四句" not in sent
    bodies = [c.body["messages"] for c in guard.calls]
    assert all(m[0] == {"role": "user", "content": "讲个故事"} for m in bodies)
    assert sample(metrics.registry, "aigc_gateway_classifier_holdback_chars_count", mode=mode) == 1
