"""Both streaming engines (daachorse over a window, pyahocorasick carried across chunks) on
long texts with many hits, noise and barriers, split at random: equal to the one-shot scan."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lexicons import scanner as scanner_module

from .helpers import lexicon_from, stream_all

CHARS = "苹果手机大麻冰毒卖买枪支的人"
FILLER = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏"  # in no term: hits are sparse
NOISE = [" ", "，", "。", "\n", "😀", "\u200b", "!!", "    ", "。。", "a", "Ｂ", "𝐡", "蘋"]
NOISE += [".", "．", "○", "二○"]  # lone dots, zero circles next to a numeral (gaps.py)


@pytest.fixture(scope="module")
def lex(tmp_path_factory):
    rng = random.Random(7)
    terms = sorted(
        {"".join(rng.choice(CHARS) for _ in range(rng.randint(2, 6))) for _ in range(300)}
    )
    allow = sorted(
        {"".join(rng.choice(CHARS) for _ in range(rng.randint(3, 7))) for _ in range(20)}
    )
    root: Path = tmp_path_factory.mktemp("lex")
    files = {
        "custom.txt": "\n".join(terms[::2]) + "\n",
        "a2.other.txt": "\n".join(terms[1::2]) + "\n",
        "allow.txt": "\n".join(allow) + "\n",
    }
    return lexicon_from(root, files)


@pytest.mark.parametrize("daachorse", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_random_chunking_long_text(lex, daachorse, seed, monkeypatch):
    if daachorse:
        pytest.importorskip("daachorse")
    monkeypatch.setattr(scanner_module, "STREAM_DAACHORSE", daachorse)
    rng = random.Random(seed)
    pick = [CHARS] * 3 + [FILLER] * 6 + [NOISE]
    text = "".join(rng.choice(rng.choice(pick)) for _ in range(5000))
    parts = []
    i = 0
    while i < len(text):
        k = rng.choice([1, 2, 3, 5, 8, 20, 20, 40, 300, 1000])
        parts.append(text[i : i + k])
        i += k
    full = lex.scan(text)
    assert full, "the lexicon should fire on this text"
    released, matches = stream_all(lex, parts)
    assert matches == full
    assert released == lex.mask(text, [m for m in full if m.action in ("mask", "block")])


def test_bmp_list_table_equals_dict_table():
    from lexicons.normalize import _TRANSLATE, _bmp_table

    bmp = "".join(chr(cp) for cp in range(0x10000) if not 0xD800 <= cp < 0xE000)
    assert bmp.translate(_bmp_table()) == bmp.translate(_TRANSLATE)


def test_compact_stream_equals_compact_small():
    from lexicons.normalize import NoiseCarry, compact_small, compact_stream, kept_offsets

    alphabet = ["a", "中", "。", "\n", " ", "，", "!", "\u200b", "😀", "X", "蘋", ".", "\x01", "é"]
    alphabet += [" " * 20, "1", "\ufe0f\u20e3"]
    rng = random.Random(1)
    for _ in range(20_000):
        seg = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        run_len = rng.randint(0, 40)
        base = rng.randint(0, 100)
        c1, c2 = NoiseCarry(run_len), NoiseCarry(run_len)
        compact, orig = compact_small(seg, base, c1)
        compact2, orig2 = compact_stream(seg, base, c2)
        if isinstance(orig2, str):
            orig2 = kept_offsets(orig2, base)
        assert (compact2, list(orig2), c2) == (compact, list(orig), c1), seg
