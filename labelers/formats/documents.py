"""Documents: PDF and OOXML (DOCX/XLSX/PPTX) — PG-TXT carriers.

- PDF: Document Info key ``/AIGC`` = bare JSON (PG-TXT §6.3) **and** the same record as
  ``TC260:AIGC`` in the document XMP (the issue asks for both; PDF 2.0 prefers XMP). The two
  are one logical record (``MIRRORS``): inspection reports a duplicate only if they differ.
  Explicit notice: a line of text at the top of page 1 on a white box, in an embedded subset
  of the label font (:func:`labelers.fonts.pdf_font`: Type0, Identity-H, with a ToUnicode
  map), so every reader renders it without CJK fonts or CMap files of its own and text
  extraction finds it.
  The file is rewritten (not appended incrementally), so the old value does not linger in
  the bytes; the output is deterministic (same input, same output).
- OOXML: ``docProps/custom.xml`` property ``AIGC`` (``vt:lpwstr``, bare JSON, PG-TXT §6.1),
  registered in ``[Content_Types].xml`` and ``_rels/.rels``. Explicit notice: DOCX gets a first
  paragraph, PPTX a text box on the first slide, XLSX a page header on the first
  worksheet (visible in page layout, print and PDF export; skipped when the sheet already has
  a header/footer: the file is returned unchanged and the API reports ``explicit=False``).
- Hostile input: a PDF without ``%%EOF`` near the end is truncated; encrypted PDFs are
  refused; ZIPs with huge declared sizes, extreme ratios or too many entries are refused
  before anything is decompressed.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from html import escape
from typing import Any

from ..errors import CorruptFileError, LabelError, UnsupportedMediaError
from ..record import LabelRecord
from ..settings import LabelSettings
from . import xmp as xmp_packets
from .base import FoundRecord

__all__ = [
    "MIRRORS",
    "add_explicit",
    "check_limits",
    "has_explicit",
    "media_type",
    "read_implicit",
    "sniff",
    "write_implicit",
]

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
MIRRORS = frozenset({frozenset({"pdf:info", "pdf:xmp"})})

MAX_PAGES = 5000
MAX_ZIP_ENTRIES = 10_000
MAX_UNCOMPRESSED = 256 * 1024 * 1024
MAX_RATIO = 200

# ---------------------------------------------------------------- sniffing


def _is_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:1024]


def _is_zip_office(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04" and b"[Content_Types].xml" in data


def sniff(data: bytes) -> bool:
    """True for PDF and OOXML packages (by content)."""
    return _is_pdf(data) or _is_zip_office(data)


def media_type(data: bytes) -> str:
    """``application/pdf`` or the OOXML media type of the main part."""
    if _is_pdf(data):
        return PDF
    names = set(_open_zip(data).namelist())
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    if "ppt/presentation.xml" in names:
        return PPTX
    raise UnsupportedMediaError("ZIP package is not a DOCX, XLSX or PPTX document")


def check_limits(data: bytes, settings: LabelSettings) -> None:
    """Optional hook called by the API: apply the caller's limits (pages, unpacked size)."""
    if _is_pdf(data):
        pages = len(_pdf_reader(data).pages)
        if pages > settings.max_pdf_pages:
            raise CorruptFileError(f"PDF has {pages} pages, more than {settings.max_pdf_pages}")
        return
    total = sum(i.file_size for i in _open_zip(data).infolist())
    if total > settings.max_uncompressed_bytes:
        raise CorruptFileError(f"ZIP package declares {total} uncompressed bytes "
                               f"(limit {settings.max_uncompressed_bytes})")


def read_implicit(data: bytes) -> list[FoundRecord]:
    """Every AIGC record in the document."""
    return _pdf_read(data) if _is_pdf(data) else _ooxml_read(data)


def write_implicit(data: bytes, record: LabelRecord) -> bytes:
    """Set the one AIGC record (replacing the existing one, never appending)."""
    return _pdf_write(data, record) if _is_pdf(data) else _ooxml_write(data, record)


def add_explicit(data: bytes, settings: LabelSettings) -> bytes:
    """Visible notice ``settings.text_notice``: PDF page 1, DOCX first paragraph."""
    if _is_pdf(data):
        return _pdf_notice(data, settings.text_notice, settings.font_path)
    kind = media_type(data)
    if kind == DOCX:
        return _docx_notice(data, settings.text_notice)
    if kind == PPTX:
        return _pptx_notice(data, settings.text_notice)
    return _xlsx_notice(data, settings.text_notice)


