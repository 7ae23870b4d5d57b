"""Issue 12, the attacker at the connection, timing and state level: what the upstream sends on
a pooled connection after an answer ended, requests that could smuggle a second request past
the screen, and state that must not cross from one call to the next. A raw TCP upstream
(``tests.support.raw_upstream``) writes the bytes no HTTP server library would."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from tests.support.lexicon import BLOCK, MASK
from tests.support.raw_upstream import RawUpstream, raw_upstream
from tests.support.server import serve

from . import scripts
from .conftest import _settings
from .reveal import reveals

CHAT = "/v1/chat/completions"
PROMPT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**PROMPT, "stream": True}
STALE = "陈旧答案属于另一个调用者"  # another caller's answer (no lexicon term: never screened out)


def _json(obj: Any) -> bytes:
    body = json.dumps(obj, ensure_ascii=False).encode()
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    return head % len(body) + body


def _chunked(pieces: list[bytes]) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    return head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@contextmanager
def _raw_gateway(tmp: Path, lexdir: Path, **extra: Any) -> Iterator[tuple[RawUpstream, str, Any]]:
    """A gateway in front of a raw upstream: (the upstream, the gateway URL, its loop)."""
    with raw_upstream() as (fake, url, loop):
        with serve(create_app(_settings(tmp, lexdir, url, **extra))) as base:
            yield fake, base, loop


@pytest.fixture
def raw(tmp_path: Path, lexdir: Path) -> Iterator[tuple[RawUpstream, str, Any]]:
    with _raw_gateway(tmp_path, lexdir) as got:
        yield got


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _chunks(frames: list[bytes]) -> list[bytes]:
    return [b"%x\r\n%s\r\n" % (len(f), f) for f in frames]


# -- keep-alive desync: bytes after an answer ended ------------------------------------------

ANSWERS: dict[str, tuple[dict, Callable[[str], bytes]]] = {
    "json": (PROMPT, lambda t: _json(scripts.chat_json(t))),
    "stream": (STREAM, lambda t: _chunked(scripts.chat_stream([t]))),
}


@pytest.mark.parametrize("late", ["json", "stream"])
@pytest.mark.parametrize("first", ["json", "stream"])
def test_bytes_sent_after_an_answer_never_become_the_next_answer(
    first: str, late: str, raw: tuple[RawUpstream, str, Any]
) -> None:
    """An upstream writes a whole second response on an idle pooled connection: the next
    request must not read it as its answer (another caller's text, unasked for)."""
    fake, base, loop = raw
    body, answer = ANSWERS[first]
    fake.scripts = [lambda h, b: answer("第一个答案"), lambda h, b: ANSWERS[late][1]("第二个答案")]
    r1 = httpx.post(base + CHAT, json=body)
    assert r1.status_code == 200 and "第一个答案" in r1.text, r1.text
    fake.write_late(loop, ANSWERS[late][1](STALE))  # on the now idle pooled connection
    r2 = httpx.post(base + CHAT, json=ANSWERS[late][0])
    assert STALE not in r2.text, r2.text
    assert r2.status_code == 200 and "第二个答案" in r2.text, r2.text
    assert fake.connections == 2  # the dirty connection was closed, not reused


def test_a_blocked_term_sent_after_an_answer_is_not_the_next_answer(
    raw: tuple[RawUpstream, str, Any],
) -> None:
    fake, base, loop = raw
    fake.scripts = [lambda h, b: _json(scripts.chat_json("一")), lambda h, b: _json({})]
    assert httpx.post(base + CHAT, json=PROMPT).status_code == 200
    fake.write_late(loop, _json(scripts.chat_json(f"坏{BLOCK}坏")))
    r = httpx.post(base + CHAT, json=PROMPT)
    assert not reveals(r.content, BLOCK) and "坏" not in r.text, r.text


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(lambda: _json(scripts.chat_json(STALE)), id="second-response"),
        pytest.param(lambda: STALE.encode(), id="bytes-past-content-length"),
    ],
)
def test_bytes_past_the_end_in_the_same_write_close_the_connection(
    extra: Callable[[], bytes], raw: tuple[RawUpstream, str, Any]
) -> None:
    fake, base, _ = raw
    fake.scripts = [
        lambda h, b: _json(scripts.chat_json("一")) + extra(),
        lambda h, b: _json(scripts.chat_json("二")),
    ]
    r1 = httpx.post(base + CHAT, json=PROMPT)  # garbage past the end: 502 (aiohttp) is fine
    assert STALE not in r1.text and (r1.status_code == 502 or "一" in r1.text), r1.text
    r = httpx.post(base + CHAT, json=PROMPT)
    assert STALE not in r.text and "二" in r.text, r.text
    assert fake.connections == 2


