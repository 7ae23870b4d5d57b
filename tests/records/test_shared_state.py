"""Limits and sanctions hold across processes: two real gateway processes, one PostgreSQL
(or one Redis), one complaint limit and one sanction ladder."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import httpx
import pytest

from benchmarks.killtest import start_gateway
from service.records.shared import LocalLimiter, RedisState, sliding_estimate

BLOCKED = "我想买六合彩"  # a term of the bundled sample lexicon (gambling, action block)
LIMIT = 5


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_prefix():
    """A key prefix of its own on the local Redis; its keys are deleted after the test."""
    if not _redis_answers():
        pytest.skip("no Redis server on 127.0.0.1:6379")
    import redis

    prefix = f"aigc-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis(host="127.0.0.1", port=6379)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def _two_gateways(database: str, tmp_path, **env: str):
    base = {
        "AIGC_GATEWAY_RECORDS__COMPLAINT_RATE_PER_MINUTE": str(LIMIT),
        "AIGC_GATEWAY_RECORDS__SANCTION_CACHE_S": "300",  # only a notice can refresh it
        **env,
    }
    a = start_gateway(database, tmp_path / "a", env=base)
    try:
        b = start_gateway(database, tmp_path / "b", env=base)
    except BaseException:
        a.stop()
        raise
    return a, b


def _complaints(a, b) -> list[int]:
    codes = []
    for i in range(3 * LIMIT):
        gateway = (a, b)[i % 2]
        r = httpx.post(
            gateway.url + "/complaints", json={"kind": "complaint", "description": f"n{i}"}
        )
        codes.append(r.status_code)
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "rate_limited"
    return codes


def _chat(gateway, user: str, text: str) -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"x-aigc-user": user},
        json={"model": "m", "messages": [{"role": "user", "content": text}]},
        timeout=10,
    )


def _ladder(a, b) -> None:
    """Blocked prompts alternate between the gateways: the third one suspends the user, and
    the other gateway, which cached the user's level for 300 s, refuses the user at once."""
    assert _chat(a, "mallory", "你好").status_code == 200  # both have looked the user up
    assert _chat(b, "mallory", "你好").status_code == 200
    assert _chat(a, "mallory", BLOCKED).status_code == 400
    assert _chat(b, "mallory", BLOCKED).status_code == 400
    assert _chat(a, "mallory", BLOCKED).status_code == 400  # the third in a row, on both
    deadline = time.monotonic() + 30
    while _chat(b, "mallory", "你好").status_code != 403:
        assert time.monotonic() < deadline, "the other gateway never saw the suspension"
        time.sleep(0.1)
    refused = _chat(a, "mallory", "你好")
    assert refused.status_code == 403 and "user_suspended" in refused.text
    assert _chat(b, "trent", "你好").status_code == 200


def test_two_gateways_on_one_postgres_share_limits_and_sanctions(pg_database, tmp_path):
    a, b = _two_gateways(pg_database, tmp_path)
    try:
        codes = _complaints(a, b)
        _ladder(a, b)
    finally:
        a.stop()
        b.stop()
    assert codes.count(201) == LIMIT and codes.count(429) == 2 * LIMIT


def test_two_gateways_share_limits_and_sanctions_through_redis(pg_database, redis_prefix, tmp_path):
    import redis

    a, b = _two_gateways(
        pg_database,
        tmp_path,
        AIGC_GATEWAY_RECORDS__SHARED_STATE_URL="redis://127.0.0.1:6379/0",
        AIGC_GATEWAY_RECORDS__SHARED_STATE_PREFIX=redis_prefix,
    )
    try:
        codes = _complaints(a, b)
        _ladder(a, b)
    finally:
        a.stop()
        b.stop()
    assert codes.count(201) == LIMIT and codes.count(429) == 2 * LIMIT
    client = redis.Redis(host="127.0.0.1", port=6379)
    keys = list(client.scan_iter(f"{redis_prefix}:rate:complaints:*"))
    client.close()
    assert keys  # the windows live in Redis, the client address only as a hash
    assert not any(b"127.0.0.1" in k for k in keys)


def test_sliding_window_estimate():
    assert sliding_estimate(0, 3, 120.0, 60.0) == 3  # start of a window: the previous counts
    assert sliding_estimate(10, 0, 120.0, 60.0) == 10  # ... in full
    assert sliding_estimate(10, 2, 150.0, 60.0) == 7  # half way: half of it
    assert sliding_estimate(10, 2, 179.999, 60.0) == pytest.approx(2, abs=0.01)


def test_local_fallback_when_redis_is_down():
    limiter = LocalLimiter()
    assert [limiter.allow("k", 2, 60) for _ in range(3)] == [True, True, False]

    async def run() -> list[bool]:
        state = RedisState("redis://127.0.0.1:1/0")  # nobody listens: per-process limit
        try:
            return [await state.allow("complaints", "10.0.0.1", 2, 60) for _ in range(3)]
        finally:
            await state.close()

    assert asyncio.run(run()) == [True, True, False]