def has_explicit(data: bytes) -> bool:
    """Whether the visible notice is where :func:`add_explicit` puts it (ours or anyone's).

    PDF: the text of page 1; DOCX: the first paragraph; PPTX: the text of the first slide;
    XLSX: the header/footer of the first worksheet. The text must hold both GB 45438 elements.
    """
    from ..settings import has_required_elements

    return any(has_required_elements(t) for t in _notice_candidates(data))


def _xml_text(raw: bytes) -> str:
    root = ET.fromstring(raw)
    return "".join(root.itertext())


def _notice_candidates(data: bytes) -> list[str]:
    if _is_pdf(data):
        reader = _pdf_reader(data)
        try:
            return [reader.pages[0].extract_text() or ""] if len(reader.pages) else []
        except Exception as exc:  # pypdf raises many types on broken content streams
            raise CorruptFileError(f"cannot read the text of page 1: {exc}") from exc
    archive = _open_zip(data)
    kind = media_type(data)
    if kind == DOCX:
        root = _parse_xml(_read_member(archive, "word/document.xml"), "word/document.xml")
        first = next(root.iter(f"{{{W_NS}}}p"), None)
        return ["".join(first.itertext())] if first is not None else []
    if kind == PPTX:
        slide = _first_slide(archive)
        return [_xml_text(_read_member(archive, slide))] if slide else []
    sheet = _first_sheet(archive)
    if sheet is None:
        return []
    root = _parse_xml(_read_member(archive, sheet), sheet)
    header = root.find(f"{{{S_NS}}}headerFooter")
    return ["".join(header.itertext())] if header is not None else []


# ---------------------------------------------------------------- PDF


