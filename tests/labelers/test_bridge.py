"""One bridge (service/labeling.py): the same file labeled through ``POST /label``, the
``label`` command, the proxy's media path and the bridge itself gives the same record,
signature and bytes, from one config file. Plus the service-level contracts around it (503 without a producer code, 422 for
text the font cannot draw, trace detection on ``/label/propagate``, CLI output)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import PngImagePlugin

from service import labeling
from service.app import create_app
from service.config import load_settings
from tests.support.server import serve

from .doc_support import PRODUCER, PROPAGATOR, make_pdf
from .image_support import encode, exiftool, gradient, ocr
from .test_traces import A1111

ROOT = Path(__file__).resolve().parents[2]
KEY = "bridge-test-secret-0123456789"


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f"""
data_dir = "{tmp_path / 'var'}"
database = "sqlite:///{tmp_path / 'records.sqlite3'}"
[labels]
producer_code = "{PRODUCER}"
propagator_code = "{PROPAGATOR}"
signing = "hmac-sha256"
signing_key = "{KEY}"
signing_key_id = "ops-1"
image_position = "top-left"
audio_morse = "end"
max_upload_bytes = 2000000
{extra}
""")
    return path


@pytest.mark.parametrize("kind", ["png", "pdf"])
def test_same_file_same_record_signature_and_bytes_on_every_path(tmp_path: Path,
                                                                 kind: str) -> None:
    src = encode(gradient(400, 300), "PNG") if kind == "png" else make_pdf()
    config = _config(tmp_path)
    settings = load_settings(config=config)
    # 1. the bridge, as the proxy's media path calls it
    direct = labeling.label(settings.labels, None, src, produce_id="same-1")
    # 2. POST /label
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        r = client.post("/label", files={"file": (f"a.{kind}", src)},
                        data={"produce_id": "same-1"})
    assert r.status_code == 200, r.text
    # 3. the command line, in its own process, reading the same config file
    (tmp_path / f"in.{kind}").write_bytes(src)
    done = subprocess.run([sys.executable, "-m", "service", "label", f"in.{kind}", "-o",
                           f"out.{kind}", "--config", str(config), "--produce-id", "same-1"],
                          cwd=tmp_path, capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr.decode()
    cli = (tmp_path / f"out.{kind}").read_bytes()
    records = {direct.record.to_json(), r.headers["x-aigc-label"],
               json.dumps(json.loads(done.stdout)["record"], separators=(",", ":"))}
    assert len(records) == 1
    record = json.loads(records.pop())
    assert record["ProduceID"] == "same-1" and '"KeyID":"ops-1"' in record["ReservedCode1"]
    assert len({hashlib.sha256(b).hexdigest() for b in (direct.data, r.content, cli)}) == 1
    # the signature verifies with a second HMAC implementation (stdlib) on the A.1 message
    import hmac

    sd = json.loads(record["ReservedCode1"])["SecurityData"]
    message = (f'"Label":"1","ContentProducer":"{PRODUCER}","ProduceID":"same-1"').encode()
    macs = [e["Signature"] for e in sd["PrivSD"] if e["TBSData"]["Type"] == "Md"]
    assert macs == [hmac.new(KEY.encode(), message, "sha256").hexdigest()]
    # settings that differ from the library defaults arrived everywhere: label at top-left
    if kind == "png":
        boxes = [box for text, box in ocr(cli) if "AI生成" in text]
        assert boxes and boxes[0][0] < 100 and boxes[0][1] < 100
    report = labeling.inspect(settings.labels, cli)
    assert report.compliant and report.signatures["producer"].state == "valid"


def test_missing_producer_code_is_503_on_http_and_exit_2_on_cli(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var",
                             database=f"sqlite:///{tmp_path / 'r.sqlite3'}")
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/label", files={"file": ("a.pdf", make_pdf())})
        assert r.status_code == 503 and r.json()["error"]["code"] == "labels_not_configured"
        r = client.post("/label", json={"text": "答案"})
        assert r.status_code == 503
    (tmp_path / "a.pdf").write_bytes(make_pdf())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGC_GATEWAY_")}
    done = subprocess.run([sys.executable, "-m", "service", "label", "a.pdf", "-o", "b.pdf"],
                          cwd=tmp_path, capture_output=True, env={**env, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and b"labels_not_configured" in done.stderr
    assert not (tmp_path / "b.pdf").exists()


def test_text_the_font_cannot_draw_is_422(tmp_path: Path) -> None:
    settings = load_settings(config=_config(tmp_path, 'explicit_text = "AI生成𠀋"'))
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/label", files={"file": ("a.png", encode(gradient(300, 200), "PNG"))})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "label_text_unsupported" and "𠀋" in r.text


def test_propagate_detect_field_and_configured_default(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    png = encode(gradient(300, 200), "PNG", pnginfo=info)
    for extra, field, expected in (("", {"detect": "true"}, "3"), ("", {}, None),
                                   ("detect_traces = true", {}, "3"),
                                   ("detect_traces = true", {"detect": "false"}, None)):
        sub = tmp_path / f"c{len(extra)}{len(field)}{field.get('detect', '')}"
        sub.mkdir()
        settings = load_settings(config=_config(sub, extra))
        with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as c:
            r = c.post("/label/propagate", files={"file": ("a.png", png)}, data=field)
        if expected is None:
            assert r.status_code == 422 and r.json()["error"]["code"] == "label_invalid"
            continue
        assert r.status_code == 200, r.text
        assert json.loads(r.headers["x-aigc-label"])["Label"] == expected
        evidence = json.loads(r.headers["x-aigc-evidence"])
        assert evidence[0]["source"] == "generation-parameters"
        assert "Steps: 20" in evidence[0]["evidence"]


def test_inspect_reports_visible_notice_and_traces(tmp_path: Path) -> None:
    settings = load_settings(config=_config(tmp_path))
    with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        labeled = client.post("/label", files={"file": ("a.pdf", make_pdf())}).content
        before = client.post("/label/inspect", files={"file": ("a.pdf", make_pdf())}).json()
        after = client.post("/label/inspect", files={"file": ("a.pdf", labeled)}).json()
    assert before["explicit_notice"] is False and after["explicit_notice"] is True
    assert after["compliant"] and after["signatures"]["producer"]["state"] == "valid"
    assert "traces" in after and "c2pa" in after


def test_cli_summary_on_stdout_and_umask_mode(tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(make_pdf())
    code = (f"import os, sys; os.umask(0o022); sys.argv = ['aigc-gateway', 'label', 'a.pdf', "
            f"'-o', 'b.pdf', '--producer-code', '{PRODUCER}']; from service.cli import main; "
            f"sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["output"] == "b.pdf" and summary["record"]["ContentProducer"] == PRODUCER
    assert stat.S_IMODE((tmp_path / "b.pdf").stat().st_mode) == 0o644


def test_same_image_same_record_through_the_proxy(tmp_path: Path) -> None:
    """The fourth path: an image-generation answer (b64_json, then a URL result) from a fake
    upstream, labeled inside the proxy, equals the bridge, ``POST /label`` and the CLI: the
    same record (read by ExifTool), the same bytes, an HMAC that stdlib ``hmac`` verifies —
    from one config file."""
    import base64
    import hmac

    import openai

    from tests.support.fake_upstream import FakeUpstream, Reply

    src = encode(gradient(400, 300), "PNG")
    fake = FakeUpstream()
    with serve(fake) as upstream:
        config = _config(tmp_path)
        config.write_text(f'upstream = "{upstream}"\n' + config.read_text())
        settings = load_settings(config=config)
        fake.json("/v1/images/generations",
                  {"created": 1, "data": [{"b64_json": base64.b64encode(src).decode()}]})
        fake.reply("/files/out.png", Reply([src], content_type="image/png"))
        fake.json("/v1/images/generations",
                  {"created": 2, "data": [{"url": upstream + "/files/out.png"}]})
        with serve(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as c:
            sdk = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0)
            raw = sdk.images.with_raw_response.generate(model="img", prompt="a cat",
                                                        response_format="b64_json")
            from_b64 = base64.b64decode(raw.parse().data[0].b64_json)
            pid_b64 = json.loads(raw.headers["x-aigc-label"])["ProduceID"]
            r = c.post("/v1/images/generations", json={"model": "img", "prompt": "a cat"})
            assert r.status_code == 200, r.text
            pid_url = json.loads(r.headers["x-aigc-label"])["ProduceID"]
            from_url = c.get(r.json()["data"][0]["url"]).content
            assert pid_b64 != pid_url
            by_route = c.post("/label", files={"file": ("a.png", src)},
                              data={"produce_id": pid_b64})
            assert by_route.status_code == 200, by_route.text
    (tmp_path / "in.png").write_bytes(src)
    done = subprocess.run([sys.executable, "-m", "service", "label", "in.png", "-o", "out.png",
                           "--config", str(config), "--produce-id", pid_b64],
                          cwd=tmp_path, capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr.decode()
    by_cli = (tmp_path / "out.png").read_bytes()
    direct = {pid: labeling.label(settings.labels, None, src, produce_id=pid)
              for pid in (pid_b64, pid_url)}
    # the same bytes on every path (for the same ProduceID)
    assert {hashlib.sha256(b).digest() for b in (from_b64, by_route.content, by_cli,
                                                   direct[pid_b64].data)} \
        == {hashlib.sha256(direct[pid_b64].data).digest()}
    assert from_url == direct[pid_url].data
    # the record as ExifTool reads it from each file, signed with the configured key
    paths = []
    for name, data in (("proxy-b64", from_b64), ("proxy-url", from_url), ("route", by_route.content),
                       ("cli", by_cli)):
        paths.append(tmp_path / f"{name}.png")
        paths[-1].write_bytes(data)
    views = exiftool(paths, tmp_path)
    records = [json.loads(v["XMP-TC260:AIGC"]) for v in views]
    assert records[0] == records[2] == records[3] == direct[pid_b64].record.to_dict()
    assert records[1] == direct[pid_url].record.to_dict()
    for record, pid in zip(records, (pid_b64, pid_url, pid_b64, pid_b64), strict=True):
        assert record["ContentProducer"] == PRODUCER and record["ProduceID"] == pid
        sd = json.loads(record["ReservedCode1"])["SecurityData"]
        message = (f'"Label":"1","ContentProducer":"{PRODUCER}","ProduceID":"{pid}"').encode()
        macs = [e["Signature"] for e in sd["PrivSD"] if e["TBSData"]["Type"] == "Md"]
        assert macs == [hmac.new(KEY.encode(), message, "sha256").hexdigest()]
    # image_position = "top-left" from the config file reached the proxy's labels too
    boxes = [box for text, box in ocr(from_url) if "AI生成" in text]
    assert boxes and boxes[0][0] < 100 and boxes[0][1] < 100