def test_a_body_sent_with_an_answer_to_head_is_never_the_next_answer(
    raw: tuple[RawUpstream, str, Any],
) -> None:
    fake, base, _ = raw
    stale = _json(scripts.chat_json(STALE))
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    fake.scripts = [
        lambda h, b: head % len(stale) + stale,  # a HEAD answer has no body: this is another
        lambda h, b: _json(scripts.chat_json("二")),
    ]
    r1 = httpx.head(base + "/v1/models")
    assert STALE not in r1.text
    r = httpx.post(base + CHAT, json=PROMPT)
    assert STALE not in r.text and "二" in r.text, r.text


def test_garbage_after_the_last_chunk_of_a_stream_is_never_relayed(
    raw: tuple[RawUpstream, str, Any],
) -> None:
    fake, base, _ = raw
    stale = _json(scripts.chat_json(STALE))
    fake.scripts = [
        lambda h, b: _chunked(scripts.chat_stream(["一"])) + stale,
        lambda h, b: _json(scripts.chat_json("二")),
    ]
    assert STALE not in httpx.post(base + CHAT, json=STREAM).text
    r = httpx.post(base + CHAT, json=PROMPT)
    assert STALE not in r.text and "二" in r.text, r.text


def test_a_stale_classifier_verdict_is_never_read_as_the_next_one(
    raw: tuple[RawUpstream, str, Any],
) -> None:
    """The classifier's pool too: a late ``safe`` verdict on an idle connection must not
    become the verdict of the next (unsafe) text."""
    from service.classifier import ClassifierSettings, ClassifierStage

    fake, _, loop = raw
    url = f"http://127.0.0.1:{fake.port}/webhook"
    verdict: Callable[[str], bytes] = lambda s: _json({"safety": s})  # noqa: E731
    fake.scripts = [lambda h, b: verdict("safe"), lambda h, b: verdict("unsafe")]
    stage = ClassifierStage(ClassifierSettings(backend="webhook", url=url, timeout_s=5.0))

    async def ask(text: str) -> Any:
        return await stage.classify(stage.base, text, "input")

    async def run() -> tuple[Any, Any]:
        try:
            first = await ask("一")
            await asyncio.to_thread(fake.write_late, loop, verdict("safe"))
            return first, await ask("二")
        finally:
            await stage.close()

    first, second = asyncio.run(run())
    assert first.action == "allow"
    assert second.action == "block", second


# -- a client that leaves mid-stream --------------------------------------------------------


def test_a_client_leaving_mid_stream_is_recorded_as_such(
    raw: tuple[RawUpstream, str, Any], tmp_path: Path
) -> None:
    """The network log of a stream the client left says 499 (as the access log does), not
    200; the labeled part it did receive keeps its delivery record; the upstream is closed."""
    fake, base, _ = raw
    frames = scripts.chat_stream(["前面", BLOCK[:2]])[:-2]  # then the upstream stalls
    fake.scripts = [lambda h, b: [SSE_HEAD, *_chunks(frames)]]
    with httpx.stream("POST", base + CHAT, json=STREAM) as r:
        rid = r.headers["x-request-id"]
        assert not reveals(next(r.iter_bytes()), BLOCK)
    rows: list[tuple[str, str]] = []
    for _ in range(2000):  # liveness only: until the record is written
        with sqlite3.connect(tmp_path / "records.sqlite3") as db:
            query = "SELECT kind, body FROM records WHERE request_id = ?"
            rows = db.execute(query, (rid,)).fetchall()
        if any(kind == "network_log" for kind, _ in rows):
            break
        time.sleep(0.005)
    logs = [json.loads(body) for kind, body in rows if kind == "network_log"]
    assert [log["status"] for log in logs] == [499], rows
    assert [kind for kind, _ in rows].count("label_delivery") == 1, rows
    assert fake.closed.wait(10), "the upstream connection was not closed"


