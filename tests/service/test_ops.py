"""Operations: health, readiness, Prometheus metrics, request ids, JSON logs, OpenAPI docs."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.logs import JsonFormatter
from tests.service.conftest import GAMBLING
from tests.support.server import serve


def metric(text: str, name: str, **labels: str) -> float:
    """Value of one sample in Prometheus text exposition (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        got = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if sample.split("{")[0] == name and all(got.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def test_healthz_and_readyz(client: httpx.Client, lexdir: Path) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["lexicons"] is True
    assert body["terms"] == 4


def test_readyz_is_503_when_records_are_down(settings_factory, lexdir: Path) -> None:
    class DownRecorder:
        def ready(self) -> bool:
            return False

    app = create_app(settings_factory(lexicons=[lexdir]))
    with serve(app) as url:
        runtime = app.state.runtime
        real = runtime.recorder
        runtime.recorder = DownRecorder()
        try:
            r = httpx.get(url + "/readyz")
        finally:
            runtime.recorder = real
    assert r.status_code == 503
    assert r.json()["checks"]["records"] is False


def test_metrics_count_requests_decisions_and_lexicon(client: httpx.Client) -> None:
    before = client.get("/metrics").text
    for _ in range(3):
        client.post("/moderate", json={"text": "网上赌场"})
    client.post("/moderate", json={"text": "大麻", "direction": "output"})
    client.post("/moderate", json={"text": ""})
    r = client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    d = "aigc_gateway_decisions_total"
    assert (
        metric(text, d, direction="input", category=GAMBLING, action="block")
        == metric(before, d, direction="input", category=GAMBLING, action="block") + 3
    )
    assert metric(text, d, direction="output", action="flag") == 1
    req = "aigc_gateway_requests_total"
    assert metric(text, req, route="/moderate", status="200") == 4
    assert metric(text, req, route="/moderate", status="400") == 1
    assert metric(text, "aigc_gateway_scan_seconds_count", direction="input") == 3
    version = client.get("/readyz").json()["lexicon_version"]
    assert metric(text, "aigc_gateway_lexicon_info", version=version) == 1


def test_request_id_is_returned_and_kept(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    assert (
        client.get("/healthz", headers={"x-request-id": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    # an id with odd characters is replaced rather than echoed
    assert (
        client.get("/healthz", headers={"x-request-id": "bad id with spaces"}).headers[
            "x-request-id"
        ]
        != "bad id with spaces"
    )


def test_access_log_is_json_with_request_id_and_no_secrets(
    settings_factory, lexdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-very-secret-key-0123456789"
    caplog.set_level(logging.INFO, logger="aigc_gateway")
    with serve(create_app(settings_factory(lexicons=[lexdir]))) as url:
        r = httpx.post(
            url + f"/moderate?api_key={secret}",
            json={"text": "网上赌场 " + secret},
            headers={"authorization": f"Bearer {secret}", "x-request-id": "rid-42"},
        )
    assert r.status_code == 200
    fmt = JsonFormatter()
    lines = [fmt.format(rec) for rec in caplog.records]
    assert all(secret not in line for line in lines)
    access = [json.loads(line) for line in lines if '"aigc_gateway.access"' in line]
    (entry,) = [e for e in access if e.get("path") == "/moderate"]
    assert entry["request_id"] == "rid-42"
    assert entry["status"] == 200 and entry["method"] == "POST"
    assert entry["tenant"] == "default"
    assert isinstance(entry["duration_ms"], float)


def test_openapi_docs(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in ("/moderate", "/v1/moderations", "/healthz", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    for path in ("/moderate", "/v1/moderations"):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert "input" in body["schema"]["properties"]
    assert "#/$defs/" not in json.dumps(spec)  # every reference resolves in the document


def test_metrics_memoised_children_keep_counting() -> None:
    """``Metrics`` memoises labelled children: repeated observations still all count."""
    from service.metrics import Metrics

    m = Metrics()
    for _ in range(3):
        m.observe_request("/v1/chat/completions", "POST", 200, 0.004)
        m.observe_decision("input", "mask", [("a1", "mask"), ("a2", "allow")], 0.0001)
    m.observe_request("/v1/chat/completions", "POST", 500, 0.004)
    text = m.render()[0].decode()
    route = {"route": "/v1/chat/completions", "method": "POST"}
    assert metric(text, "aigc_gateway_requests_total", **route, status="200") == 3
    assert metric(text, "aigc_gateway_requests_total", **route, status="500") == 1
    assert metric(text, "aigc_gateway_texts_screened_total", direction="input", action="mask") == 3
    assert (
        metric(
            text, "aigc_gateway_decisions_total", direction="input", category="a2", action="allow"
        )
        == 3
    )
    assert metric(text, "aigc_gateway_scan_seconds_count", direction="input") == 3