def _pdf_reader(data: bytes) -> Any:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if b"%%EOF" not in data[-2048:]:
        raise CorruptFileError("PDF is truncated (no %%EOF marker at the end)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise UnsupportedMediaError("encrypted PDFs cannot be labeled")
        pages = len(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError, OSError, AssertionError) as exc:
        if isinstance(exc, UnsupportedMediaError):
            raise
        raise CorruptFileError(f"corrupt PDF: {exc}") from exc
    if pages == 0:
        raise CorruptFileError("PDF has no pages")
    if pages > MAX_PAGES:
        raise CorruptFileError(f"PDF has {pages} pages, more than {MAX_PAGES}")
    return reader


def _pdf_xmp_bytes(reader: Any) -> bytes | None:
    metadata = reader.trailer["/Root"].get("/Metadata")
    if metadata is None:
        return None
    return bytes(metadata.get_object().get_data())


def _pdf_read(data: bytes) -> list[FoundRecord]:
    reader = _pdf_reader(data)
    found: list[FoundRecord] = []
    try:
        info = reader.metadata or {}
        for key, value in info.items():
            if "AIGC" in str(key).upper():
                problems = [] if key == "/AIGC" else [f"Info key {key} is not /AIGC"]
                found.append(FoundRecord.from_raw("pdf:info", str(value), problems=problems))
        xmp = _pdf_xmp_bytes(reader)
    except Exception as exc:  # pypdf raises many types on broken object graphs
        raise CorruptFileError(f"corrupt PDF metadata: {exc}") from exc
    if xmp:
        found += xmp_packets.records_from_packet(xmp, "pdf:xmp")
    return found


def _pdf_write(data: bytes, record: LabelRecord) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, StreamObject

    reader = _pdf_reader(data)
    try:
        writer = PdfWriter(clone_from=reader)
        writer.add_metadata({"/AIGC": record.to_json()})
        old = _pdf_xmp_bytes(reader)
        packet = None
        if old:
            try:
                packet = xmp_packets.merge_packet(old, record.to_json(), label=record.label)
            except ValueError:
                packet = None  # unreadable XMP: leave it, Info still carries the record
        else:
            packet = xmp_packets.new_packet(record.to_json(), digital_source=record.label == "1")
        current = writer._root_object.get("/Metadata")
        if packet is not None and current is not None:
            # Edit the stream in place so no stale copy of the record stays in the file.
            current.get_object().set_data(packet)
        elif packet is not None:
            stream = StreamObject()
            stream.set_data(packet)
            stream[NameObject("/Type")] = NameObject("/Metadata")
            stream[NameObject("/Subtype")] = NameObject("/XML")
            writer._root_object[NameObject("/Metadata")] = writer._add_object(stream)
        out = io.BytesIO()
        writer.write(out)
    except (CorruptFileError, UnsupportedMediaError):
        raise
    except Exception as exc:  # pypdf raises many types on broken object graphs
        raise CorruptFileError(f"cannot rewrite PDF: {exc}") from exc
    return out.getvalue()


def _to_unicode_cmap(codes: dict[str, int]) -> bytes:
    pairs = sorted((code, ch) for ch, code in codes.items())
    lines = [f"<{code:04X}> <{ch.encode('utf-16-be').hex().upper()}>" for code, ch in pairs]
    chunks = [lines[i : i + 100] for i in range(0, len(lines), 100)]
    body = "".join(f"{len(c)} beginbfchar\n" + "\n".join(c) + "\nendbfchar\n" for c in chunks)
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + body
        + "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


def _pdf_font_object(writer: Any, notice: str, font_path: str | None) -> tuple[Any, Any]:
    """``(Type0 font dictionary, EmbeddedFont)`` for the notice, subset embedded."""
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
        NumberObject,
        TextStringObject,
    )

    from ..fonts import pdf_font

    embedded = pdf_font(font_path, notice)
    program = DecodedStreamObject()
    program.set_data(embedded.program)
    if embedded.kind == "cff":
        program[NameObject("/Subtype")] = NameObject("/CIDFontType0C")
        file_key, subtype = "/FontFile3", "/CIDFontType0"
    else:
        program[NameObject("/Length1")] = NumberObject(len(embedded.program))
        file_key, subtype = "/FontFile2", "/CIDFontType2"
    program = program.flate_encode()
    to_unicode = DecodedStreamObject()
    to_unicode.set_data(_to_unicode_cmap(embedded.codes))
    descriptor = DictionaryObject({
        NameObject("/Type"): NameObject("/FontDescriptor"),
        NameObject("/FontName"): NameObject("/" + embedded.name),
        NameObject("/Flags"): NumberObject(4),
        NameObject("/FontBBox"): ArrayObject([NumberObject(v) for v in embedded.bbox]),
        NameObject("/ItalicAngle"): NumberObject(0),
        NameObject("/Ascent"): NumberObject(embedded.ascent),
        NameObject("/Descent"): NumberObject(embedded.descent),
        NameObject("/CapHeight"): NumberObject(embedded.cap_height),
        NameObject("/StemV"): NumberObject(120),
        NameObject(file_key): writer._add_object(program),
    })
    widths = ArrayObject()
    for code, width in sorted(embedded.widths.items()):
        widths += [NumberObject(code), ArrayObject([NumberObject(width)])]
    cid_font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject(subtype),
        NameObject("/BaseFont"): NameObject("/" + embedded.name),
        NameObject("/CIDSystemInfo"): DictionaryObject({
            NameObject("/Registry"): TextStringObject("Adobe"),
            NameObject("/Ordering"): TextStringObject("Identity"),
            NameObject("/Supplement"): NumberObject(0),
        }),
        NameObject("/FontDescriptor"): writer._add_object(descriptor),
        NameObject("/DW"): NumberObject(1000),
        NameObject("/W"): widths,
    })
    if embedded.kind == "truetype":
        cid_font[NameObject("/CIDToGIDMap")] = NameObject("/Identity")
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type0"),
        NameObject("/BaseFont"): NameObject("/" + embedded.name),
        NameObject("/Encoding"): NameObject("/Identity-H"),
        NameObject("/DescendantFonts"): ArrayObject([writer._add_object(cid_font)]),
        NameObject("/ToUnicode"): writer._add_object(to_unicode),
    })
    return font, embedded