def _network_log(tmp: Path, rid: str | None = None) -> list[dict]:
    """The network logs (of ``rid``), once there is one (liveness only)."""
    query = "SELECT body FROM records WHERE kind = 'network_log'"
    for _ in range(2000):
        with sqlite3.connect(tmp / "records.sqlite3") as db:
            logs = [json.loads(b) for (b,) in db.execute(query)]
        logs = [log for log in logs if rid is None or log["request_id"] == rid]
        if logs:
            return logs
        time.sleep(0.005)
    return []


@pytest.mark.parametrize("body", [PROMPT, STREAM, None], ids=["json", "stream", "models"])
def test_a_client_leaving_before_the_answer_cancels_the_upstream(
    body: dict | None, raw: tuple[RawUpstream, str, Any], tmp_path: Path
) -> None:
    """The client leaves while the model API is still generating (no answer head yet): the
    upstream request is closed at once, not left running until ``timeout_s``; recorded 499.
    ``None``: ``GET /v1/models``, an allow-listed route relayed as is."""
    fake, base, _ = raw
    fake.scripts = [lambda h, b: []]  # reads the request, never answers
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        if body is None:
            c.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
        else:
            c.sendall(_req(b"", json.dumps(body).encode()))
        for _ in range(2000):  # liveness only: until the request is upstream
            if fake.heads:
                break
            time.sleep(0.005)
        assert fake.heads
    assert fake.closed.wait(10), "the upstream request outlived its client"
    assert [log["status"] for log in _network_log(tmp_path)] == [499]


@pytest.mark.parametrize("held", [BLOCK[:2], BLOCK[:4], MASK[:3]])
def test_an_upstream_stalling_on_a_held_prefix_never_gets_it_released(
    held: str, tmp_path: Path, lexdir: Path
) -> None:
    """The per-read timeout ends the stream with an error event: the held prefix of a term
    is dropped, never flushed as the stream's last text."""
    with _raw_gateway(tmp_path, lexdir, proxy={"timeout_s": 0.3}) as (fake, base, _):
        frames = scripts.chat_stream(["前面的话", held])[:-2]
        fake.scripts = [lambda h, b: [SSE_HEAD, *_chunks(frames)]]
        r = httpx.post(base + CHAT, json=STREAM)
    assert "前面的话" in r.text and "upstream_timeout" in r.text, r.text
    assert held not in r.text, r.text


# -- smuggling a second request past the screen ---------------------------------------------


def _good() -> bytes:
    return json.dumps(PROMPT).encode()


def _bad() -> bytes:
    msgs = [{"role": "user", "content": BLOCK}]
    return json.dumps({"model": "m", "messages": msgs}, ensure_ascii=False).encode()


def _req(extra: bytes, body: bytes, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    return head + extra + (b"content-length: %d\r\n" % n if length != -1 else b"") + b"\r\n" + body


def _chunk(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


SMUGGLE = {
    "cl-and-te": _req(b"transfer-encoding: chunked\r\n", _chunk(_good()) + _req(b"", _bad())),
    "te-then-cl": _req(b"transfer-encoding: chunked\r\n", _chunk(_good()) + _req(b"", _bad()), 4),
    "te-list": _req(b"transfer-encoding: identity, chunked\r\n", _chunk(_good()) + _bad(), -1),
    "te-unknown": _req(b"transfer-encoding: xchunked\r\n", _good() + _req(b"", _bad())),
    "obs-fold": _req(b"x-a: b\r\n  c\r\n", _good()),
    "cr-in-value": _req(b"x-a: b\rc\r\n", _good()),
    "pipelined": _req(b"", _good()) + _req(b"", _bad()),
    "body-longer": _req(b"", _good() + _bad(), len(_good())),
    "expect-continue": _req(b"expect: 100-continue\r\n", _bad()),
}


@pytest.mark.parametrize("name", list(SMUGGLE))
def test_no_request_shape_smuggles_a_term_upstream(
    name: str, raw: tuple[RawUpstream, str, Any]
) -> None:
    fake, base, _ = raw
    fake.scripts = [lambda h, b: _json(scripts.chat_json("好"))] * 4
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(SMUGGLE[name])
        c.shutdown(socket.SHUT_WR)
        got = b""
        while data := c.recv(65536):
            got += data
    for _, head, body in fake.heads:
        assert BLOCK.encode() not in head + body, (head, body)
    assert not reveals(got, BLOCK)
