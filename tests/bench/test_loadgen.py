"""The load generator against real servers on loopback: the demo upstream and scripted targets."""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.loadgen import (
    LoadConfig,
    LoadError,
    check_target,
    endpoint_url,
    load_prompts,
    run,
    run_load,
    run_parallel,
    summarize,
)
from benchmarks.replies import has_explicit_label, read_reply
from benchmarks.wrk import parse_wrk, run_wrk
from service.demo_upstream import create_app
from tests.bench.fakes import Recorder, scripted_app, serial_app
from tests.support.server import free_port, serve


def prompts(*texts: str) -> list[list[dict]]:
    return [[{"role": "user", "content": t}] for t in texts]


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    with serve(create_app(chunks=5, delay=0.002)) as url:
        yield url


@pytest.fixture(scope="module")
def scripted_url() -> Iterator[str]:
    with serve(scripted_app) as url:
        yield url


def assert_ordered(summary: dict) -> None:
    assert 0 < summary["p50"] <= summary["p90"] <= summary["p99"] <= summary["max"]


ENGINES = pytest.mark.parametrize("engine", ["raw", "aiohttp"])


@ENGINES
@pytest.mark.parametrize("api", ["openai", "anthropic", "ollama"])
@pytest.mark.parametrize("stream", [False, True])
def test_closed_loop_against_demo_upstream(
    demo_url: str, api: str, stream: bool, engine: str
) -> None:
    cfg = LoadConfig(
        target=demo_url,
        engine=engine,
        api=api,
        stream=stream,
        concurrency=4,
        requests=24,
        duration=None,
        prompts=load_prompts(),
    )
    result = run(cfg)
    assert result.engine == engine
    assert result.completed == result.ok == 24 and not result.errors and not result.blocks
    assert len(result.latencies) == 24
    assert_ordered(result.latency)
    figures = result.to_dict()
    if stream:
        assert figures["ttft_ms"]["count"] == 24
        # 5 pieces 2 ms apart: gaps between reads carrying text are measured (at most 4 each)
        assert 1 <= figures["inter_chunk_ms"]["count"] <= 24 * 4
        assert_ordered(figures["ttft_ms"])
    else:
        assert figures["ttft_ms"]["count"] == 0
    assert result.labeled == 0  # the demo upstream does not label


def test_ttft_before_end_of_stream() -> None:
    with serve(create_app(chunks=3, delay=0.01)) as url:
        cfg = LoadConfig(
            target=url, stream=True, requests=4, duration=None, prompts=prompts("你好")
        )
        result = run(cfg)
    pairs = list(zip(result.ttfts, result.latencies, strict=True))
    assert len(pairs) == 4 and all(t < lat for t, lat in pairs)
    # 3 pieces 10 ms apart: the last arrives about 20 ms after the first (timer slack allowed)
    assert min(lat - t for t, lat in pairs) >= 0.015
    assert 0.005 < summarize(result.gaps)["p50"] / 1000 < 0.05


def test_open_loop_keeps_the_schedule(demo_url: str) -> None:
    cfg = LoadConfig(target=demo_url, rate=200, requests=20, duration=None, prompts=prompts("hi"))
    result = run(cfg)
    assert result.ok == 20 and result.level == "rate=200/s", result.to_dict()
    assert result.elapsed >= 19 / 200, result.to_dict()
    assert min(result.latencies) > 0  # nothing sent before its planned time


def test_open_loop_counts_from_scheduled_time() -> None:
    # The target serves one request per 20 ms but we schedule one per 5 ms and allow one in
    # flight: each request waits for the previous ones, which only shows if latency counts
    # from the planned send time (no coordinated omission).
    with serve(serial_app(0.02)) as url:
        cfg = LoadConfig(
            target=url, rate=200, requests=10, duration=None, max_inflight=1, prompts=prompts("x")
        )
        result = run(cfg)
        closed = run(
            LoadConfig(target=url, concurrency=1, requests=10, duration=None, prompts=prompts("x"))
        )
    assert result.ok == 10
    assert max(result.latencies) > 0.12  # ~10 * 20 ms - 9 * 5 ms
    assert max(result.latencies) > 3 * statistics.median(closed.latencies)  # ~20 ms each


