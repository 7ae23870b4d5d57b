"""``aigc-gateway label`` and ``aigc-gateway inspect`` through the real CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from service.cli import main

from .doc_support import PRODUCER, PROPAGATOR, make_pdf


def test_label_then_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.pdf"
    src.write_bytes(make_pdf())
    key = tmp_path / "key"
    key.write_bytes(b"cli-test-secret-0123456789")
    out = tmp_path / "out.pdf"
    assert main(["label", str(src), "-o", str(out), "--producer-code", PRODUCER,
                 "--sign", "hmac-sha256", "--key-file", str(key)]) == 0
    record = json.loads(PdfReader(str(out)).metadata["/AIGC"])
    assert record["ContentProducer"] == PRODUCER
    capsys.readouterr()
    assert main(["inspect", str(out), "--key-file", str(key)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["compliant"] and report["signatures"]["producer"]["state"] == "valid"
    assert main(["inspect", str(src)]) == 1  # no label: not compliant


def test_propagate_from_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.md"
    src.write_text("# hi\n", encoding="utf-8")
    out = tmp_path / "out.md"
    monkeypatch.setenv("AIGC_GATEWAY_LABELS__PROPAGATOR_CODE", PROPAGATOR)
    assert main(["label", str(src), "-o", str(out), "--propagate", "--detected-ai",
                 "--propagate-id", "p9"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "Label: '3'" in text and "疑似" in text


def test_errors_leave_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.pdf"
    src.write_bytes(make_pdf()[:-50])
    out = tmp_path / "out.pdf"
    assert main(["label", str(src), "-o", str(out), "--producer-code", PRODUCER]) == 2
    assert "truncated" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == [src]
    assert main(["label", str(src), "-o", str(out)]) == 2  # no provider code
    assert main(["inspect", str(tmp_path / "missing.pdf")]) == 2


def test_console_entry_runs_as_a_process(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text("answer\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "service", "label", str(src), "-o", "-",
                           "--producer-code", PRODUCER], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # same default as POST /label (labels.text_position = "start"): one bridge, one meaning
    assert done.stdout.decode().startswith("本内容由人工智能生成\n\nanswer")
    assert json.loads(done.stderr)["implicit"] is False  # summary on stderr: stdout is the file
