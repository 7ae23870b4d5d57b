"""Image labels: XMP records read back by ExifTool and pyexiv2, pixels and JPEG scan data
unchanged, every carrier variant read, the explicit label found by OCR at >= 5% height on
light, dark and busy backgrounds, metadata kept, hostile files refused."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from labelers.errors import (
    CorruptFileError,
    LabelError,
    MissingFontError,
    UnrenderableTextError,
    UnsupportedMediaError,
)
from labelers.formats import images
from labelers.formats.image_text import find_font, place_label
from labelers.record import LabelRecord
from labelers.settings import LabelSettings

from .image_support import (
    TC260_NS,
    busy,
    encode,
    exiftool,
    exiftool_available,
    gradient,
    jpeg_parts,
    ocr,
    png_chunks,
    pyexiv2_xmp,
    webp_chunks,
)

CODE = "001191110102MACQD9K64010000"
OTHER = "001191440300708461136T1308L"
DST = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF", "tiff": "TIFF"}

needs_exiftool = pytest.mark.skipif(not exiftool_available(), reason="exiftool not installed")


def record(produce_id: str = "img-0001", label: str = "1") -> LabelRecord:
    return LabelRecord(label=label, content_producer=CODE, produce_id=produce_id)


def label_settings(**kw: object) -> LabelSettings:
    return LabelSettings(producer_code=CODE, **kw)


def pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as im:
        return im.mode, im.size, im.tobytes()


def sample(kind: str, size: tuple[int, int] = (96, 64), **options: object) -> bytes:
    return encode(gradient(*size), FORMATS[kind], **options)


SOURCE_XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="PaintTool 3">'
    "<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">Harbour at dusk</rdf:li></rdf:Alt></dc:title>"
    "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
)


def other_party_xmp(prefix: str = "tc", form: str = "attribute") -> str:
    value = LabelRecord(label="1", content_producer=OTHER, produce_id="theirs-1").to_json()
    escaped = value.replace('"', "&quot;")
    prop = (f' {prefix}:AIGC="{escaped}"', "") if form == "attribute" else (
        "", f"<{prefix}:AIGC>{escaped}</{prefix}:AIGC>")
    return SOURCE_XMP.replace(
        'xmp:CreatorTool="PaintTool 3">',
        f'xmp:CreatorTool="PaintTool 3" xmlns:{prefix}="{TC260_NS}"{prop[0]}>{prop[1]}',
    )


# ---------------------------------------------------------------- sniffing


@pytest.mark.parametrize("kind", FORMATS)
def test_sniff_and_media_type_by_content(kind: str) -> None:
    data = sample(kind)
    assert images.sniff(data)
    assert images.media_type(data) == f"image/{kind}"
    assert images.dimensions(data) == (96, 64)


@pytest.mark.parametrize(
    "data",
    [encode(gradient(8, 8), "BMP"), encode(gradient(8, 8), "PPM"), b"%PDF-1.7\n", b"hello", b""],
)
def test_other_content_is_not_claimed(data: bytes) -> None:
    assert not images.sniff(data)
    with pytest.raises(UnsupportedMediaError):
        images.write_implicit(data, record())


# ---------------------------------------------------------------- implicit: writing


@needs_exiftool
def test_exiftool_and_pyexiv2_read_the_record_in_every_format(tmp_path) -> None:
    rec = record()
    paths = []
    for kind in FORMATS:
        out = images.write_implicit(sample(kind), rec)
        if kind != "gif":  # exiv2 does not read XMP from GIF; ExifTool below does
            xmp = pyexiv2_xmp(out)
            assert xmp["Xmp.TC260.AIGC"] == rec.to_json()
            assert xmp["Xmp.iptcExt.DigitalSourceType"] == DST
        path = tmp_path / f"labeled.{kind}"
        path.write_bytes(out)
        paths.append(path)
    for view in exiftool(paths, tmp_path):
        assert view["XMP-TC260:AIGC"] == rec.to_json(), view["SourceFile"]
        assert view["XMP-iptcExt:DigitalSourceType"] == DST
        assert "Warning" not in view and "Error" not in view


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
def test_png_chunk_before_idat_crc_valid_pixels_unchanged(mode: str) -> None:
    base = gradient(50, 30)
    image = base.convert(mode) if mode != "I;16" else Image.fromarray(
        np.asarray(base.convert("L"), dtype=np.uint16) * 257)
    data = encode(image, "PNG")
    out = images.write_implicit(data, record())
    chunks = png_chunks(out)
    assert all(ok for _, _, ok in chunks)
    types = [t for t, _, _ in chunks]
    xmp = [i for i, (t, body, _) in enumerate(chunks)
           if t == b"iTXt" and body.startswith(b"XML:com.adobe.xmp\x00")]
    assert len(xmp) == 1 and xmp[0] < types.index(b"IDAT")
    body = chunks[xmp[0]][1]
    assert body[len(b"XML:com.adobe.xmp\x00")] == 0  # compression flag 0
    assert pixels(out) == pixels(data)
    # every original chunk is still there, byte for byte
    assert [c for c in png_chunks(data)] == [c for c in chunks if c is not chunks[xmp[0]]]


def test_gif_xmp_extension_with_magic_trailer_and_explicit_label(tmp_path) -> None:
    data = encode(gradient(300, 200).convert("P"), "GIF", comment=b"keep me")
    out = images.write_implicit(data, record())
    start = out.index(b"\x21\xff\x0bXMP DataXMP")
    trailer = bytes([1, *range(255, -1, -1), 0])
    assert out.index(trailer, start) > start
    assert pixels(out) == pixels(data)
    labeled = images.add_explicit(out, label_settings())
    path = tmp_path / "labeled.gif"
    path.write_bytes(labeled)
    (view,) = exiftool([path], tmp_path)
    assert view["XMP-TC260:AIGC"] == record().to_json()
    assert view["File:Comment"] == "keep me"
    assert any("生成" in t for t, _ in ocr(labeled))
    frames = encode(gradient(60, 40).convert("P"), "GIF", save_all=True,
                    append_images=[gradient(60, 40, seed=3).convert("P")])
    assert [f.carrier for f in images.read_implicit(images.write_implicit(frames, record()))] \
        == ["xmp"]
    labeled = images.add_explicit(frames, label_settings())  # every frame: test_animated.py
    assert Image.open(io.BytesIO(labeled)).n_frames == 2


def test_tiff_xmp_tag_appended_and_explicit_keeps_exif_icc(tmp_path) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x013B] = "Someone"  # Artist
    data = encode(gradient(300, 200), "TIFF", compression="tiff_lzw", exif=exif, icc_profile=icc)
    out = images.write_implicit(data, record())
    assert out[: len(data)][8:] == data[8:]  # only the IFD0 pointer changes, the rest is appended
    assert pixels(out) == pixels(data)
    labeled = images.add_explicit(out, label_settings())
    with Image.open(io.BytesIO(labeled)) as im:
        assert im.info["compression"] == "tiff_lzw" and im.info["icc_profile"] == icc
        assert im.getexif()[0x013B] == "Someone"
    path = tmp_path / "labeled.tif"
    path.write_bytes(labeled)
    (view,) = exiftool([path], tmp_path)
    assert view["XMP-TC260:AIGC"] == record().to_json()
    assert any("生成" in t for t, _ in ocr(encode(Image.open(io.BytesIO(labeled)), "PNG")))


def test_png_xmp_after_idat_is_moved_before_it() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", SOURCE_XMP)
    chunks = png_chunks(encode(gradient(30, 20), "PNG", pnginfo=info))
    xmp = next(c for c in chunks if c[0] == b"iTXt")
    reordered = [c for c in chunks if c is not xmp]
    reordered.insert(len(reordered) - 1, xmp)  # just before IEND
    data = b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body))
        for t, body, _ in reordered
    )
    out = images.write_implicit(data, record())
    types = [t for t, _, _ in png_chunks(out)]
    assert types.count(b"iTXt") == 1 and types.index(b"iTXt") < types.index(b"IDAT")
    assert pyexiv2_xmp(out)["Xmp.dc.title"] == {'lang="x-default"': "Harbour at dusk"}


@pytest.mark.parametrize(
    "options",
    [{}, {"progressive": True}, {"subsampling": 0, "quality": 80}],
    ids=["baseline", "progressive", "444"],
)
def test_jpeg_not_reencoded_segments_and_scan_data_unchanged(options: dict) -> None:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    icc = b"\x00" * 128 + b"fake-icc-profile"
    data = sample("jpeg", (120, 80), exif=exif.tobytes(), icc_profile=icc, **options)
    out = images.write_implicit(data, record())
    before, scan_before = jpeg_parts(data)
    after, scan_after = jpeg_parts(out)
    assert scan_after == scan_before
    xmp_id = b"http://ns.adobe.com/xap/1.0/\x00"
    added = [s for s in after if s[4:4 + len(xmp_id)] == xmp_id]
    assert len(added) == 1 and len(added[0]) - 4 - len(xmp_id) <= 65502
    assert [s for s in after if s not in added] == before
    # placed after the JFIF/Exif APP segments, before ICC (APP2) and the tables
    markers = [s[1] for s in after]
    assert markers.index(added[0][1]) < markers.index(0xE2) < markers.index(0xDB)
    assert pixels(out) == pixels(data)


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_vp8x_flag_and_riff_size(lossless: bool) -> None:
    data = encode(gradient(40, 30).convert("RGBA"), "WEBP", lossless=lossless)
    out = images.write_implicit(data, record())
    chunks = webp_chunks(out)
    assert chunks[0][0] == b"VP8X"
    assert chunks[0][1][0] & 0x04  # XMP flag
    assert [c[0] for c in chunks].count(b"XMP ") == 1
    original = dict(webp_chunks(data))
    image_chunk = b"VP8L" if lossless else b"VP8 "
    assert dict(chunks)[image_chunk] == original[image_chunk]
    width = int.from_bytes(chunks[0][1][4:7], "little") + 1
    assert width == 40
    assert pixels(out) == pixels(data)


@needs_exiftool
def test_merge_keeps_other_properties_and_replaces_the_record_in_place(tmp_path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", other_party_xmp("tc", "attribute"))
    data = encode(gradient(64, 48), "PNG", pnginfo=info)
    rec = LabelRecord(label="1", content_producer=OTHER, produce_id="theirs-1",
                      content_propagator=CODE, propagate_id="ours-9")
    out = images.write_implicit(data, rec)
    found = images.read_implicit(out)
    assert [f.record for f in found] == [rec]
    text = out.decode("latin-1")
    assert ' tc:AIGC="' in text  # updated as an attribute, under the existing prefix
    path = tmp_path / "merged.png"
    path.write_bytes(out)
    (view,) = exiftool([path], tmp_path)
    # ExifTool groups by prefix ("XMP-tc:Aigc" here); pyexiv2 resolves the namespace URI
    assert [v for k, v in view.items() if k.lower().endswith(":aigc")] == [rec.to_json()]
    assert pyexiv2_xmp(out)["Xmp.TC260.AIGC"] == rec.to_json()
    assert view["XMP-dc:Title"] == "Harbour at dusk"
    assert view["XMP-xmp:CreatorTool"] == "PaintTool 3"
    assert view["XMP-iptcExt:DigitalSourceType"] == DST


@needs_exiftool
@pytest.mark.parametrize("kind", ["jpeg", "png", "tiff"])
def test_record_written_by_exiftool_is_updated_in_place(kind: str, tmp_path) -> None:
    import subprocess

    from .image_support import EXIFTOOL_CONFIG

    config = tmp_path / "tc260.cfg"
    config.write_text(EXIFTOOL_CONFIG)
    src = tmp_path / f"src.{kind}"
    src.write_bytes(sample(kind, (80, 60)))
    theirs = LabelRecord(label="1", content_producer=OTHER, produce_id="theirs-1")
    subprocess.run(
        ["exiftool", "-config", str(config), "-q", "-overwrite_original",
         f"-XMP-TC260:AIGC={theirs.to_json()}", "-XMP-dc:Title=Harbour", "-Artist=Someone",
         str(src)], check=True, timeout=60,
    )
    data = src.read_bytes()
    assert [f.record for f in images.read_implicit(data)] == [theirs]
    ours = theirs.replace(content_propagator=CODE, propagate_id="ours-1")
    out = images.write_implicit(data, ours)
    dst = tmp_path / f"dst.{kind}"
    dst.write_bytes(out)
    (view,) = exiftool([dst], tmp_path)
    assert view["XMP-TC260:AIGC"] == ours.to_json()
    assert view["XMP-dc:Title"] == "Harbour"
    assert [v for k, v in view.items() if k.endswith(":Artist")] == ["Someone"]
    assert pixels(out) == pixels(data)
    assert [f.record for f in images.read_implicit(out)] == [ours]


@pytest.mark.parametrize("kind", FORMATS)
def test_labeling_twice_is_idempotent(kind: str) -> None:
    once = images.write_implicit(sample(kind), record())
    twice = images.write_implicit(once, record())
    assert twice == once
    assert len(images.read_implicit(twice)) == 1


def test_existing_digital_source_type_is_kept_and_none_added_for_label_3() -> None:
    xmp = SOURCE_XMP.replace(
        'xmp:CreatorTool="PaintTool 3"',
        'xmp:CreatorTool="PaintTool 3" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/'
        'compositeWithTrainedAlgorithmicMedia"',
    )
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    out = images.write_implicit(encode(gradient(20, 20), "PNG", pnginfo=info), record())
    assert pyexiv2_xmp(out)["Xmp.iptcExt.DigitalSourceType"].endswith(
        "compositeWithTrainedAlgorithmicMedia")
    suspected = images.write_implicit(sample("png"), record(label="3"))
    assert "Xmp.iptcExt.DigitalSourceType" not in pyexiv2_xmp(suspected)
    assert images.read_implicit(suspected)[0].record.label == "3"


# ---------------------------------------------------------------- implicit: reading variants


def _png_with_text(keyword: str, text: str, chunk: str = "tEXt") -> bytes:
    info = PngImagePlugin.PngInfo()
    if chunk == "tEXt":
        info.add_text(keyword, text)
    elif chunk == "zTXt":
        info.add_text(keyword, text, zip=True)
    else:
        info.add_itxt(keyword, text)
    return encode(gradient(30, 20), "PNG", pnginfo=info)


def _jpeg_with_exif(tag: int, value: bytes | str, ifd: int | None = 0x8769) -> bytes:
    exif = Image.Exif()
    if ifd is None:
        exif[tag] = value
    else:
        exif.get_ifd(ifd)[tag] = value
    return encode(gradient(30, 20), "JPEG", exif=exif.tobytes())


WRAPPED = LabelRecord(label="1", content_producer=OTHER, produce_id="p-7").to_wrapped_json()
BARE = LabelRecord(label="1", content_producer=OTHER, produce_id="p-7").to_json()


@pytest.mark.parametrize(
    ("data", "carrier"),
    [
        (_png_with_text("AIGC", WRAPPED), "png:tEXt"),
        (_png_with_text("AIGC", BARE), "png:tEXt"),
        (_png_with_text("AIGC", WRAPPED, "zTXt"), "png:zTXt"),
        (_png_with_text("aigc", WRAPPED, "iTXt"), "png:iTXt"),
        (_png_with_text("XML:com.adobe.xmp", other_party_xmp("tc260", "element"), "iTXt"), "xmp"),
        (_png_with_text("XML:com.adobe.xmp", other_party_xmp("x1", "attribute"), "iTXt"), "xmp"),
        (_jpeg_with_exif(0x9286, b"ASCII\x00\x00\x00" + WRAPPED.encode()), "exif:UserComment"),
        (_jpeg_with_exif(0x010E, WRAPPED, None), "exif:ImageDescription"),
    ],
    ids=["tEXt-wrapped", "tEXt-bare", "zTXt", "iTXt", "xmp-element", "xmp-attr",
         "exif-usercomment", "exif-imagedescription"],
)
def test_every_carrier_variant_is_read_and_then_superseded(data: bytes, carrier: str) -> None:
    (found,) = images.read_implicit(data)
    assert found.carrier == carrier
    assert found.record is not None and found.record.produce_id in ("p-7", "theirs-1")
    assert found.problems == []
    # writing leaves exactly one record, in XMP, and the pixels alone
    rec = found.record.replace(content_propagator=CODE, propagate_id="ours-1")
    out = images.write_implicit(data, rec)
    after = images.read_implicit(out)
    assert [(f.carrier, f.record) for f in after] == [("xmp", rec)]
    assert pixels(out) == pixels(data)


def test_problems_reported_duplicates_charset_namespace_numeric_label() -> None:
    bad = '{"Label":1,"ContentProducer":"豆包","ProduceID":"x","ReservedCode1":"",' \
          '"ContentPropagator":"","PropagateID":"","ReservedCode2":""}'
    wrong_ns = other_party_xmp("TC260", "attribute").replace(TC260_NS, "http://ns.adobe.com/xap/1.0/tc/")
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", wrong_ns)
    info.add_itxt("AIGC", bad)
    found = images.read_implicit(encode(gradient(30, 20), "PNG", pnginfo=info))
    assert len(found) == 2
    assert all(any(p.startswith("duplicate: 2") for p in f.problems) for f in found)
    assert any("wrong namespace" in p for p in found[0].problems)
    assert any("Annex E j" in p for p in found[1].problems)
    assert found[1].record is None


def test_broken_xmp_packet_still_reported_but_never_merged() -> None:
    broken = other_party_xmp("TC260", "element").replace("</rdf:RDF>", "")
    data = _png_with_text("XML:com.adobe.xmp", broken, "iTXt")
    (found,) = images.read_implicit(data)
    assert found.record is not None
    assert any("not well-formed" in p for p in found.problems)
    with pytest.raises(CorruptFileError):
        images.write_implicit(data, record())


def test_xmp_entity_declarations_refused() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>') + SOURCE_XMP
    data = _png_with_text("XML:com.adobe.xmp", bomb, "iTXt")
    with pytest.raises(CorruptFileError, match="DOCTYPE"):
        images.write_implicit(data, record())


# ---------------------------------------------------------------- explicit label


def _ink_height(before: bytes, after: bytes, box: tuple[float, ...]) -> int:
    """Height of the pixels that changed inside the OCR box (the drawn label, halo included,
    measured on the decoded images, independent of our layout code)."""
    a = np.asarray(Image.open(io.BytesIO(before)).convert("L"), dtype=int)
    b = np.asarray(Image.open(io.BytesIO(after)).convert("L"), dtype=int)
    x0, y0, x1, y1 = (int(v) for v in box)
    changed = np.abs(a - b)[y0:y1 + 1, x0:x1 + 1] > 60
    rows = np.nonzero(changed.any(axis=1))[0]
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def checker(width: int, height: int) -> Image.Image:
    """Black and white squares: no single text colour reaches 4.5:1 everywhere."""
    y, x = np.mgrid[0:height, 0:width]
    return Image.fromarray((((x // 9 + y // 9) % 2) * 255).astype(np.uint8), "L").convert("RGB")


BACKGROUNDS = {
    "light": lambda w, h: Image.new("RGB", (w, h), (245, 245, 235)),
    "checker": checker,
    "dark": lambda w, h: Image.new("RGB", (w, h), (12, 14, 30)),
    "busy": busy,
    "photo": gradient,
}


@pytest.mark.parametrize(
    ("kind", "background"),
    [("png", "light"), ("jpeg", "light"), ("png", "dark"), ("jpeg", "checker"), ("png", "busy"),
     ("jpeg", "photo")],
)
def test_ocr_reads_label_at_least_5_percent_high(kind: str, background: str) -> None:
    width, height = 480, 320
    data = encode(BACKGROUNDS[background](width, height), FORMATS[kind])
    out = images.add_explicit(data, label_settings())
    assert images.media_type(out) == f"image/{kind}"
    lines = [(t, box) for t, box in ocr(out) if "生成" in t]
    assert lines, ocr(out)
    text, box = lines[0]
    assert "AI" in text.upper()
    short = min(width, height)
    assert box[3] - box[1] >= 0.05 * short
    assert _ink_height(data, out, box) >= 0.05 * short
    # bottom-right corner by default
    assert box[2] > width * 0.7 and box[3] > height * 0.8


def test_busy_background_gets_a_plate_with_contrast() -> None:
    cfg = label_settings()
    font = find_font(None, cfg.explicit_text)
    plain = place_label(Image.new("RGB", (400, 300), (250, 250, 250)), cfg, font)
    assert not plain.plate and plain.text_color == (0, 0, 0)
    dark = place_label(Image.new("RGB", (400, 300), (5, 5, 5)), cfg, font)
    assert not dark.plate and dark.text_color == (255, 255, 255)
    placement = place_label(checker(400, 300), cfg, font)
    assert placement.plate
    out = images.add_explicit(encode(checker(400, 300), "PNG"), cfg)
    x0, y0, x1, y1 = placement.box
    region = np.asarray(Image.open(io.BytesIO(out)).convert("L"), dtype=float)[y0:y1, x0:x1]
    # the plate (the halo colour) dominates the box: the text colour is the minority
    text_value = placement.text_color[0]
    assert np.mean(np.abs(region - text_value) > 128) > 0.6


@pytest.mark.parametrize("position", ["top-left", "top-right", "bottom-left"])
def test_other_corners(position: str) -> None:
    data = encode(gradient(400, 300), "PNG")
    out = images.add_explicit(data, label_settings(image_position=position))
    ((text, box),) = [(t, b) for t, b in ocr(out) if "生成" in t]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    assert (cx < 200) == position.endswith("left")
    assert (cy < 150) == position.startswith("top")


def test_long_notice_wraps_each_line_above_5_percent() -> None:
    data = encode(gradient(300, 300), "PNG")
    cfg = label_settings(explicit_text="该内容疑似为人工智能生成合成内容")
    font = find_font(None, cfg.explicit_text)
    placement = place_label(Image.open(io.BytesIO(data)).convert("RGB"), cfg, font)
    assert len(placement.lines) > 1
    assert placement.glyph_height >= 0.05 * 300
    assert placement.box[2] <= 300
    out = images.add_explicit(data, cfg)
    assert "".join(t for t, _ in ocr(out)).replace(" ", "").count("人工智能") == 1


@settings(max_examples=50, deadline=None)
@given(
    width=st.integers(60, 3000),
    height=st.integers(60, 3000),
    ratio=st.sampled_from([0.05, 0.06, 0.1]),
    text=st.sampled_from(["AI生成", "疑似AI生成", "可能为AI生成", "该内容属于人工智能生成合成内容"]),
    position=st.sampled_from(["bottom-right", "bottom-left", "top-right", "top-left"]),
)
def test_placement_meets_the_5_percent_rule_at_any_size(width: int, height: int, ratio: float,
                                                        text: str, position: str) -> None:
    cfg = label_settings(explicit_text=text, image_text_height=ratio, image_position=position)
    font = find_font(None, text)
    try:
        p = place_label(Image.new("RGB", (width, height), (90, 120, 60)), cfg, font)
    except UnsupportedMediaError:
        assert min(width, height) < 200  # only small images may be refused
        return
    assert p.glyph_height >= ratio * min(width, height) and p.glyph_height >= 0.05 * min(width, height)
    assert "".join(p.lines) == text
    x0, y0, x1, y1 = p.box
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    edge = 0.03 * min(width, height) + 2
    assert (x0 <= edge) if position.endswith("left") else (width - x1 <= edge)
    assert (y0 <= edge) if position.startswith("top") else (height - y1 <= edge)


def test_label_reads_upright_under_exif_rotation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored image rotated 90° clockwise
    data = encode(gradient(320, 480), "JPEG", exif=exif.tobytes())
    out = images.add_explicit(data, label_settings())
    from PIL import ImageOps

    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(out)))
    assert shown.size == (480, 320)
    assert any("生成" in t for t, _ in ocr(encode(shown, "PNG")))


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "1", "I;16"])
def test_png_mode_kept_and_pixels_outside_label_unchanged(mode: str) -> None:
    base = gradient(200, 160)
    image = base.convert(mode) if mode != "I;16" else Image.fromarray(
        np.asarray(base.convert("L"), dtype=np.uint16) * 257)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", SOURCE_XMP)
    info.add_text("Comment", "keep me")
    data = encode(image, "PNG", pnginfo=info, icc_profile=Image.open(io.BytesIO(
        encode(base, "PNG"))).info.get("icc_profile"))
    out = images.add_explicit(data, label_settings())
    with Image.open(io.BytesIO(out)) as im, Image.open(io.BytesIO(data)) as src:
        assert im.mode == src.mode
        assert im.info.get("Comment") == "keep me"
        assert "Harbour at dusk" in im.info.get("XML:com.adobe.xmp", "")
        a, b = np.asarray(src), np.asarray(im)
        diff = np.argwhere((a != b).reshape(a.shape[0], a.shape[1], -1).any(axis=2))
        assert diff.size
        assert diff[:, 0].min() > 160 * 0.6 and diff[:, 1].min() > 200 * 0.5
        if mode == "P":
            assert im.getpalette()[:len(src.getpalette())] == src.getpalette()


def test_jpeg_metadata_and_icc_kept_after_drawing(tmp_path) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x0110] = "Model-X"
    data = encode(gradient(300, 200), "JPEG", exif=exif.tobytes(), icc_profile=icc, quality=88)
    data = images.write_implicit(data, record())
    out = images.add_explicit(data, label_settings())
    with Image.open(io.BytesIO(out)) as im, Image.open(io.BytesIO(data)) as src:
        assert im.info["icc_profile"] == icc
        assert im.getexif()[0x010F] == "CameraMaker"
        assert im.quantization == src.quantization
    assert [f.record for f in images.read_implicit(out)] == [record()]


@pytest.mark.parametrize("fmt", ["GIF", "PNG"])
def test_palette_transparency_kept(fmt: str) -> None:
    data = encode(gradient(300, 200).convert("P"), fmt, transparency=0)
    out = images.add_explicit(data, label_settings())
    before = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))[..., 3]
    after = np.asarray(Image.open(io.BytesIO(out)).convert("RGBA"))[..., 3]
    assert (before == 0).sum() > 0
    outside = np.ones(before.shape, bool)
    outside[int(200 * 0.6):, int(300 * 0.5):] = False
    assert np.array_equal(before[outside], after[outside])
    assert any("生成" in t for t, _ in ocr(out))


def test_cmyk_jpeg_and_webp_lossless_keep_mode() -> None:
    cmyk = encode(gradient(200, 150).convert("CMYK"), "JPEG")
    out = images.add_explicit(cmyk, label_settings())
    assert Image.open(io.BytesIO(out)).mode == "CMYK"
    translucent = gradient(200, 150).convert("RGBA")
    translucent.putalpha(200)
    webp = images.write_implicit(encode(translucent, "WEBP", lossless=True), record())
    out = images.add_explicit(webp, label_settings())
    assert b"VP8L" in out and Image.open(io.BytesIO(out)).mode == "RGBA"
    assert [f.record for f in images.read_implicit(out)] == [record()]
    assert any("生成" in t for t, _ in ocr(out))


def test_missing_font_is_a_clear_error_not_an_unlabeled_image(tmp_path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    from labelers.fonts import BUNDLED_FONT

    data = sample("png", (200, 200))
    latin = TTFont(BUNDLED_FONT)  # a Latin-only font: the shipped one cut down to ASCII
    subsetter = subset.Subsetter()
    subsetter.populate(unicodes=range(0x20, 0x7F))
    subsetter.subset(latin)
    latin.save(tmp_path / "latin.otf")
    with pytest.raises(UnrenderableTextError, match="no glyph for '成生'"):
        images.add_explicit(data, label_settings(font_path=str(tmp_path / "latin.otf")))
    with pytest.raises(MissingFontError, match="does not exist"):
        images.add_explicit(data, label_settings(font_path="/nonexistent/font.ttf"))


def test_too_small_image_refused() -> None:
    with pytest.raises(UnsupportedMediaError, match="too small"):
        images.add_explicit(sample("png", (24, 24)), label_settings())


# ---------------------------------------------------------------- hostile input


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_rejected_from_header_before_decoding() -> None:
    bomb = _png_bomb(100_000, 100_000)
    with pytest.raises(CorruptFileError, match="pixels"):
        images.add_explicit(bomb, label_settings())
    # Pillow's own guard is an error too when our limit is raised beyond it
    with pytest.raises(CorruptFileError):
        images.add_explicit(_png_bomb(20_000, 20_000), label_settings(max_pixels=10**12))


def test_absurd_dimensions_and_oversize_rejected() -> None:
    with pytest.raises(CorruptFileError, match="dimensions"):
        images.write_implicit(_png_bomb(0, 10), record())
    with pytest.raises(CorruptFileError, match="bytes"):
        images.add_explicit(sample("png"), label_settings(max_bytes=100))


@pytest.mark.parametrize("kind", FORMATS)
def test_truncated_files_rejected_everywhere(kind: str) -> None:
    data = images.write_implicit(sample(kind, (120, 90)), record())
    for cut in (len(data) // 3, len(data) // 2, len(data) - 3):
        part = data[:cut]
        for call in (lambda d: images.write_implicit(d, record()), images.read_implicit,
                     lambda d: images.add_explicit(d, label_settings())):
            with pytest.raises(CorruptFileError):
                call(part)


def test_jpeg_absurd_sof_dimensions_rejected_before_decoding() -> None:
    data = bytearray(sample("jpeg", (64, 48)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65535, 65535)
    with pytest.raises(CorruptFileError, match="pixels"):
        images.add_explicit(bytes(data), label_settings())


def _extended_xmp_segment(packet: bytes) -> bytes:
    guid = b"0123456789ABCDEF0123456789ABCDEF"
    body = b"http://ns.adobe.com/xmp/extension/\x00" + guid + struct.pack(">II", len(packet), 0)
    body += packet
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def test_jpeg_extended_xmp_kept_and_read() -> None:
    data = sample("jpeg", (64, 48))
    plain_ext = _extended_xmp_segment(SOURCE_XMP.encode())
    with_ext = data[:2] + plain_ext + data[2:]
    out = images.write_implicit(with_ext, record())
    assert plain_ext in out
    assert [f.carrier for f in images.read_implicit(out)] == ["xmp"]
    aigc_ext = _extended_xmp_segment(other_party_xmp("TC260", "element").encode())
    tricky = data[:2] + aigc_ext + data[2:]
    (found,) = images.read_implicit(tricky)
    assert found.carrier == "xmp:extended" and found.record is not None
    with pytest.raises(UnsupportedMediaError, match="extended XMP"):
        images.write_implicit(tricky, record())


def test_png_text_zlib_bomb_rejected() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("AIGC", "{" + " " * (40 * 1024 * 1024) + "}", zip=True)
    data = encode(gradient(20, 20), "PNG", pnginfo=info)
    assert len(data) < 100_000
    with pytest.raises(CorruptFileError, match="expands beyond"):
        images.read_implicit(data)


def test_jpeg_xmp_too_large_for_one_segment_refused_not_truncated() -> None:
    filler = "x" * 65000
    big = SOURCE_XMP.replace("PaintTool 3", "PaintTool 3 " + filler)
    data = sample("jpeg")
    xmp_id = b"http://ns.adobe.com/xap/1.0/\x00"
    payload = xmp_id + big.encode()
    data = data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    with pytest.raises(UnsupportedMediaError, match="APP1"):
        images.write_implicit(data, record())


def test_bad_png_crc_rejected() -> None:
    data = bytearray(sample("png"))
    data[-20] ^= 0xFF  # inside the last IDAT
    with pytest.raises(CorruptFileError, match="CRC"):
        images.write_implicit(bytes(data), record())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(list(FORMATS)), seed=st.integers(0, 2**32 - 1),
       flips=st.integers(1, 8))
def test_fuzzed_files_give_label_errors_only(kind: str, seed: int, flips: int) -> None:
    data = bytearray(images.write_implicit(sample(kind, (40, 30)), record()))
    rng = np.random.default_rng(seed)
    for pos in rng.integers(0, len(data), flips):
        data[pos] = int(rng.integers(0, 256))
    for call in (lambda d: images.write_implicit(d, record()), images.read_implicit):
        try:
            call(bytes(data))
        except LabelError:
            pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(list(FORMATS)), seed=st.integers(0, 2**32 - 1),
       flips=st.integers(1, 8))
def test_fuzzed_files_never_crash_the_explicit_labeler(kind: str, seed: int, flips: int) -> None:
    data = bytearray(sample(kind, (120, 90)))
    rng = np.random.default_rng(seed)
    for pos in rng.integers(0, len(data), flips):
        data[pos] = int(rng.integers(0, 256))
    try:
        out = images.add_explicit(bytes(data), label_settings())
    except LabelError:
        return
    assert images.sniff(out) and pixels(out)[1] == images.dimensions(bytes(data))


# ---------------------------------------------------------------- property: writer round trip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(list(FORMATS)),
    width=st.integers(1, 80),
    height=st.integers(1, 80),
    mode=st.sampled_from(["L", "LA", "RGB", "RGBA", "P"]),
    produce_id=st.from_regex(r"[0-9a-zA-Z_-]{1,40}", fullmatch=True),
)
def test_writer_round_trip_any_size_and_mode(kind: str, width: int, height: int, mode: str,
                                             produce_id: str) -> None:
    image = gradient(width, height).convert(mode)
    if kind == "jpeg" and mode not in ("L", "RGB"):
        image = image.convert("RGB")
    if kind == "gif":
        image = image.convert("P")
    if kind == "tiff" and mode == "LA":
        image = image.convert("RGBA")
    if kind == "webp" and mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in mode else "RGB")
    data = encode(image, FORMATS[kind])
    rec = record(produce_id)
    out = images.write_implicit(data, rec)
    assert [f.record for f in images.read_implicit(out)] == [rec]
    assert pixels(out) == pixels(data)
    if kind != "gif":
        assert pyexiv2_xmp(out)["Xmp.TC260.AIGC"] == rec.to_json()