@ENGINES
@pytest.mark.parametrize("api", ["openai", "anthropic", "ollama"])
@pytest.mark.parametrize("stream", [False, True])
def test_errors_blocks_and_labels_by_code(
    scripted_url: str, api: str, stream: bool, engine: str
) -> None:
    texts = ("ok", "block", "fail", "limit", "filter", "label")
    cfg = LoadConfig(
        target=scripted_url,
        engine=engine,
        api=api,
        stream=stream,
        concurrency=3,
        requests=36,
        duration=None,
        prompts=prompts(*texts),
    )
    result = run(cfg)
    native = {
        "openai": "finish_reason:content_filter",
        "anthropic": "stop_reason:refusal",
        "ollama": "done_reason:content_filter",
    }[api]
    assert result.ok == 12  # "ok" and "label"
    assert dict(result.errors) == {"http_500:server_error": 6, "http_429:rate_limit_exceeded": 6}
    assert dict(result.blocks) == {"http_400:content_policy_violation": 6, native: 6}
    assert result.labeled == result.explicit_labels == result.implicit_labels == 6


def test_label_header_option_narrows_detection(scripted_url: str) -> None:
    cfg = LoadConfig(
        target=scripted_url,
        requests=4,
        duration=None,
        prompts=prompts("label"),
        label_header="x-other-label",
    )
    result = run(cfg)
    assert result.implicit_labels == 0 and result.explicit_labels == 4


@ENGINES
def test_connection_errors_are_counted(engine: str) -> None:
    cfg = LoadConfig(
        target=f"http://127.0.0.1:{free_port()}",
        engine=engine,
        concurrency=2,
        requests=6,
        duration=None,
        prompts=prompts("x"),
        timeout=5,
    )
    result = run(cfg)
    assert dict(result.errors) == {"connect_error": 6} and result.ok == 0
    assert len(result.latencies) == 6


def test_duration_bounds_the_run(demo_url: str) -> None:
    result = run(LoadConfig(target=demo_url, concurrency=2, duration=0.3, prompts=prompts("x")))
    assert 0.3 <= result.elapsed < 1.5 and result.completed > 10


@pytest.mark.parametrize(
    "target", ["http://8.8.8.8:80", "http://10.1.2.3", "http://[2001:db8::1]:8000"]
)
def test_remote_targets_are_refused(target: str) -> None:
    with pytest.raises(LoadError, match="--allow-remote"):
        check_target(target, allow_remote=False)
    check_target(target, allow_remote=True)  # the user took responsibility
    with pytest.raises(LoadError, match="--allow-remote"):
        run(LoadConfig(target=target, requests=1, prompts=prompts("x")))


