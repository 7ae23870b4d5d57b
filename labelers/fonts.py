"""The font of explicit labels: the shipped Noto Sans CJK SC subset, or ``settings.font_path``.

Judgement calls:

- The package ships ``data/NotoSansCJKsc-Bold-subset.otf`` (SIL OFL 1.1, ``data/OFL.txt``;
  ASCII, GB 2312 symbols and level 1, every built-in wording; rebuilt by
  ``scripts/build-label-font``). It is used whenever ``font_path`` is not set, so labels look
  the same on every machine and need no system font. System fonts are not searched.
- A text with a character the font lacks is refused (``UnrenderableTextError``, a
  ``LabelFormatError``): a label with .notdef boxes would not be 清晰可辨. The caller either
  changes the wording or sets ``font_path`` to a font that has the characters.
- PDF notices embed a subset of the same font (:func:`pdf_font`) with a ToUnicode map, so no
  reader needs CJK fonts or CMap files of its own.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import MissingFontError, UnrenderableTextError

__all__ = ["BUNDLED_FONT", "EmbeddedFont", "find_font", "pdf_font"]

BUNDLED_FONT = Path(__file__).resolve().parent / "data" / "NotoSansCJKsc-Bold-subset.otf"


def _split(font_path: str | None) -> tuple[str, int]:
    if not font_path:
        return str(BUNDLED_FONT), 0
    path, _, index = font_path.partition("#")
    if not os.path.isfile(path):
        raise MissingFontError(f"configured font {path!r} does not exist")
    return path, int(index or 0)


@functools.lru_cache(maxsize=16)
def _cmap(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont, TTLibError

    try:
        font = TTFont(path, fontNumber=index, lazy=True)
        return frozenset(font.getBestCmap() or {})
    except (TTLibError, OSError, AssertionError, KeyError) as exc:
        raise MissingFontError(f"cannot read the font {path!r}: {exc}") from exc


def find_font(font_path: str | None, text: str) -> tuple[str, int]:
    """``(path, face index)`` of the label font, checked to have a glyph for every character.

    Raises MissingFontError (configured file missing or unreadable) or UnrenderableTextError.
    """
    path, index = _split(font_path)
    cmap = _cmap(path, index)
    missing = sorted({c for c in text if not c.isspace() and ord(c) not in cmap})
    if missing:
        which = "the shipped label font" if not font_path else f"the font {path!r}"
        raise UnrenderableTextError(
            f"{which} has no glyph for {''.join(missing)!r} in the label text {text!r}; use "
            "characters of GB 2312 level 1 or set font_path to a font that has them"
        )
    return path, index


@dataclass(frozen=True, slots=True)
class EmbeddedFont:
    """A font subset ready to embed in a PDF as a Type0 font with Identity-H encoding.

    ``kind`` is ``"cff"`` (CIDFontType0, FontFile3 /CIDFontType0C, codes are CIDs) or
    ``"truetype"`` (CIDFontType2, FontFile2, CIDToGIDMap /Identity, codes are glyph ids).
    Metrics are in 1/1000 em.
    """

    kind: str
    name: str
    program: bytes
    codes: dict[str, int]
    widths: dict[int, int]
    ascent: int
    descent: int
    cap_height: int
    bbox: tuple[int, int, int, int]

    def encode(self, text: str) -> bytes:
        """The 2-byte Identity-H codes of ``text``."""
        return b"".join(self.codes[c].to_bytes(2, "big") for c in text)


@functools.lru_cache(maxsize=32)
def pdf_font(font_path: str | None, text: str) -> EmbeddedFont:
    """A subset of the label font holding exactly the glyphs of ``text``."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    path, index = find_font(font_path, text)
    font = TTFont(path, fontNumber=index, recalcTimestamp=False)
    options = subset.Options()
    options.layout_features = []
    options.hinting = False
    options.name_IDs = [0, 1, 2, 6, 13]  # copyright, names, licence
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes={ord(c) for c in text})
    subsetter.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    font = TTFont(io.BytesIO(buf.getvalue()))
    cmap = font.getBestCmap()
    order = font.getGlyphOrder()
    scale = 1000.0 / font["head"].unitsPerEm
    if "CFF " in font:
        top = font["CFF "].cff.topDictIndex[0]
        if not hasattr(top, "ROS"):
            raise UnrenderableTextError(f"the font {path!r} is a name-keyed CFF font; the PDF "
                                        "notice needs a CID-keyed CFF or a TrueType font")
        kind, program = "cff", font.getTableData("CFF ")
        code_of = {name: int(name[3:]) if name.startswith("cid") else 0 for name in order}
    elif "glyf" in font:
        kind, program = "truetype", buf.getvalue()
        code_of = {name: gid for gid, name in enumerate(order)}
    else:
        raise UnrenderableTextError(f"the font {path!r} has no CFF or TrueType outlines")
    codes = {c: code_of[cmap[ord(c)]] for c in set(text)}
    widths = {code_of[cmap[ord(c)]]: round(font["hmtx"][cmap[ord(c)]][0] * scale)
              for c in set(text)}
    head, os2 = font["head"], font["OS/2"]
    family = "".join(ch for ch in (font["name"].getDebugName(6) or "LabelFont") if ch.isalnum()
                     or ch == "-") or "LabelFont"
    tag = "".join(chr(65 + b % 26) for b in hashlib.sha256(program).digest()[:6])
    return EmbeddedFont(
        kind=kind,
        name=f"{tag}+{family}",
        program=program,
        codes=codes,
        widths=widths,
        ascent=round(os2.sTypoAscender * scale),
        descent=round(os2.sTypoDescender * scale),
        cap_height=round(getattr(os2, "sCapHeight", 0) * scale or 700),
        bbox=tuple(round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)),  # type: ignore[arg-type]
    )