def _pdf_notice(data: bytes, notice: str, font_path: str | None = None) -> bytes:
    from pypdf import PageObject, PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, FloatObject, NameObject

    reader = _pdf_reader(data)
    try:
        writer = PdfWriter(clone_from=reader)
        font, embedded = _pdf_font_object(writer, notice, font_path)
        page = writer.pages[0]
        box = page.mediabox
        width, height = float(box.width), float(box.height)
        size = max(10.0, round(min(width, height) * 0.03, 1))
        margin = size
        x, y = float(box.left) + margin, float(box.top) - margin - size
        text_width = sum(embedded.widths[embedded.codes[c]] for c in notice) / 1000 * size
        content = (
            f"q 1 1 1 rg {x - 3:.2f} {y - size * 0.3:.2f} {text_width + 6:.2f} "
            f"{size * 1.4:.2f} re f Q\n"
            f"q 0 0 0 rg BT /AIGCNotice {size:.1f} Tf {x:.2f} {y:.2f} Td "
            f"<{embedded.encode(notice).hex().upper()}> Tj ET Q\n"
        ).encode("ascii")
        overlay = PageObject.create_blank_page(width=width, height=height)
        overlay.mediabox.lower_left = (FloatObject(box.left), FloatObject(box.bottom))
        overlay.mediabox.upper_right = (FloatObject(box.right), FloatObject(box.top))
        overlay[NameObject("/Resources")] = DictionaryObject({
            NameObject("/Font"): DictionaryObject({
                NameObject("/AIGCNotice"): writer._add_object(font)}),
        })
        stream = DecodedStreamObject()
        stream.set_data(content)
        overlay[NameObject("/Contents")] = writer._add_object(stream)
        page.merge_page(overlay)
        out = io.BytesIO()
        writer.write(out)
    except (CorruptFileError, UnsupportedMediaError, LabelError):
        raise
    except Exception as exc:  # pypdf raises many types on broken object graphs
        raise CorruptFileError(f"cannot add the notice to the PDF: {exc}") from exc
    return out.getvalue()


# ---------------------------------------------------------------- OOXML

CUSTOM_PART = "docProps/custom.xml"
CUSTOM_NS = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
VT_NS = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CUSTOM_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
CUSTOM_CT = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, KeyError,
            NotImplementedError) as exc:
        raise CorruptFileError(f"corrupt ZIP package: {exc}") from exc
    if len(infos) > MAX_ZIP_ENTRIES:
        raise CorruptFileError(f"ZIP package has more than {MAX_ZIP_ENTRIES} entries")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNCOMPRESSED:
        raise CorruptFileError(
            f"ZIP package declares {total} uncompressed bytes (limit {MAX_UNCOMPRESSED})"
        )
    for info in infos:
        if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise CorruptFileError(f"ZIP entry {info.filename!r} looks like a decompression bomb")
        if info.flag_bits & 0x1:
            raise UnsupportedMediaError("encrypted ZIP packages cannot be labeled")
    return archive


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, KeyError,
            NotImplementedError) as exc:
        raise CorruptFileError(f"corrupt ZIP entry {name!r}: {exc}") from exc


def _parse_xml(raw: bytes, name: str) -> ET.Element:
    try:
        return ET.fromstring(raw)
    except ET.ParseError as exc:
        raise CorruptFileError(f"{name} is not well-formed XML: {exc}") from exc


def _ooxml_read(data: bytes) -> list[FoundRecord]:
    archive = _open_zip(data)
    media_type(data)
    if CUSTOM_PART not in archive.namelist():
        return []
    root = _parse_xml(_read_member(archive, CUSTOM_PART), CUSTOM_PART)
    found = []
    for prop in root.iter(f"{{{CUSTOM_NS}}}property"):
        name = prop.get("name", "")
        if "AIGC" not in name.upper():
            continue
        problems = [] if name == "AIGC" else [f"custom property named {name!r}, not 'AIGC'"]
        values = [child.text or "" for child in prop]
        if not values or prop[0].tag != f"{{{VT_NS}}}lpwstr":
            problems.append("AIGC property is not a vt:lpwstr")
        found.append(FoundRecord.from_raw("ooxml:custom.xml", values[0] if values else "",
                                          problems=problems))
    return found


def _prefix_of(xml: str, local: str) -> str:
    """``"p:"`` when the root element ``local`` is written with a prefix, else ``""``."""
    m = re.search(rf"<([\w.-]+:)?{local}[\s>/]", xml)
    if m is None:
        raise CorruptFileError(f"package part has no {local} element")
    return m.group(1) or ""


