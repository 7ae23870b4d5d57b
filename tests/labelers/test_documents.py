"""PDF and OOXML labels, read back with readers that are not our writer."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from labelers import (
    CorruptFileError,
    LabelSettings,
    UnsupportedMediaError,
    inspect_file,
    label_file,
)

from .doc_support import CUSTOM_WITH_OTHER, PRODUCER, aigc_property, make_ooxml, make_pdf

SETTINGS = LabelSettings(PRODUCER)
TC260 = "{http://www.tc260.org.cn/ns/AIGC/1.0/}AIGC"
CUSTOM = "{http://schemas.openxmlformats.org/officeDocument/2006/custom-properties}"
VT = "{http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes}"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
XMP_WITH_TITLE = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
    '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Quarterly</rdf:li></rdf:Alt></dc:title>'
    '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)
poppler = pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="poppler-utils missing")


def _poppler(tool: str, path: Path, *args: str) -> str:
    done = subprocess.run([tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
                          capture_output=True, text=True, timeout=30, check=True)
    return done.stdout


# ---------------------------------------------------------------- PDF


def test_pdf_info_xmp_and_notice_read_by_pypdf(tmp_path: Path) -> None:
    src = make_pdf(pages=3, title="Quarterly", xmp=XMP_WITH_TITLE)
    out = label_file(src, settings=SETTINGS)
    assert out.media_type == "application/pdf" and out.explicit and out.implicit
    reader = PdfReader(io.BytesIO(out.data))
    assert reader.metadata["/AIGC"] == out.record.to_json()
    assert reader.metadata["/Title"] == "Quarterly"  # other Info keys kept
    assert len(reader.pages) == 3
    assert "本内容由人工智能生成" in reader.pages[0].extract_text()
    assert "本内容由人工智能生成" not in reader.pages[1].extract_text()
    assert "Hello world 1" in reader.pages[0].extract_text()  # content kept
    xmp = ET.fromstring(reader.xmp_metadata.stream.get_data())
    values = [e.text for e in xmp.iter(TC260)]
    assert values == [out.record.to_json()]
    assert [e.text for e in xmp.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}li")] == [
        "Quarterly"]  # merged, not replaced


@poppler
def test_pdf_read_by_poppler(tmp_path: Path) -> None:
    out = label_file(make_pdf(), settings=SETTINGS)
    path = tmp_path / "out.pdf"
    path.write_bytes(out.data)
    meta = _poppler("pdfinfo", path, "-meta")
    root = ET.fromstring(meta[meta.index("<x:xmpmeta"): meta.index("</x:xmpmeta>") + 12])
    assert json.loads(next(root.iter(TC260)).text) == out.record.to_dict()
    custom = _poppler("pdfinfo", path, "-custom")
    line = next(x for x in custom.splitlines() if x.startswith("AIGC:"))
    assert json.loads(line.split(":", 1)[1].strip()) == out.record.to_dict()
    text = _poppler("pdftotext", path, "-l", "1")
    assert "本内容由人工智能生成" in text and "Hello world 1" in text


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils missing")
def test_pdf_notice_is_visibly_rendered(tmp_path: Path) -> None:
    from PIL import Image

    def dark_top(data: bytes, name: str) -> int:
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(data)
        subprocess.run(["pdftoppm", "-r", "30", "-f", "1", "-l", "1", "-gray", "-png", str(path),
                        str(tmp_path / name)], check=True, timeout=30)
        image = Image.open(next(tmp_path.glob(f"{name}*.png"))).convert("L")
        top = image.crop((0, 0, image.width, image.height // 8)).tobytes()
        return sum(1 for p in top if p < 128)

    src = make_pdf()
    assert dark_top(src, "before") == 0
    assert dark_top(label_file(src, settings=SETTINGS).data, "after") > 10


def test_pdf_relabel_is_idempotent_and_leaves_one_record() -> None:
    first = label_file(make_pdf(), settings=SETTINGS)
    second = label_file(first.data, settings=SETTINGS)
    assert second.data == first.data and second.record == first.record
    assert first.data.count(b"ContentProducer") == 2  # Info + its XMP mirror, nothing stale
    report = inspect_file(second.data)
    assert report.compliant, report.problems
    assert {f.carrier for f in report.found} == {"pdf:info", "pdf:xmp"}


def test_pdf_mirrors_that_differ_are_a_duplicate() -> None:
    out = label_file(make_pdf(), settings=SETTINGS)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(out.data)))
    writer.add_metadata({"/AIGC": out.record.replace(produce_id="other").to_json()})
    buf = io.BytesIO()
    writer.write(buf)
    report = inspect_file(buf.getvalue())
    assert not report.compliant and any("allows exactly one" in p for p in report.problems)


def test_pdf_wrong_xmp_namespace_reported() -> None:
    bad = XMP_WITH_TITLE.replace(
        "</rdf:RDF>", '<rdf:Description rdf:about="" xmlns:tc="http://ns.adobe.com/xap/1.0/tc/">'
        '<tc:AIGC>{&quot;Label&quot;:&quot;1&quot;}</tc:AIGC></rdf:Description></rdf:RDF>')
    report = inspect_file(make_pdf(xmp=bad))
    assert any("wrong namespace" in p for p in report.problems)


def test_truncated_pdf_rejected() -> None:
    src = make_pdf(pages=2)
    for cut in (len(src) // 2, len(src) - 10):
        with pytest.raises(CorruptFileError):
            label_file(src[:cut], settings=SETTINGS)
    with pytest.raises(CorruptFileError):
        label_file(b"%PDF-1.7\n" + b"garbage" * 100 + b"\n%%EOF\n", settings=SETTINGS)


def test_encrypted_pdf_refused() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf())))
    writer.encrypt("secret", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(UnsupportedMediaError):
        label_file(buf.getvalue(), settings=SETTINGS)


# ---------------------------------------------------------------- OOXML


def _zip_xml(data: bytes, name: str) -> ET.Element:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        return ET.fromstring(z.read(name))


@pytest.mark.parametrize("kind", ["docx", "xlsx", "pptx"])
def test_ooxml_custom_property_content_types_and_rels(kind: str) -> None:
    src = make_ooxml(kind)
    out = label_file(src, filename=f"x.{kind}", settings=SETTINGS)
    assert out.media_type == "application/vnd.openxmlformats-officedocument." + {
        "docx": "wordprocessingml.document", "xlsx": "spreadsheetml.sheet",
        "pptx": "presentationml.presentation"}[kind]
    custom = _zip_xml(out.data, "docProps/custom.xml")
    props = [p for p in custom.iter(f"{CUSTOM}property") if p.get("name") == "AIGC"]
    assert len(props) == 1
    assert props[0].get("fmtid") == "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
    assert props[0].find(f"{VT}lpwstr").text == out.record.to_json()
    types = _zip_xml(out.data, "[Content_Types].xml")
    overrides = [o.get("ContentType") for o in types
                 if o.get("PartName") == "/docProps/custom.xml"]
    assert overrides == ["application/vnd.openxmlformats-officedocument.custom-properties+xml"]
    rels = _zip_xml(out.data, "_rels/.rels")
    targets = [r.get("Target") for r in rels if r.get("Type", "").endswith("/custom-properties")]
    assert targets == ["docProps/custom.xml"]
    with zipfile.ZipFile(io.BytesIO(src)) as a, zipfile.ZipFile(io.BytesIO(out.data)) as b:
        for name in a.namelist():
            if name not in ("[Content_Types].xml", "_rels/.rels", "word/document.xml",
                            "ppt/slides/slide1.xml", "xl/worksheets/sheet1.xml"):
                assert a.read(name) == b.read(name)
    again = label_file(out.data, settings=SETTINGS)
    assert again.data == out.data


def test_docx_gets_a_first_paragraph_notice_and_keeps_prefixes() -> None:
    out = label_file(make_ooxml("docx"), settings=SETTINGS)
    with zipfile.ZipFile(io.BytesIO(out.data)) as z:
        raw = z.read("word/document.xml").decode()
    assert 'mc:Ignorable="w14"' in raw and "xmlns:w14=" in raw
    body = ET.fromstring(raw).find(f"{W}body")
    texts = ["".join(t.text or "" for t in p.iter(f"{W}t")) for p in body.iter(f"{W}p")]
    assert texts == ["本内容由人工智能生成", "Original paragraph"]
    assert out.explicit


def test_pptx_gets_a_text_box_on_the_first_slide() -> None:
    out = label_file(make_ooxml("pptx"), settings=SETTINGS)
    assert out.explicit
    slide = _zip_xml(out.data, "ppt/slides/slide1.xml")
    a, p = "{http://schemas.openxmlformats.org/drawingml/2006/main}", (
        "{http://schemas.openxmlformats.org/presentationml/2006/main}")
    texts = ["".join(t.text for t in sp.iter(f"{a}t")) for sp in slide.iter(f"{p}sp")]
    assert texts == ["Slide title", "本内容由人工智能生成"]
    ids = [e.get("id") for e in slide.iter(f"{p}cNvPr")]
    assert len(ids) == len(set(ids))
    size = int(next(slide.iter(f"{a}rPr")).get("sz"))  # hundredths of a point
    assert size >= 100 * round(0.04 * 6858000 / 12700)  # 4 % of the slide's short side


def test_xlsx_gets_a_page_header_in_schema_order() -> None:
    out = label_file(make_ooxml("xlsx"), settings=SETTINGS)
    assert out.explicit
    sheet = _zip_xml(out.data, "xl/worksheets/sheet1.xml")
    s = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    order = [child.tag.removeprefix(s) for child in sheet]
    assert order == ["sheetData", "pageMargins", "headerFooter", "drawing"]
    assert sheet.find(f"{s}headerFooter/{s}oddHeader").text == "&L本内容由人工智能生成"
    assert label_file(out.data, settings=SETTINGS).data == out.data


def test_existing_custom_properties_are_kept_and_wrapped_json_read() -> None:
    src = make_ooxml("xlsx", custom=CUSTOM_WITH_OTHER.replace("{aigc}", ""))
    out = label_file(src, settings=SETTINGS)
    custom = _zip_xml(out.data, "docProps/custom.xml")
    names = {p.get("name"): p.get("pid") for p in custom.iter(f"{CUSTOM}property")}
    assert names == {"Client": "2", "AIGC": "3"}
    wrapped = json.dumps({"AIGC": out.record.to_dict()})
    foreign = make_ooxml("pptx", custom=CUSTOM_WITH_OTHER.replace("{aigc}",
                                                                  aigc_property(wrapped)))
    report = inspect_file(foreign)
    assert report.record == out.record and report.compliant


def _zip_with_declared_size(size: int) -> bytes:
    data = bytearray(make_ooxml("docx"))
    cd = data.rfind(b"PK\x01\x02")  # last central directory header
    struct.pack_into("<I", data, cd + 24, size)  # uncompressed size field
    return bytes(data)


def test_zip_bombs_and_truncation_rejected() -> None:
    with pytest.raises(CorruptFileError, match="uncompressed"):
        label_file(_zip_with_declared_size(0xFFFFFFF0), settings=SETTINGS)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(make_ooxml("docx"))) as src, \
            zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        dst.writestr("word/media/zeros.bin", b"\0" * (20 * 1024 * 1024))
    with pytest.raises(CorruptFileError, match="bomb"):
        label_file(buf.getvalue(), settings=SETTINGS)
    src = make_ooxml("docx")
    with pytest.raises(CorruptFileError):
        label_file(src[: len(src) - 30], settings=SETTINGS)


def test_plain_zip_is_unsupported() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("readme.txt", "hi")
    with pytest.raises(UnsupportedMediaError):
        label_file(buf.getvalue(), settings=SETTINGS)


def test_pdf_content_stream_bomb_rejected() -> None:
    import zlib

    from pypdf.generic import NameObject, StreamObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf())))
    bomb = StreamObject()
    bomb._data = zlib.compress(b" " * 80_000_000, 9)  # ~80 KB that inflate to 80 MB
    bomb[NameObject("/Filter")] = NameObject("/FlateDecode")
    writer.pages[0][NameObject("/Contents")] = writer._add_object(bomb)
    buf = io.BytesIO()
    writer.write(buf)
    assert len(buf.getvalue()) < 1_000_000
    with pytest.raises(CorruptFileError):
        label_file(buf.getvalue(), settings=SETTINGS)