@pytest.mark.parametrize("target", ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"])
def test_loopback_targets_are_allowed(target: str) -> None:
    check_target(target, allow_remote=False)


def test_unresolvable_host_is_a_clear_error() -> None:
    with pytest.raises(LoadError, match="cannot resolve"):
        check_target("http://no-such-host.invalid", allow_remote=False)


@pytest.mark.parametrize(
    ("target", "api", "url"),
    [
        ("http://h:1", "openai", "http://h:1/v1/chat/completions"),
        ("http://h:1/v1/", "openai", "http://h:1/v1/chat/completions"),
        ("http://h:1/v1", "anthropic", "http://h:1/v1/messages"),
        ("http://h:1/", "ollama", "http://h:1/api/chat"),
        ("http://h:1/v1/messages", "anthropic", "http://h:1/v1/messages"),
    ],
)
def test_endpoint_url(target: str, api: str, url: str) -> None:
    assert endpoint_url(target, api) == url


@pytest.mark.parametrize(
    "kwargs",
    [
        {"concurrency": 2, "rate": 5.0},
        {"concurrency": 0},
        {"rate": -1.0},
        {"duration": None, "requests": None},
        {"api": "cohere"},
        {"prompts": []},
        {"target": "ftp://127.0.0.1"},
        {"target": "http://127.0.0.1:99999"},
    ],
)
def test_bad_config_is_refused(kwargs: dict) -> None:
    base = {"target": "http://127.0.0.1:1", "prompts": prompts("x"), **kwargs}
    with pytest.raises(LoadError):
        LoadConfig(**base).validate()


def test_default_prompt_set_is_mixed() -> None:
    items = [
        orjson.loads(line)
        for line in Path("benchmarks/data/prompts.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    texts = ["".join(str(m["content"]) for m in p) for p in load_prompts()]
    assert len(texts) == len(items) >= 20
    assert any(t.isascii() for t in texts) and any(not t.isascii() for t in texts)
    assert max(map(len, texts)) > 300 and min(map(len, texts)) < 10
    assert {"block", "mask", "allow"} <= {i["expect"] for i in items}
    joined = "".join(texts)
    assert all(term in joined for term in ("冰毒", "海洛因", "六合彩"))
    assert not any(has_explicit_label(t) for t in texts)  # would fake label counts


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("{not json", "p.jsonl:2: not valid JSON"),
        ("[1, 2]", "p.jsonl:2: each line must be a JSON object"),
        ('{"messages": "hi"}', "p.jsonl:2: 'messages' must be"),
        ('{"text": "hi"}', "p.jsonl:2: needs 'messages'"),
    ],
)
def test_bad_prompt_file_names_the_line(tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "ok"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(LoadError, match=re.escape(error)):
        load_prompts(path)


def test_prompt_file_formats(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '# comment\n\n{"prompt": "a"}\n{"messages": [{"role": "user", "content": "b"}]}\n',
        encoding="utf-8",
    )
    assert load_prompts(path) == prompts("a", "b")
    with pytest.raises(LoadError, match="cannot read"):
        load_prompts(tmp_path / "missing.jsonl")


@pytest.mark.parametrize(
    ("text", "labeled"),
    [
        ("本内容由人工智能生成", True),
        ("AI生成", True),
        ("由 AI 合成的图片", True),
        ("内容生成：AI", True),
        ("人工智能是什么", False),
        ("Generated by AI", False),
    ],
)
def test_explicit_label_detection(text: str, labeled: bool) -> None:
    assert has_explicit_label(text) is labeled


WRK_SAMPLE = """Running 2s test @ http://127.0.0.1:9/v1/chat/completions
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  300.00us   9.00ms   90.00%
  Latency Distribution
     50%  842.00us
     75%    1.10ms
     90%    1.50ms
     99%    2.10s
  30000 requests in 2.00s, 9.00MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  15000.50
Transfer/sec:      4.50MB
"""


def test_parse_wrk() -> None:
    out = parse_wrk(WRK_SAMPLE)
    assert out["requests"] == 30000 and out["rps"] == 15000.5 and out["non_2xx"] == 12
    assert out["p50"] == pytest.approx(0.842) and out["p99"] == pytest.approx(2100.0)
    assert out["elapsed_s"] == pytest.approx(2.0)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (apt install wrk)")
def test_wrk_sends_the_same_bodies() -> None:
    recorder = Recorder()
    bodies = [b'{"a": "]]"}', '{"b": "]=]冰毒"}'.encode()]
    with serve(recorder) as url:
        figures = run_wrk(
            url + "/v1/x", bodies, {"Content-Type": "application/json"}, connections=1, duration=1
        )
    assert figures["requests"] > 10 and figures["non_2xx"] == 0
    assert set(recorder.bodies) == set(bodies)


async def _raw_server(reply: bytes, close: bool) -> tuple[asyncio.AbstractServer, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            writer.write(reply)
            await writer.drain()
            if close:
                writer.close()
                return

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    ("reply", "close", "expect"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", True, "ok"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False, "ok"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{}", True, "server_disconnected"),
        (b"SMTP ready\r\n\r\n", False, "protocol_error"),
    ],
)
async def test_raw_engine_connection_handling(reply: bytes, close: bool, expect: str) -> None:
    server, port = await _raw_server(reply, close)
    async with server:
        cfg = LoadConfig(
            target=f"http://127.0.0.1:{port}",
            engine="raw",
            concurrency=2,
            requests=6,
            duration=None,
            timeout=5,
            prompts=prompts("x"),
        )
        result = await run_load(cfg)
    if expect == "ok":
        assert result.ok == 6 and not result.errors
    else:
        assert dict(result.errors) == {expect: 6}


def _sse_payload(api: str, pieces: list[str], blocked: bool) -> bytes:
    if api == "ollama":
        lines = [{"message": {"content": p}, "done": False} for p in pieces]
        lines.append({"done": True, "done_reason": "content_filter" if blocked else "stop"})
        return b"".join(orjson.dumps(x) + b"\n" for x in lines)
    if api == "anthropic":
        events = [{"type": "content_block_delta", "delta": {"text": p}} for p in pieces]
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "refusal" if blocked else "end_turn"},
            }
        )
        return b"".join(b"event: x\r\ndata: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)
    chunks = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    chunks.append(
        {
            "choices": [
                {"index": 0, "delta": {}, "finish_reason": "content_filter" if blocked else "stop"}
            ]
        }
    )
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


@given(
    api=st.sampled_from(["openai", "anthropic", "ollama"]),
    pieces=st.lists(st.text(alphabet='ab你好冰毒 \n"\\', min_size=1, max_size=6), max_size=6),
    blocked=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_read_reply_is_independent_of_read_boundaries(
    api: str, pieces: list[str], blocked: bool, cuts: list[int]
) -> None:
    # Any split of the bytes (inside events, CRLF pairs or UTF-8 characters) reads the same.
    payload = _sse_payload(api, pieces, blocked)
    points = sorted({c % (len(payload) + 1) for c in cuts} | {0, len(payload)})
    chunks = [(float(i), payload[a:b]) for i, (a, b) in enumerate(itertools.pairwise(points))]
    whole = read_reply(api, 200, [(0.0, payload)], stream=True)
    split = read_reply(api, 200, chunks, stream=True)
    assert split.text == whole.text == "".join(pieces)
    assert split.block == whole.block and split.error is None
    assert (split.block is not None) is blocked
    assert len(split.gaps) <= max(0, len(chunks) - 1)
    assert (split.first is None) == (not "".join(pieces))


def test_open_loop_time_bound_is_hard_and_reports_unsent() -> None:
    # 200/s planned for 0.3 s against a target doing 50/s with one request in flight: what
    # could not be sent before the bound is counted, not sent late.
    with serve(serial_app(0.02)) as url:
        cfg = LoadConfig(target=url, rate=200, duration=0.3, max_inflight=1, prompts=prompts("x"))
        result = run(cfg)
    assert 59 <= result.completed + result.unsent <= 61
    assert result.unsent > 20 and result.ok == result.completed
    assert result.elapsed < 1.0
    assert result.to_dict()["unsent"] == result.unsent


@pytest.mark.parametrize("mode", [{"concurrency": 4}, {"rate": 200.0}])
def test_several_processes_share_the_level(demo_url: str, mode: dict) -> None:
    cfg = LoadConfig(target=demo_url, requests=21, duration=None, prompts=prompts("x"), **mode)
    result = run_parallel(cfg, 2)
    assert result.completed == result.ok == len(result.latencies) == 21
    assert (result.concurrency, result.rate) == (mode.get("concurrency"), mode.get("rate"))
    assert_ordered(result.latency)
