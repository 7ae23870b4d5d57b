"""POST /label, /label/inspect, /label/propagate on a real app on loopback."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from service.app import create_app
from service.config import load_settings
from tests.support.server import serve

from .doc_support import OTHER_PRODUCER, PRODUCER, PROPAGATOR, make_ooxml, make_pdf

HMAC_KEY = "route-test-secret-0123456789"


def _client(tmp_path: Path, **labels: Any) -> Iterator[httpx.Client]:
    settings = load_settings(data_dir=tmp_path / "var",
                             database=f"sqlite:///{tmp_path / 'records.sqlite3'}",
                             labels=labels)
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    yield from _client(tmp_path_factory.mktemp("labels"), producer_code=PRODUCER,
                       propagator_code=PROPAGATOR, signing="hmac-sha256",
                       signing_key=HMAC_KEY, max_upload_bytes=200_000)


def test_label_file(client: httpx.Client) -> None:
    r = client.post("/label", files={"file": ("report.jpg", make_pdf(), "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    record = json.loads(r.headers["x-aigc-label"])
    assert record["ContentProducer"] == PRODUCER and record["ReservedCode1"]
    assert PdfReader(io.BytesIO(r.content)).metadata["/AIGC"] == r.headers["x-aigc-label"]
    assert r.headers["x-aigc-explicit"] == "true"
    inspected = client.post("/label/inspect", files={"file": ("x.pdf", r.content)}).json()
    assert inspected["compliant"] and inspected["signatures"]["producer"]["state"] == "valid"


def test_label_text(client: httpx.Client) -> None:
    r = client.post("/label", json={"text": "模型的回答。", "position": "start"})
    assert r.status_code == 200
    assert r.json()["text"].startswith("本内容由人工智能生成")
    assert client.post("/label", json={"text": "  "}).json()["error"]["code"] == "empty_text"
    assert client.post("/label", json={"txt": "x"}).status_code == 422
    bad = client.post("/label", content=b"{", headers={"content-type": "application/json"})
    assert bad.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(("payload", "status", "code"), [
    (make_pdf()[:-40], 422, "corrupt_file"),
    (bytes(range(256)) * 8, 415, "unsupported_media_type"),
    (b"\0" * 300_000, 413, "payload_too_large"),
])
def test_bad_files(client: httpx.Client, payload: bytes, status: int, code: str) -> None:
    r = client.post("/label", files={"file": ("f.pdf", payload)})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_missing_file_field_and_conflict(client: httpx.Client) -> None:
    r = client.post("/label", files={"upload": ("f.pdf", make_pdf())})
    assert r.status_code == 422
    from labelers import LabelSettings, label_file

    theirs = label_file(make_ooxml("docx"), settings=LabelSettings(OTHER_PRODUCER)).data
    r = client.post("/label", files={"file": ("f.docx", theirs)})
    assert r.status_code == 422 and r.json()["error"]["code"] == "label_conflict"


def test_propagate(client: httpx.Client) -> None:
    r = client.post("/label/propagate", files={"file": ("a.pdf", make_pdf())},
                    data={"declared_ai": "true", "propagate_id": "post-77"})
    assert r.status_code == 200, r.text
    record = json.loads(r.headers["x-aigc-label"])
    assert record["Label"] == "2" and record["PropagateID"] == "post-77"
    assert record["ContentPropagator"] == PROPAGATOR
    r = client.post("/label/propagate", files={"file": ("a.pdf", make_pdf())})
    assert r.status_code == 422 and r.json()["error"]["code"] == "label_invalid"


def test_unconfigured_producer_code_is_503(tmp_path: Path) -> None:
    for client in _client(tmp_path):
        r = client.post("/label", files={"file": ("a.pdf", make_pdf())})
        assert r.status_code == 503