def _insert_before_close(xml: str, local: str, fragment: str) -> str:
    m = re.search(rf"</(?:[\w.-]+:)?{local}\s*>", xml)
    if m is None:  # self-closing root, e.g. <Properties .../>
        m = re.search(rf"<((?:[\w.-]+:)?{local})(\b[^>]*?)/>", xml)
        if m is None:
            raise CorruptFileError(f"package part has no closing {local} element")
        return xml[: m.start()] + f"<{m.group(1)}{m.group(2)}>{fragment}</{m.group(1)}>" + xml[
            m.end():]
    return xml[: m.start()] + fragment + xml[m.start():]


# The package parts are edited as text, not re-serialised: ElementTree would rename the
# default namespaces to ns0 prefixes, which strict OOXML consumers reject.
_HEADER = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _custom_xml(old: bytes | None, json_text: str) -> bytes:
    value = escape(json_text, quote=False)
    if old is None:
        return (_HEADER + f'<Properties xmlns="{CUSTOM_NS}" xmlns:vt="{VT_NS}">'
                f'<property fmtid="{FMTID}" pid="2" name="AIGC"><vt:lpwstr>{value}'
                "</vt:lpwstr></property></Properties>").encode("utf-8")
    root = _parse_xml(old, CUSTOM_PART)
    xml = old.decode("utf-8")
    p = _prefix_of(xml, "Properties")
    m = re.search(r'xmlns:([\w.-]+)="' + re.escape(VT_NS) + '"', xml)
    vt, vt_decl = (m.group(1), "") if m else ("vt", f' xmlns:vt="{VT_NS}"')
    ours = re.compile(
        rf'<{re.escape(p)}property\b[^>]*\bname\s*=\s*"AIGC"[^>]*>.*?</{re.escape(p)}property>',
        re.S)
    found = ours.findall(xml)
    if found:
        head = found[0][: found[0].index(">") + 1]  # keep fmtid/pid of the property
        replacement = f"{head}<{vt}:lpwstr{vt_decl}>{value}</{vt}:lpwstr></{p}property>"
        seen: list[bool] = []

        def once(_m: re.Match[str]) -> str:
            seen.append(True)
            return replacement if len(seen) == 1 else ""  # duplicates of our record collapse

        xml = ours.sub(once, xml)
    else:
        pids = [int(x.get("pid", "")) for x in root.iter(f"{{{CUSTOM_NS}}}property")
                if x.get("pid", "").isdigit()]
        fragment = (f'<{p}property fmtid="{FMTID}" pid="{max([1, *pids]) + 1}" name="AIGC">'
                    f"<{vt}:lpwstr{vt_decl}>{value}</{vt}:lpwstr></{p}property>")
        xml = _insert_before_close(xml, "Properties", fragment)
    _parse_xml(xml.encode("utf-8"), CUSTOM_PART)
    return xml.encode("utf-8")


def _content_types(raw: bytes) -> bytes:
    root = _parse_xml(raw, "[Content_Types].xml")
    for override in root.iter(f"{{{CT_NS}}}Override"):
        if override.get("PartName") == "/" + CUSTOM_PART:
            return raw
    xml = raw.decode("utf-8")
    p = _prefix_of(xml, "Types")
    fragment = f'<{p}Override PartName="/{CUSTOM_PART}" ContentType="{CUSTOM_CT}"/>'
    return _insert_before_close(xml, "Types", fragment).encode("utf-8")


def _rels(raw: bytes | None) -> bytes:
    if raw is None:
        return (_HEADER + f'<Relationships xmlns="{REL_NS}"><Relationship Id="rId1" '
                f'Type="{CUSTOM_REL}" Target="{CUSTOM_PART}"/></Relationships>').encode("utf-8")
    root = _parse_xml(raw, ".rels")
    ids = set()
    for rel in root.iter(f"{{{REL_NS}}}Relationship"):
        ids.add(rel.get("Id"))
        if rel.get("Type") == CUSTOM_REL:
            return raw
    n = 1
    while f"rId{n}" in ids:
        n += 1
    xml = raw.decode("utf-8")
    p = _prefix_of(xml, "Relationships")
    fragment = f'<{p}Relationship Id="rId{n}" Type="{CUSTOM_REL}" Target="{CUSTOM_PART}"/>'
    return _insert_before_close(xml, "Relationships", fragment).encode("utf-8")


