"""Builders of small real input files for the documents/text/API tests (no fixtures on disk)."""

from __future__ import annotations

import io
import zipfile

from pypdf import PdfWriter
from pypdf.generic import (
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    StreamObject,
)

PRODUCER = "001191110102MACQD9K64010000"
PROPAGATOR = "001191440300708461136T20000"
OTHER_PRODUCER = "001191440300708461136T1308L"


def make_pdf(pages: int = 1, *, text: str = "Hello world", title: str | None = None,
             xmp: str | None = None, size: tuple[int, int] = (595, 842)) -> bytes:
    """A PDF with ``pages`` pages, Helvetica ``text`` on each, optional Info title and XMP."""
    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    }))
    for n in range(pages):
        page = writer.add_blank_page(*size)
        page[NameObject("/Resources")] = DictionaryObject({
            NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 24 Tf 72 400 Td ({text} {n + 1}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    if title:
        writer.add_metadata({"/Title": title})
    if xmp is not None:
        meta = StreamObject()
        meta.set_data(xmp.encode("utf-8"))
        meta[NameObject("/Type")] = NameObject("/Metadata")
        meta[NameObject("/Subtype")] = NameObject("/XML")
        writer._root_object[NameObject("/Metadata")] = writer._add_object(meta)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


_CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
       '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
       'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
       '<Override PartName="/{main}" ContentType="{ctype}"/>{extra}</Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="{main}"/>{extra}</Relationships>')
_DOC = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
        'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml" mc:Ignorable="w14">'
        '<w:body><w:p><w:r><w:t>Original paragraph</w:t></w:r></w:p><w:sectPr/></w:body>'
        '</w:document>')
_KINDS = {
    "docx": ("word/document.xml", "application/vnd.openxmlformats-officedocument."
             "wordprocessingml.document.main+xml", _DOC),
    "xlsx": ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument."
             "spreadsheetml.sheet.main+xml",
             '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
             'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
             '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "pptx": ("ppt/presentation.xml", "application/vnd.openxmlformats-officedocument."
             "presentationml.presentation.main+xml",
             '<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/'
             'main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
             'relationships"><p:sldIdLst><p:sldId id="256" r:id="rId2"/></p:sldIdLst>'
             '<p:sldSz cx="12192000" cy="6858000"/></p:presentation>'),
}
_BOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)
_SHEET = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>42</t></is></c></row></sheetData>'
    '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
    '<drawing r:id="rId9"/></worksheet>'
)
_PRES_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/slide" Target="slides/slide1.xml"/></Relationships>'
)
_SLIDE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<p:sld xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cSld><p:spTree>'
    '<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>'
    '<p:sp><p:nvSpPr><p:cNvPr id="2" name="Title"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr>'
    '<p:spPr/><p:txBody><a:bodyPr/><a:p><a:r><a:t>Slide title</a:t></a:r></a:p></p:txBody>'
    '</p:sp></p:spTree></p:cSld></p:sld>'
)
CUSTOM_WITH_OTHER = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
    'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
    '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Client">'
    '<vt:lpwstr>ACME</vt:lpwstr></property>{aigc}</Properties>'
)


def make_ooxml(kind: str = "docx", *, custom: str | None = None) -> bytes:
    """A minimal DOCX/XLSX/PPTX package, optionally with a ``docProps/custom.xml``."""
    main, ctype, body = _KINDS[kind]
    extra_ct = extra_rels = ""
    if custom is not None:
        extra_ct = ('<Override PartName="/docProps/custom.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.custom-properties+xml"/>')
        extra_rels = ('<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/'
                      'officeDocument/2006/relationships/custom-properties" '
                      'Target="docProps/custom.xml"/>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CT.format(main=main, ctype=ctype, extra=extra_ct))
        z.writestr("_rels/.rels", _RELS.format(main=main, extra=extra_rels))
        z.writestr(main, body)
        z.writestr("docProps/app.xml", "<Properties/>")
        if custom is not None:
            z.writestr("docProps/custom.xml", custom)
        if kind == "xlsx":
            z.writestr("xl/_rels/workbook.xml.rels", _BOOK_RELS)
            z.writestr("xl/worksheets/sheet1.xml", _SHEET)
        if kind == "pptx":
            z.writestr("ppt/_rels/presentation.xml.rels", _PRES_RELS)
            z.writestr("ppt/slides/slide1.xml", _SLIDE)
    return out.getvalue()


def aigc_property(json_text: str, pid: int = 3) -> str:
    from html import escape

    return ('<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" '
            f'pid="{pid}" name="AIGC"><vt:lpwstr>{escape(json_text)}</vt:lpwstr></property>')
