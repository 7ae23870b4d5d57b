"""Bad input gets a 4xx with ``{"error": {"code", "message"}}`` and a stable code; no crash."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.config import load_settings
from tests.service.conftest import live

JSON = {"content-type": "application/json"}


def error_of(r: httpx.Response) -> tuple[int, str]:
    body = r.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return r.status_code, body["error"]["code"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{", (400, "invalid_json")),
        (b'{"text": "a"', (400, "invalid_json")),
        (b"\xff\xfe", (400, "invalid_json")),
        (b"[]", (422, "validation_error")),
        (b'"text"', (422, "validation_error")),
        (b'{"text": 1}', (422, "validation_error")),
        (b'{"text": ["a"]}', (422, "validation_error")),
        (b'{"input": [1, 2]}', (422, "validation_error")),
        (b'{"text": "a", "direction": "sideways"}', (422, "validation_error")),
        (b'{"text": "a", "profile": "lenient"}', (422, "validation_error")),
        (b'{"text": "a", "unknown": true}', (422, "validation_error")),
        (b'{"text": "a", "input": ["b"]}', (422, "validation_error")),
        (b"{}", (422, "validation_error")),
        (b'{"text": ""}', (400, "empty_text")),
        (b'{"text": " \\n\\t"}', (400, "empty_text")),
        (b'{"input": []}', (400, "empty_text")),
        (b'{"input": ["ok", ""]}', (400, "empty_text")),
    ],
)
def test_malformed_requests(client: httpx.Client, raw: bytes, expected: tuple[int, str]) -> None:
    assert error_of(client.post("/moderate", content=raw, headers=JSON)) == expected


def test_validation_message_names_the_field(client: httpx.Client) -> None:
    r = client.post("/moderate", json={"text": 5})
    assert r.json()["error"]["message"].startswith("text:")


def test_limits_are_configurable(settings_factory, lexdir: Path) -> None:
    limits = {"max_text_chars": 10, "max_batch_items": 2, "max_body_bytes": 2048}
    with live(settings_factory(lexicons=[lexdir], limits=limits)) as c:
        assert c.post("/moderate", json={"text": "a" * 10}).status_code == 200
        assert error_of(c.post("/moderate", json={"text": "a" * 11})) == (413, "payload_too_large")
        assert error_of(c.post("/moderate", json={"input": ["a", "b", "c"]})) == (
            413,
            "payload_too_large",
        )
        big = b'{"text": "' + b"a" * 5000 + b'"}'
        assert error_of(c.post("/moderate", content=big, headers=JSON)) == (
            413,
            "payload_too_large",
        )

        def chunked():  # no content-length: counted while it arrives
            yield b'{"text": "'
            for _ in range(10):
                yield b"a" * 500
            yield b'"}'

        r = c.post("/moderate", content=chunked(), headers=JSON)
        assert error_of(r) == (413, "payload_too_large")
        # the server is still fine afterwards
        assert c.post("/moderate", json={"text": "网上赌场"}).json()["flagged"] is True


def test_unknown_path_and_method(client: httpx.Client) -> None:
    assert error_of(client.get("/no/such/path")) == (404, "not_found")
    assert error_of(client.get("/moderate")) == (405, "method_not_allowed")


def test_truncated_body_does_not_break_the_server(client: httpx.Client) -> None:
    """A client that announces more bytes than it sends and hangs up."""
    url = urlsplit(str(client.base_url))
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        s.sendall(
            b"POST /moderate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"text": "ab'
        )
    assert client.post("/moderate", json={"text": "网上赌场"}).status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["text", "input", "direction", "profile", "x"]), children)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("fuzz")
    with live(load_settings(data_dir=root / "var")) as c:
        yield c


@settings(max_examples=150, deadline=None)
@given(body=json_values, path=st.sampled_from(["/moderate", "/v1/moderations"]))
def test_any_json_gets_a_result_or_a_stable_error(fuzz_client, body, path: str) -> None:
    r = fuzz_client.post(path, content=json.dumps(body).encode(), headers=JSON)
    if r.status_code == 200:
        assert "results" in r.json() or "flagged" in r.json()
    else:
        code = r.json()["error"]["code"]
        assert (r.status_code, code) in {
            (400, "empty_text"),
            (422, "validation_error"),
            (413, "payload_too_large"),
        }


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=64))
def test_any_bytes_get_a_result_or_a_stable_error(fuzz_client, raw: bytes) -> None:
    r = fuzz_client.post("/moderate", content=raw, headers=JSON)
    assert r.status_code in (200, 400, 422)
    if r.status_code != 200:
        assert r.json()["error"]["code"] in {"invalid_json", "validation_error", "empty_text"}