def _rebuild(data: bytes, changes: dict[str, bytes]) -> bytes:
    archive = _open_zip(data)
    out = io.BytesIO()
    seen = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in archive.infolist():
            if info.filename in seen:
                continue  # a duplicated entry name: keep the first, as readers do
            seen.add(info.filename)
            payload = changes.pop(info.filename, None)
            if payload is None:
                payload = _read_member(archive, info.filename)
            target.writestr(info, payload, compress_type=info.compress_type)
        for name, payload in changes.items():
            target.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), payload,
                            compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _ooxml_write(data: bytes, record: LabelRecord) -> bytes:
    archive = _open_zip(data)
    media_type(data)
    names = set(archive.namelist())
    old = _read_member(archive, CUSTOM_PART) if CUSTOM_PART in names else None
    rels_raw = _read_member(archive, "_rels/.rels") if "_rels/.rels" in names else None
    changes = {
        CUSTOM_PART: _custom_xml(old, record.to_json()),
        "[Content_Types].xml": _content_types(_read_member(archive, "[Content_Types].xml")),
        "_rels/.rels": _rels(rels_raw),
    }
    return _rebuild(data, changes)


def _docx_notice(data: bytes, notice: str) -> bytes:
    archive = _open_zip(data)
    try:
        xml = _read_member(archive, "word/document.xml").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError("word/document.xml is not UTF-8") from exc
    _parse_xml(xml.encode("utf-8"), "word/document.xml")
    # Edit the text, not an ElementTree round trip: Word's mc:Ignorable names prefixes that a
    # re-serialisation would rename.
    m = re.search(r'xmlns:([\w.-]+)="' + re.escape(W_NS) + '"', xml)
    if m is None:
        raise CorruptFileError("word/document.xml does not use the WordprocessingML namespace")
    w = m.group(1)
    body = re.search(rf"<{w}:body(\s[^>]*)?>", xml)
    if body is None:
        raise CorruptFileError("word/document.xml has no body")
    paragraph = (f"<{w}:p><{w}:r><{w}:t xml:space=\"preserve\">{escape(notice, quote=False)}"
                 f"</{w}:t></{w}:r></{w}:p>")
    xml = xml[: body.end()] + paragraph + xml[body.end():]
    return _rebuild(data, {"word/document.xml": xml.encode("utf-8")})


P_NS = "http://schemas.openxmlformats.org/presentationml/2006/main"
A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"


def _first_part(archive: zipfile.ZipFile, part: str, tag: str, base: str) -> str | None:
    """The member named by the first ``tag`` element of ``part`` (e.g. the first slide of
    ``ppt/presentation.xml``), resolved through the part's relationships; None if absent."""
    names = set(archive.namelist())
    rels_name = f"{base}_rels/{part.rsplit('/', 1)[-1]}.rels"
    if rels_name not in names:
        return None
    root = _parse_xml(_read_member(archive, part), part)
    first = next(root.iter(tag), None)
    if first is None:
        return None
    rid = first.get(f"{{{R_NS}}}id")
    rels = _parse_xml(_read_member(archive, rels_name), rels_name.rsplit("/", 1)[-1])
    for rel in rels.iter(PKG_REL):
        if rel.get("Id") == rid:
            target = rel.get("Target", "")
            name = target.lstrip("/") if target.startswith("/") else base + target
            return name if name in names else None
    return None


def _first_slide(archive: zipfile.ZipFile) -> str | None:
    return _first_part(archive, "ppt/presentation.xml", f"{{{P_NS}}}sldId", "ppt/")


