"""The shipped label font: coverage, licence, reproducible build, and a real fresh install.

The fresh-install test is the one a new user would run: build a wheel of this tree, install it
into a new venv, and label a PNG and a PDF with the venv's own ``aigc-gateway`` while no system
font is visible. "No system font" is made certain two ways: the commands run in a private
mount namespace (``unshare --mount``) with an empty tmpfs over every font directory, and
fontconfig is pointed at a config with no font directories; ``fc-list`` in that environment is
asserted to list nothing. (Without ``unshare`` permission only the fontconfig half applies,
which still proves the point because the labeler never asks fontconfig.) The outputs are then
read by independent tools: OCR (rapidocr) on the PNG and on poppler's rendering of the PDF,
``pdftotext`` and ``pdffonts``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from PIL import Image, ImageFont

from labelers import LabelSettings, label_file
from labelers.errors import UnrenderableTextError
from labelers.fonts import BUNDLED_FONT, find_font, pdf_font
from labelers.settings import BUILTIN_WORDINGS

from .doc_support import make_pdf
from .image_support import ocr

ROOT = Path(__file__).resolve().parents[2]
CODE = "0011" + "0" * 18 + "10000"
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/root/.fonts",
             "/root/.local/share/fonts")


def _gb2312(rows: range) -> list[str]:
    out = []
    for row in rows:
        for cell in range(1, 95):
            try:
                out.append(bytes([0xA0 + row, 0xA0 + cell]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return out


def test_shipped_font_renders_ascii_gb2312_level1_and_every_builtin_wording() -> None:
    # FreeType (through Pillow) is the independent reader: no character may draw as .notdef.
    font = ImageFont.truetype(str(BUNDLED_FONT), 24)
    notdef = bytes(font.getmask("\U0010fffd"))
    level1 = _gb2312(range(16, 56))
    assert len(level1) == 3755
    wanted = [chr(c) for c in range(0x21, 0x7F)] + level1 + [c for w in BUILTIN_WORDINGS for c in w]
    blank = [c for c in wanted if bytes(font.getmask(c)) == notdef]
    assert blank == []
    for text in BUILTIN_WORDINGS:
        assert find_font(None, text) == (str(BUNDLED_FONT), 0)


def test_licence_ships_beside_the_font_and_size_is_modest() -> None:
    licence = (BUNDLED_FONT.parent / "OFL.txt").read_text()
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence and "Adobe" in licence
    assert BUNDLED_FONT.stat().st_size < 1_200_000  # docs state ~0.86 MB


def test_text_outside_the_font_is_a_clear_error() -> None:
    settings = LabelSettings(producer_code=CODE, explicit_text="AI生成𠀋")
    png = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 200, 200)).save(png, "PNG")
    with pytest.raises(UnrenderableTextError, match="no glyph for '𠀋'"):
        label_file(png.getvalue(), settings=settings)
    with pytest.raises(UnrenderableTextError):
        label_file(make_pdf(), settings=settings.replace(text_notice="本内容由AI生成𠀋"))


def test_pdf_font_subset_holds_only_the_notice_glyphs() -> None:
    embedded = pdf_font(None, "本内容由AI生成")
    assert embedded.kind == "cff" and len(embedded.program) < 20_000
    assert set(embedded.codes) == set("本内容由AI生成")
    assert len(set(embedded.codes.values())) == 8


@pytest.mark.skipif(not Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc").exists(),
                    reason="fonts-noto-cjk (scripts/install-system-deps) is the build source")
def test_build_script_reproduces_the_committed_subset(tmp_path: Path) -> None:
    out = tmp_path / "font.otf"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build-label-font"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == BUNDLED_FONT.read_bytes()


def _isolated(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``cmd`` with every system font directory hidden (when unshare is permitted)."""
    hide = " && ".join(f"mount -t tmpfs none {d}" for d in FONT_DIRS if os.path.isdir(d))
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True) \
        if shutil.which("unshare") else None
    if probe is not None and probe.returncode == 0 and hide:
        script = hide + ' && exec "$@"'
        cmd = ["unshare", "--mount", "sh", "-c", script, "sh", *cmd]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, timeout=600)


@pytest.mark.slow
def test_fresh_wheel_install_labels_with_no_system_fonts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "var", "tests", "__pycache__", ".*cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(src)], check=True,
                   capture_output=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("aigc_gateway-*.whl"))
    # The runtime dependencies come from this interpreter's site-packages; the package itself
    # (and so its data files) only from the wheel.
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(tmp_path / "venv")
    py = tmp_path / "venv" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True, timeout=600)
    fc = tmp_path / "fontconfig"
    fc.mkdir()
    (fc / "fonts.conf").write_text('<?xml version="1.0"?>\n<fontconfig>\n'
                                   f"<cachedir>{fc}/cache</cachedir>\n</fontconfig>\n")
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": f"{py.parent}:/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8",
           "FONTCONFIG_FILE": str(fc / "fonts.conf"), "FONTCONFIG_PATH": str(fc)}
    Image.new("RGB", (640, 480), (236, 240, 244)).save(work / "in.png")
    (work / "in.pdf").write_bytes(make_pdf())
    listed = _isolated(["fc-list"], env, work) if shutil.which("fc-list") else None
    assert listed is None or listed.stdout.strip() == b""
    where = _isolated([str(py), "-c", "import labelers; print(labelers.__file__)"], env, work)
    assert where.stdout.decode().startswith(str(tmp_path / "venv")), where
    for name in ("in.png", "in.pdf"):
        done = _isolated([str(py.parent / "aigc-gateway"), "label", name, "-o", f"out-{name}",
                          "--producer-code", CODE], env, work)
        assert done.returncode == 0, done.stderr.decode()
        assert json.loads(done.stdout)["explicit"] is True
    assert any("AI生成" in text for text, _ in ocr((work / "out-in.png").read_bytes()))
    text = _isolated(["pdftotext", "-l", "1", "out-in.pdf", "-"], env, work)
    assert "本内容由人工智能生成" in text.stdout.decode()
    fonts = _isolated(["pdffonts", "out-in.pdf"], env, work).stdout.decode()
    assert "NotoSansCJKsc-Bold" in fonts and "Identity-H" in fonts and " yes yes yes " in fonts
    rendered = _isolated(["pdftoppm", "-r", "100", "-png", "-f", "1", "-l", "1", "out-in.pdf",
                          "page"], env, work)
    assert rendered.returncode == 0 and b"CMap" not in rendered.stderr
    page = next(work.glob("page*.png")).read_bytes()
    assert any("本内容由人工智能生成" in t for t, _ in ocr(page))
