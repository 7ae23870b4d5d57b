"""Server limits on the wire, against a real ``aigc-gateway serve`` subprocess on loopback.

Raw sockets where the behaviour is below HTTP clients: an oversized body sent without
``Expect: 100-continue`` (Content-Length and chunked), oversized and never-ending request
heads, half-sent heads and their timeout, the connection cap. Responses are parsed by the
standard library's ``http.client``, independent of the server's HTTP stack.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024

# A small body limit, and bodies well over it: more than loopback socket buffers hold, so a
# server that closes without reading the rest resets the connection while the client sends.
# A short head timeout so that the tests wait little.
LIMITS = {
    "AIGC_GATEWAY_LIMITS__MAX_BODY_BYTES": str(1 * MiB),
    "AIGC_GATEWAY_LIMITS__MAX_HEADER_BYTES": "8192",
    "AIGC_GATEWAY_LIMITS__HEADER_TIMEOUT_S": "1",
    "AIGC_GATEWAY_LIMITS__LINGER_MAX_BYTES": str(32 * MiB),
}


# --------------------------------------------------------------------------- the gateway


@dataclass
class Gateway:
    url: str
    port: int
    pid: int
    log: Path

    def log_records(self, message: str) -> list[dict[str, Any]]:
        records = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("message", "").startswith(message):
                    records.append(record)
        return records


@contextmanager
def serve_gateway(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    args: Iterable[str] = (),
    open_files: tuple[int, int] | None = None,
    timeout: float = 60,
) -> Iterator[Gateway]:
    """``python -m service serve --port 0`` with ``env``; yields once /readyz answers.

    ``open_files``: the (soft, hard) ``RLIMIT_NOFILE`` the process starts with, so that no
    test depends on the limits of the machine it runs on.
    """
    log = tmp_path / f"serve-{time.monotonic_ns()}.log"
    full_env = {
        **os.environ,
        "AIGC_GATEWAY_DATA_DIR": str(tmp_path / "var"),
        "AIGC_GATEWAY_ACCESS_LOG": "false",
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    def limit_open_files() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, open_files)

    cmd = [sys.executable, "-m", "service", "serve", "--port", "0"]
    cmd += ["--upstream", "http://127.0.0.1:9", *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=tmp_path,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_open_files,
        )
    try:
        deadline = time.monotonic() + timeout
        port = 0
        while True:
            text = log.read_text(encoding="utf-8", errors="replace")
            assert proc.poll() is None, text
            assert time.monotonic() < deadline, text
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", text)
            if found:
                port = int(found.group(1))
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        yield Gateway(f"http://127.0.0.1:{port}", port, proc.pid, log)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def open_files_possible(count: int) -> bool:
    """Whether a child process may set its open-file limit to ``count``."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard >= count:
        return True
    raise_it = f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({count}, {count}))"
    return subprocess.run([sys.executable, "-c", raise_it], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with serve_gateway(tmp_path_factory.mktemp("limits"), LIMITS) as gw:
        yield gw


# --------------------------------------------------------------------------- raw HTTP


def connect(port: int, timeout: float = 30) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_response(sock: socket.socket) -> tuple[int, http.client.HTTPMessage, bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.headers, response.read()


def post_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        piece = data[i : i + size]
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


def closed_by_peer(sock: socket.socket) -> bool:
    """Wait (up to the socket timeout) for the peer to close; True on EOF or reset."""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def error_code(body: bytes) -> str:
    return json.loads(body)["error"]["code"]


# --------------------------------------------------------------------------- bodies


def test_body_over_the_limit_with_content_length_gets_a_readable_413(gateway: Gateway) -> None:
    body = b'{"text": "' + b"a" * (16 * MiB) + b'"}'
    with connect(gateway.port) as sock:
        # No Expect header: the client sends everything before it reads. Without the
        # lingering close this sendall failed with ECONNRESET and the 413 was lost.
        sock.sendall(post_head("/moderate", {"Content-Length": str(len(body))}) + body)
        status, headers, answer = read_response(sock)
    assert status == 413
    assert headers["connection"] == "close"
    assert error_code(answer) == "payload_too_large"


def test_chunked_body_over_the_limit_gets_a_readable_413(gateway: Gateway) -> None:
    body = b'{"text": "' + b"a" * (16 * MiB) + b'"}'
    with connect(gateway.port) as sock:
        sock.sendall(post_head("/moderate", {"Transfer-Encoding": "chunked"}))
        for piece in chunked(body):
            sock.sendall(piece)
        status, headers, answer = read_response(sock)
    assert status == 413
    assert headers["connection"] == "close"
    assert error_code(answer) == "payload_too_large"


def test_expect_100_continue_gets_the_413_before_the_body_is_sent(gateway: Gateway) -> None:
    headers = {"Content-Length": str(3 * MiB), "Expect": "100-continue"}
    with connect(gateway.port) as sock:
        sock.sendall(post_head("/moderate", headers))
        status, _, answer = read_response(sock)  # the first status line: 413, not 100
    assert status == 413
    assert error_code(answer) == "payload_too_large"


def test_a_body_within_the_limit_is_answered_normally_on_the_same_stack(gateway: Gateway) -> None:
    body = json.dumps({"text": "你好" * 1000}).encode()
    with connect(gateway.port) as sock:
        sock.sendall(post_head("/moderate", {"Content-Length": str(len(body))}) + body)
        status, _, answer = read_response(sock)
    assert status == 200
    assert json.loads(answer)["action"] == "allow"


def test_discarding_an_unread_body_is_bounded_in_bytes(gateway: Gateway) -> None:
    # linger_max_bytes is 32 MiB: a client that goes on sending 128 MiB is cut off.
    block = b"a" * MiB
    with connect(gateway.port) as sock:
        sock.sendall(post_head("/moderate", {"Content-Length": str(128 * MiB)}))
        with pytest.raises(OSError):  # reset or broken pipe once the server stops reading
            for _ in range(128):
                sock.sendall(block)
            read_response(sock)  # (not reached when the server closed in time)
            raise AssertionError("the server read the whole 128 MiB")


def test_an_answer_given_before_the_body_is_read_ends_the_connection_boundedly(
    gateway: Gateway,
) -> None:
    # GET /healthz answers without reading its (chunked, undeclared-length) body; uvicorn
    # alone would keep the connection and parse and drop a body of any size.
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b"%x\r\n" % MiB + b"a" * MiB + b"\r\n"
    with connect(gateway.port) as sock:
        sock.sendall(head)
        with pytest.raises(OSError):
            for _ in range(128):
                sock.sendall(piece)
            raise AssertionError("the server read the whole 128 MiB")


# --------------------------------------------------------------------------- request heads


def test_oversized_head_gets_431_in_one_piece_and_in_many(gateway: Gateway) -> None:
    for size in (10_000, 100_000):
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * size + b"\r\n\r\n"
        with connect(gateway.port) as sock:
            sock.sendall(head)
            status, headers, answer = read_response(sock)
        assert status == 431, size
        assert headers["connection"] == "close"
        assert error_code(answer) == "header_fields_too_large"


def test_a_header_line_that_never_ends_gets_431(gateway: Gateway) -> None:
    with connect(gateway.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        for _ in range(64):  # 64 KiB, never a line end
            sock.sendall(b"y" * 1024)
        status, _, answer = read_response(sock)
    assert status == 431
    assert error_code(answer) == "header_fields_too_large"


def test_a_head_just_under_the_limit_is_served(gateway: Gateway) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * 7000 + b"\r\n\r\n"
    with connect(gateway.port) as sock:
        sock.sendall(head)
        status, _, _ = read_response(sock)
    assert status == 200


def test_half_a_head_is_closed_after_the_header_timeout(gateway: Gateway) -> None:
    with connect(gateway.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.3)  # header_timeout_s is 1: not closed before it
        sock.settimeout(0.01)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(30)
        assert closed_by_peer(sock)


def test_a_silent_connection_is_closed_after_the_header_timeout(gateway: Gateway) -> None:
    with connect(gateway.port) as sock:
        assert closed_by_peer(sock)


def test_a_head_trickled_byte_by_byte_is_closed(gateway: Gateway) -> None:
    # uvicorn's keep-alive timer restarts on every byte; the head timeout does not.
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 200 + b"\r\n\r\n"
    with connect(gateway.port) as sock:
        sock.settimeout(0.25)
        closed = False
        for byte in head:
            try:
                sock.send(bytes([byte]))
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
    assert closed, "the whole head went through one byte at a time"


def test_the_head_timeout_restarts_with_each_request_on_a_kept_alive_connection(
    gateway: Gateway,
) -> None:
    with connect(gateway.port) as sock:
        for _ in range(3):  # requests spaced wider than the timeout, each sent in time
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, _ = read_response(sock)
            assert status == 200
            time.sleep(0.6)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the next head, half sent
        assert closed_by_peer(sock)


def test_limits_apply_in_every_worker(tmp_path: Path) -> None:
    with serve_gateway(tmp_path, LIMITS, args=["--workers", "2"]) as gw:
        for _ in range(4):  # a new connection each: both workers answer some
            head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * 10_000 + b"\r\n\r\n"
            with connect(gw.port) as sock:
                sock.sendall(head)
                status, _, answer = read_response(sock)
            assert status == 431
            assert error_code(answer) == "header_fields_too_large"


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 13\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: 13\r\nContent-Length: 14\r\n",
        b"Transfer-Encoding: chunked, identity\r\n",
        b"X-Folded: a\r\n b\r\nContent-Length: 13\r\n",
    ],
    ids=["cl-and-te", "two-cl", "chunked-not-last", "obs-fold"],
)
def test_ambiguous_framing_is_refused_with_400_and_the_connection_closed(
    gateway: Gateway, head: bytes
) -> None:
    request = b"POST /moderate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    request += head + b"\r\n" + b"d\r\n" + b'{"text":"hi"}' + b"\r\n0\r\n\r\n"
    with connect(gateway.port) as sock:
        sock.sendall(request)
        status, headers, answer = read_response(sock)
        assert status == 400
        assert headers["connection"] == "close"
        assert error_code(answer) == "bad_request"
        assert closed_by_peer(sock)


# --------------------------------------------------------------------------- connections


def test_open_file_limit_is_raised_and_the_cap_fits_under_it(tmp_path: Path) -> None:
    if not open_files_possible(3000):
        pytest.skip("needs an open-file limit of 3000, and this user cannot raise it")
    with serve_gateway(tmp_path, open_files=(1024, 3000)) as gw:
        [limits] = gw.log_records("connection limits")
        lowered = gw.log_records("limits.max_connections lowered")
    assert limits["open_files_before"] == 1024
    assert limits["open_files"] == 3000
    # proxy.max_connections (512) + 256 kept free; room for refusals; default cap 10,000
    assert limits["reserved_files"] == 768
    assert limits["max_connections"] == (3000 - 768 - 16) * 8 // 9
    assert len(lowered) == 1


def test_at_the_cap_of_busy_connections_a_new_one_gets_a_clear_503(tmp_path: Path) -> None:
    env = {
        "AIGC_GATEWAY_LIMITS__MAX_CONNECTIONS": "16",
        "AIGC_GATEWAY_LIMITS__HEADER_TIMEOUT_S": "30",
    }
    with serve_gateway(tmp_path, env) as gw:
        busy = []
        try:
            for _ in range(16):  # requests whose body never finishes: busy, not displaceable
                sock = connect(gw.port)
                sock.sendall(post_head("/moderate", {"Content-Length": "100"}) + b'{"text":')
                busy.append(sock)
            refusal = None
            deadline = time.monotonic() + 30
            while refusal is None and time.monotonic() < deadline:
                with connect(gw.port) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    status, headers, answer = read_response(sock)
                if status == 503:
                    refusal = headers, answer
                else:
                    time.sleep(0.05)  # the busy requests are not all in yet
            assert refusal is not None, "never refused at the cap"
            headers, answer = refusal
            assert headers["connection"] == "close"
            assert headers["retry-after"] == "1"
            assert headers["content-type"] == "application/json"
            assert error_code(answer) == "service_unavailable"
        finally:
            for sock in busy:
                sock.close()
        # the busy connections gone, the gateway serves again
        deadline = time.monotonic() + 30
        while httpx.get(gw.url + "/healthz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