def _pptx_notice(data: bytes, notice: str) -> bytes:
    archive = _open_zip(data)
    slide = _first_slide(archive)
    if slide is None:
        return data  # no slide to carry a visible notice; the API reports explicit=False
    pres = _parse_xml(_read_member(archive, "ppt/presentation.xml"), "ppt/presentation.xml")
    size = next(pres.iter(f"{{{P_NS}}}sldSz"), None)
    width = int(size.get("cx", "9144000")) if size is not None else 9144000
    height = int(size.get("cy", "6858000")) if size is not None else 6858000
    try:
        xml = _read_member(archive, slide).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{slide} is not UTF-8") from exc
    root = _parse_xml(xml.encode("utf-8"), slide)
    ids = [int(e.get("id", "0")) for e in root.iter(f"{{{P_NS}}}cNvPr")
           if e.get("id", "").isdigit()]
    m = re.search(r'xmlns:([\w.-]+)="' + re.escape(P_NS) + '"', xml)
    if m is None:
        raise CorruptFileError(f"{slide} does not use the PresentationML namespace")
    p = m.group(1)
    m = re.search(r'xmlns:([\w.-]+)="' + re.escape(A_NS) + '"', xml)
    a, a_decl = (m.group(1), "") if m else ("a", f' xmlns:a="{A_NS}"')
    font_pt = max(12, round(min(width, height) / 12700 * 0.04))  # 4 % of the short side
    margin = min(width, height) // 40
    box_w, box_h = min(width - 2 * margin, len(notice) * font_pt * 12700 * 11 // 10), (
        font_pt * 12700 * 16 // 10)
    shape = (
        f"<{p}:sp{a_decl}><{p}:nvSpPr><{p}:cNvPr id=\"{max([1, *ids]) + 1}\" "
        f"name=\"AIGC notice\"/><{p}:cNvSpPr txBox=\"1\"/><{p}:nvPr/></{p}:nvSpPr>"
        f"<{p}:spPr><{a}:xfrm><{a}:off x=\"{margin}\" y=\"{margin}\"/><{a}:ext cx=\"{box_w}\" "
        f"cy=\"{box_h}\"/></{a}:xfrm><{a}:prstGeom prst=\"rect\"><{a}:avLst/></{a}:prstGeom>"
        f"<{a}:solidFill><{a}:srgbClr val=\"FFFFFF\"/></{a}:solidFill></{p}:spPr>"
        f"<{p}:txBody><{a}:bodyPr wrap=\"none\"/><{a}:lstStyle/><{a}:p><{a}:r>"
        f"<{a}:rPr lang=\"zh-CN\" sz=\"{font_pt * 100}\"><{a}:solidFill><{a}:srgbClr "
        f"val=\"000000\"/></{a}:solidFill></{a}:rPr><{a}:t>{escape(notice, quote=False)}"
        f"</{a}:t></{a}:r></{a}:p></{p}:txBody></{p}:sp>"
    )
    tree = re.search(rf"</{p}:spTree\s*>", xml)
    if tree is None:
        raise CorruptFileError(f"{slide} has no shape tree")
    xml = xml[: tree.start()] + shape + xml[tree.start():]
    _parse_xml(xml.encode("utf-8"), slide)
    return _rebuild(data, {slide: xml.encode("utf-8")})


S_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
# CT_Worksheet children that must come after <headerFooter> (ECMA-376 Part 1, 18.3.1.99).
_AFTER_HEADER = ("rowBreaks", "colBreaks", "customProperties", "cellWatches", "ignoredErrors",
                 "smartTags", "drawing", "legacyDrawing", "legacyDrawingHF", "drawingHF",
                 "picture", "oleObjects", "controls", "webPublishItems", "tableParts", "extLst")


def _first_sheet(archive: zipfile.ZipFile) -> str | None:
    return _first_part(archive, "xl/workbook.xml", f"{{{S_NS}}}sheet", "xl/")


def _xlsx_notice(data: bytes, notice: str) -> bytes:
    archive = _open_zip(data)
    sheet = _first_sheet(archive)
    if sheet is None:
        return data
    try:
        xml = _read_member(archive, sheet).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{sheet} is not UTF-8") from exc
    root = _parse_xml(xml.encode("utf-8"), sheet)
    if root.find(f"{{{S_NS}}}headerFooter") is not None:
        return data  # never rewrite the author's header; the API reports explicit=False
    p = _prefix_of(xml, "worksheet")
    text = escape(notice.replace("&", "&&"), quote=False)
    fragment = (f"<{p}headerFooter><{p}oddHeader>&amp;L{text}</{p}oddHeader>"
                f"<{p}oddFooter>&amp;L{text}</{p}oddFooter></{p}headerFooter>")
    later = [m.start() for local in _AFTER_HEADER
             if (m := re.search(rf"<{re.escape(p)}{local}[\s>/]", xml))]
    if later:
        at = min(later)
        xml = xml[:at] + fragment + xml[at:]
    else:
        xml = _insert_before_close(xml, "worksheet", fragment)
    _parse_xml(xml.encode("utf-8"), sheet)
    return _rebuild(data, {sheet: xml.encode("utf-8")})
