"""label_file / inspect_file / propagate_file across formats: sniffing, idempotency, conflicts,
propagation (M Art. 6) and no partial output."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pypdf import PdfReader

import labelers
from labelers import (
    CorruptFileError,
    LabelConflictError,
    LabelFormatError,
    LabelRecord,
    LabelSettings,
    UnsupportedMediaError,
    inspect_file,
    label_file,
    propagate_file,
)
from labelers.formats import text as text_format

from .doc_support import OTHER_PRODUCER, PRODUCER, PROPAGATOR, make_ooxml, make_pdf

SETTINGS = LabelSettings(PRODUCER)
FIELDS_OF_PRODUCER = ("Label", "ContentProducer", "ProduceID", "ReservedCode1")


def _png(size: int = 256) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (40, 90, 160)).save(buf, "PNG")
    return buf.getvalue()


def _markdown_with(record: LabelRecord) -> bytes:
    return text_format.write_implicit(b"# Post\n\nbody\n", record, markdown=True)


def test_exported_members() -> None:
    assert labelers.__all__ == sorted(labelers.__all__)
    for name in labelers.__all__:
        assert hasattr(labelers, name)


def test_content_wins_over_the_extension() -> None:
    pdf = label_file(make_pdf(), filename="photo.jpg", media_type="image/jpeg",
                     settings=SETTINGS)
    assert pdf.media_type == "application/pdf"
    assert PdfReader(io.BytesIO(pdf.data)).metadata["/AIGC"] == pdf.record.to_json()
    png = label_file(_png(), filename="report.pdf", settings=SETTINGS)
    assert png.media_type == "image/png"
    assert inspect_file(png.data, filename="x.docx").compliant


def test_unsupported_and_oversized() -> None:
    with pytest.raises(UnsupportedMediaError):
        label_file(bytes(range(256)) * 4, filename="a.pdf", settings=SETTINGS)
    with pytest.raises(CorruptFileError, match="larger"):
        label_file(make_pdf(), settings=SETTINGS.replace(max_bytes=100))


@pytest.mark.parametrize("make", [make_pdf, lambda: make_ooxml("docx"),
                                  lambda: b"# md\n\ntext\n", _png],
                         ids=["pdf", "docx", "md", "png"])
def test_labeling_twice_is_idempotent(make) -> None:
    first = label_file(make(), filename="f.md", settings=SETTINGS)
    second = label_file(first.data, filename="f.md", settings=SETTINGS)
    assert second.data == first.data and second.record == first.record
    assert second.unchanged and not second.explicit
    report = inspect_file(second.data, filename="f.md")
    assert report.compliant, report.problems
    assert report.record == first.record


def test_produce_ids_unique_per_content_and_explicit_id_kept() -> None:
    ids = {label_file(f"text {i}\n".encode(), filename="a.md", settings=SETTINGS)
           .record.produce_id for i in range(50)}
    assert len(ids) == 50
    out = label_file(b"x", filename="a.md", settings=SETTINGS, produce_id="order-42")
    assert out.record.produce_id == "order-42"


def test_another_producers_label_is_not_overwritten() -> None:
    theirs = _markdown_with(LabelRecord("1", OTHER_PRODUCER, "their-id"))
    with pytest.raises(LabelConflictError):
        label_file(theirs, filename="a.md", settings=SETTINGS)
    broken = b"---\nAIGC: '{not json'\n---\nbody\n"
    with pytest.raises(LabelConflictError):
        label_file(broken, filename="a.md", settings=SETTINGS)
    report = inspect_file(broken, filename="a.md")
    assert report.record is None and "not valid JSON" in " ".join(report.problems)


def test_inspect_reports_missing_label_and_bad_codes() -> None:
    report = inspect_file(make_pdf())
    assert not report.compliant and report.problems == ["no AIGC record found"]
    named = inspect_file(_markdown_with(LabelRecord("1", "doubao", "x")), filename="a.md")
    assert named.record is not None and not named.compliant
    assert any("27-character" in p for p in named.problems)
    as_dict = json.loads(json.dumps(named.to_dict()))
    assert as_dict["found"][0]["carrier"] == "markdown:front-matter"


producer_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                        exclude_characters="\\'"), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["1", "2", "3"]), producer_values, producer_values,
       st.one_of(st.just(""), producer_values))
def test_propagation_never_alters_producer_fields(label: str, producer: str, pid: str,
                                                  reserved: str) -> None:
    original = LabelRecord(label, producer, pid, reserved)
    src = _markdown_with(original)
    out = propagate_file(src, filename="a.md", propagator_code=PROPAGATOR, propagate_id="P-1",
                         settings=SETTINGS)
    found = text_format.read_implicit(out.data)
    assert len(found) == 1
    record = found[0].record
    for key in FIELDS_OF_PRODUCER:
        assert record.to_dict()[key] == original.to_dict()[key]
    assert (record.content_propagator, record.propagate_id) == (PROPAGATOR, "P-1")
    assert not out.explicit  # producer's label is already in the file; notice is for the UI
    assert out.notice == {"1": "该内容属于人工智能生成合成内容",
                          "2": "该内容可能为人工智能生成合成内容",
                          "3": "该内容疑似为人工智能生成合成内容"}[label]


def test_propagation_declared_and_detected() -> None:
    declared = propagate_file(make_pdf(), propagator_code=PROPAGATOR, propagate_id="d1",
                              declared_ai=True, detected_ai=True, settings=SETTINGS)
    assert declared.record.label == "2" and declared.record.content_producer == ""
    assert "可能为" in PdfReader(io.BytesIO(declared.data)).pages[0].extract_text()
    detected = propagate_file(b"plain words\n", filename="a.txt", propagator_code=PROPAGATOR,
                              propagate_id="d2", detected_ai=True, settings=SETTINGS)
    assert detected.record.label == "3" and not detected.implicit
    assert detected.data.decode().rstrip().endswith("该内容疑似为人工智能生成合成内容")
    with pytest.raises(LabelFormatError, match="nothing to propagate"):
        propagate_file(make_pdf(), propagator_code=PROPAGATOR, propagate_id="d3",
                       settings=SETTINGS)


def test_propagation_refuses_other_propagators_and_bad_codes() -> None:
    theirs = _markdown_with(LabelRecord("1", PRODUCER, "x", "", "001191110102MACQD9K64020000",
                                        "their-pid"))
    with pytest.raises(LabelConflictError):
        propagate_file(theirs, filename="a.md", propagator_code=PROPAGATOR, propagate_id="p",
                       settings=SETTINGS)
    # Annex E note 1: propagator fields that only repeat the producer's may be filled in
    note1 = _markdown_with(LabelRecord("1", PRODUCER, "x", "", PRODUCER, "x"))
    out = propagate_file(note1, filename="a.md", propagator_code=PROPAGATOR, propagate_id="p",
                         settings=SETTINGS)
    assert out.record.content_propagator == PROPAGATOR
    with pytest.raises(LabelFormatError):
        propagate_file(note1, filename="a.md", propagator_code=PRODUCER, propagate_id="p",
                       settings=SETTINGS)  # position 23 must be "2"
    with pytest.raises(LabelFormatError):
        propagate_file(note1, filename="a.md", propagator_code=PROPAGATOR, propagate_id="a b",
                       settings=SETTINGS)


def test_repropagation_by_the_same_platform_keeps_one_record() -> None:
    labeled = label_file(make_ooxml("docx"), settings=SETTINGS)
    once = propagate_file(labeled.data, propagator_code=PROPAGATOR, propagate_id="p1",
                          settings=SETTINGS)
    twice = propagate_file(once.data, propagator_code=PROPAGATOR, propagate_id="p1",
                           settings=SETTINGS)
    report = inspect_file(twice.data)
    assert report.compliant and len(report.found) == 1
    assert report.record == once.record


_LABELED = {
    "pdf": label_file(make_pdf(), settings=SETTINGS).data,
    "docx": label_file(make_ooxml("docx"), settings=SETTINGS).data,
    "md": label_file(b"# t\n\nbody\n", filename="a.md", settings=SETTINGS).data,
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_LABELED)), st.data())
def test_damaged_files_give_a_report_or_a_label_error(kind: str, data: st.DataObject) -> None:
    raw = bytearray(_LABELED[kind])
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    try:
        report = inspect_file(bytes(raw), filename="a.md")
    except labelers.LabelError:
        return
    json.dumps(report.to_dict())  # a report is always serialisable
    try:
        label_file(bytes(raw), filename="a.md", settings=SETTINGS)
    except labelers.LabelError:
        pass
