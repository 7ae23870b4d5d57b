"""Markdown front matter and plain-text notices, read back with PyYAML."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from labelers import LabelRecord, LabelSettings, UnsupportedMediaError, label_file, label_text
from labelers.formats import text as text_format
from labelers.record import FIELDS

from .doc_support import PRODUCER

SETTINGS = LabelSettings(PRODUCER)


def _front_matter(data: bytes) -> dict:
    text = data.decode("utf-8").lstrip("\ufeff")
    assert text.startswith("---")
    _, front, _ = text.split("---", 2)
    return yaml.safe_load(front)


def test_markdown_without_front_matter() -> None:
    out = label_file(b"# Title\n\nBody text.\n", filename="post.md", settings=SETTINGS)
    assert out.media_type.startswith("text/markdown") and out.implicit
    meta = _front_matter(out.data)
    assert list(meta["AIGC"]) == list(FIELDS)
    assert meta["AIGC"] == out.record.to_dict()
    body = out.data.decode().split("---", 2)[2]
    assert body.startswith("\n# Title") and body.rstrip().endswith("本内容由人工智能生成")


def test_markdown_front_matter_kept_and_record_replaced_once() -> None:
    src = b"---\ntitle: \"A: b\"\ntags:\n  - x\n  - y\n---\n\nHello\n"
    out = label_file(src, filename="a.markdown", settings=SETTINGS)
    meta = _front_matter(out.data)
    assert meta["title"] == "A: b" and meta["tags"] == ["x", "y"]
    assert meta["AIGC"]["ProduceID"] == out.record.produce_id
    # rewriting with another record replaces the block, never appends a second one
    other = out.record.replace(content_propagator="P", propagate_id="Q")
    again = text_format.write_implicit(out.data, other, markdown=True)
    assert again.decode().count("AIGC:") == 1
    assert _front_matter(again)["AIGC"] == other.to_dict()
    assert label_file(out.data, filename="a.md", settings=SETTINGS).data == out.data


def test_front_matter_alone_makes_markdown_and_crlf_is_kept() -> None:
    src = b"---\r\ntitle: x\r\n---\r\nline one\r\n"
    out = label_file(src, filename="notes.txt", settings=SETTINGS)
    assert out.media_type.startswith("text/markdown")
    assert b"\n" not in out.data.replace(b"\r\n", b"")
    assert _front_matter(out.data.replace(b"\r\n", b"\n"))["AIGC"] == out.record.to_dict()


def test_quote_in_reserved_code_survives_yaml() -> None:
    record = LabelRecord("1", PRODUCER, "id", '{"SecurityData":{"Type":"TC260PG"}}', "", "", "")
    data = text_format.write_implicit(b"x\n", record, markdown=True)
    assert _front_matter(data)["AIGC"] == record.to_dict()
    assert text_format.read_implicit(data)[0].record == record


def test_plain_text_gets_notice_only() -> None:
    out = label_file("今天天气很好。\n".encode(), filename="a.txt", settings=SETTINGS)
    assert out.media_type.startswith("text/plain")
    assert not out.implicit and out.explicit
    assert out.data.decode().rstrip().endswith("本内容由人工智能生成")
    start = label_file(b"hello", settings=SETTINGS.replace(text_position="start"))
    assert start.data.decode().startswith("本内容由人工智能生成")


@given(st.text(max_size=300), st.sampled_from(["start", "end"]))
def test_label_text_always_meets_the_start_end_rule(text: str, position: str) -> None:
    labeled = label_text(text, settings=SETTINGS, position=position)
    assert text_format.has_notice(labeled)
    assert text.strip() in labeled
    assert label_text(labeled, settings=SETTINGS, position=position) == labeled  # idempotent


def test_notice_in_the_middle_is_not_enough() -> None:
    text = "x" * 100 + "本内容由人工智能生成" + "y" * 100
    assert not text_format.has_notice(text)
    assert text_format.has_notice(label_text(text, settings=SETTINGS))


@pytest.mark.parametrize("data", [b"\x00\x01binary\xff", b"\xff\xfe\xfa" * 10])
def test_binary_is_not_text(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaError):
        label_file(data, filename="a.txt", settings=SETTINGS)
