"""Trace detection (Labeling Measures Art. 6(3)) on files made the way each tool writes them.

Fixtures follow the writers' own code: AUTOMATIC1111 ``modules/images.py`` (PNG ``tEXt
parameters`` through Pillow's PngInfo; JPEG/WebP EXIF ``UserComment`` as piexif's
``UserComment.dump(..., encoding="unicode")``: ``UNICODE\\0`` + UTF-16BE), ComfyUI ``SaveImage``
(``tEXt prompt`` = the API graph, ``tEXt workflow`` = the UI graph, both ``json.dumps``),
NovelAI (``Software``/``Comment`` text chunks), ExifTool writing IPTC ``DigitalSourceType`` into
XMP, c2pa-python signing a manifest, and the Tencent EXIF ``ImageDescription`` schema.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from labelers import LabelSettings, inspect_file, propagate_file
from labelers.traces import detect_traces

from .doc_support import PROPAGATOR
from .image_support import encode, gradient

A1111 = ("masterpiece, a cat on a roof\nNegative prompt: lowres, blurry\nSteps: 20, Sampler: "
         "DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512, Model hash: 6ce0161689, "
         "Model: v1-5-pruned-emaonly, Version: v1.7.0")
COMFY_PROMPT = {
    "3": {"inputs": {"seed": 5, "steps": 20, "cfg": 8, "sampler_name": "euler",
                     "model": ["4", 0]}, "class_type": "KSampler"},
    "4": {"inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
          "class_type": "CheckpointLoaderSimple"},
}
COMFY_WORKFLOW = {"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": []}
SETTINGS = LabelSettings(producer_code="001191110102MACQD9K64010000")


def png_with_text(**chunks: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    return encode(gradient(256, 256), "PNG", pnginfo=info)


def jpeg_with_user_comment(text: str, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + text.encode("utf-16-be")
    return encode(gradient(256, 256), fmt, exif=exif.tobytes())


def sources(data: bytes, media_type: str) -> set[str]:
    return {t.source for t in detect_traces(data, media_type)}


def test_a1111_png_parameters() -> None:
    traces = detect_traces(png_with_text(parameters=A1111), "image/png")
    assert [t.source for t in traces] == ["generation-parameters"]
    assert traces[0].where == "png:text:parameters" and "Steps: 20" in traces[0].evidence


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a1111_exif_user_comment(fmt: str) -> None:
    traces = detect_traces(jpeg_with_user_comment(A1111, fmt), f"image/{fmt.lower()}")
    assert [(t.source, t.where) for t in traces] == [("generation-parameters", "exif:UserComment")]


def test_comfyui_prompt_and_workflow() -> None:
    data = png_with_text(prompt=json.dumps(COMFY_PROMPT), workflow=json.dumps(COMFY_WORKFLOW))
    traces = detect_traces(data, "image/png")
    assert {t.where for t in traces} == {"png:text:prompt", "png:text:workflow"}


def test_novelai_software_and_comment() -> None:
    comment = json.dumps({"prompt": "1girl", "steps": 28, "sampler": "k_euler", "seed": 1})
    data = png_with_text(Title="AI generated image", Software="NovelAI", Comment=comment)
    assert sources(data, "image/png") == {"generator-name", "generation-parameters"}


def test_tencent_exif_schema_is_vendor_aigc_metadata() -> None:
    exif = Image.Exif()
    exif[0x010E] = json.dumps({"ServiceProvider": "x", "ServiceUser": "u", "Time": "1",
                               "ContentId": "c1"})
    data = encode(gradient(128, 128), "JPEG", exif=exif.tobytes())
    assert sources(data, "image/jpeg") == {"vendor-aigc-metadata"}


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
@pytest.mark.parametrize("code", ["trainedAlgorithmicMedia", "compositeSynthetic"])
def test_iptc_digital_source_type_written_by_exiftool(tmp_path: Path, code: str) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(encode(gradient(128, 128), "JPEG"))
    subprocess.run(["exiftool", "-q", "-overwrite_original",
                    f"-XMP-iptcExt:DigitalSourceType=http://cv.iptc.org/newscodes/"
                    f"digitalsourcetype/{code}", str(path)], check=True)
    traces = detect_traces(path.read_bytes(), "image/jpeg")
    assert [t.source for t in traces] == ["iptc-digital-source-type"]
    assert traces[0].evidence.endswith(code)


def test_c2pa_manifest_with_ai_action() -> None:
    pytest.importorskip("c2pa")
    from labelers import C2paConfig
    from labelers.c2pa_manifest import sign

    from .c2pa_support import make_pki

    chain, key = make_pki()
    data = sign(encode(gradient(128, 128), "PNG"), "image/png", C2paConfig(chain, key))
    assert sources(data, "image/png") == {"c2pa", "iptc-digital-source-type"}


@pytest.mark.parametrize("data", [
    png_with_text(Software="GIMP 2.10.36", parameters="quality=90"),
    png_with_text(prompt="hello", Comment="holiday photo"),
    encode(gradient(128, 128), "JPEG"),
])
def test_ordinary_files_have_no_traces(data: bytes) -> None:
    kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    assert detect_traces(data, kind) == []


def test_propagation_with_detect_gives_label_3_with_evidence() -> None:
    data = png_with_text(parameters=A1111)
    out = propagate_file(data, propagator_code=PROPAGATOR, propagate_id="post-1", detect=True,
                         settings=SETTINGS)
    assert out.record.label == "3" and out.explicit and out.notice.startswith("该内容疑似")
    assert out.traces and out.traces[0].source == "generation-parameters"
    report = inspect_file(out.data)
    assert report.record.label == "3" and report.traces  # parameters chunk kept: evidence stays
    with pytest.raises(Exception, match="nothing to propagate"):
        propagate_file(data, propagator_code=PROPAGATOR, propagate_id="post-1", detect=False,
                       settings=SETTINGS)
    clean = encode(gradient(64, 64), "PNG")
    with pytest.raises(Exception, match="nothing to propagate"):
        propagate_file(clean, propagator_code=PROPAGATOR, propagate_id="p", detect=True,
                       settings=SETTINGS)


def test_declaration_wins_over_detection() -> None:
    out = propagate_file(png_with_text(parameters=A1111), propagator_code=PROPAGATOR,
                         propagate_id="p", declared_ai=True, detect=True, settings=SETTINGS)
    assert out.record.label == "2" and out.traces == ()
