"""Each evasion family of matcher.md §6 that the normaliser handles, with exact offsets."""

from __future__ import annotations

import pytest

from lexicons import load_lexicon

from .helpers import lexicon_from


@pytest.fixture(scope="module")
def lex(tmp_path_factory):
    root = tmp_path_factory.mktemp("lex")
    return lexicon_from(
        root,
        {
            "custom.txt": "苹果手机\nbanana\n冰毒\n",
        },
    )


CASES = [
    # family, text, expected original span
    ("plain", "买苹果手机了", (1, 5)),
    ("ascii symbols", "买苹@果#手*机了", (1, 8)),
    ("spaces", "买苹 果 手 机了", (1, 8)),
    ("cjk punctuation", "苹。果，手、机", (0, 7)),
    ("ideographic space", "苹\u3000果手机", (0, 5)),
    ("full-width yen", "苹￥果手机", (0, 5)),
    ("zero width space", "苹\u200b果手机", (0, 5)),
    ("zwj zwnj wj", "苹\u200d果\u200c手\u2060机", (0, 7)),
    ("bom and soft hyphen", "苹\ufeff果\u00ad手机", (0, 6)),
    ("variation selector", "苹\ufe0f果手机", (0, 5)),
    ("tag characters", "苹\U000e0041果手机", (0, 5)),
    ("hangul fillers", "苹\u3164果\uffa0手\u115f\u1160机", (0, 8)),
    ("hangul filler in latin", "ban\u3164ana", (0, 7)),
    ("combining mark", "苹\u0301果手机", (0, 5)),
    ("emoji separator", "苹🍎果手📱机", (0, 6)),
    ("vertical text", "苹\n果\n手\n机", (0, 7)),
    ("markup", "苹**果**手机", (0, 8)),
    ("traditional", "蘋果手機", (0, 4)),
    ("mixed traditional", "苹果手機", (0, 4)),
    ("case", "BaNaNa", (0, 6)),
    ("full-width latin", "ｂａｎａｎａ", (0, 6)),
    ("circled latin", "ⓑⓐⓝⓐⓝⓐ", (0, 6)),
    ("parenthesised latin", "⒝⒜⒩⒜⒩⒜", (0, 6)),
    ("math bold (astral)", "𝐛𝐚𝐧𝐚𝐧𝐚", (0, 6)),
    ("cyrillic homoglyphs", "bаnаnа", (0, 6)),
    ("greek homoglyphs", "bαnαnα", (0, 6)),
    ("dotted", "b.a.n.a.n.a", (0, 11)),
    ("spaced latin", "b a n a n a!", (0, 11)),
]


@pytest.mark.parametrize(("family", "text", "span"), CASES, ids=[c[0] for c in CASES])
def test_evasion_family_is_caught_with_original_offsets(lex, family, text, span):
    matches = lex.scan(text)
    assert [(m.start, m.end) for m in matches] == [span]
    m = matches[0]
    assert m.text == text[m.start : m.end]
    assert m.variant == ("exact" if m.text == m.term else "normalized")


@pytest.mark.parametrize(
    "text",
    [
        "苹果。\n手机",  # two terminators: different sentences
        "苹果      手机",  # gap longer than the bound
        "苹果\n\n手机",
        "苹\n果手机",  # a line break is the writer's, unless every character is on its own line
        "苹果🍎🍎🍎🍎手机",
        "bananas",  # Latin terms are whole-word by default
        "xbanana",
    ],
)
def test_far_apart_or_embedded_words_do_not_join(lex, text):
    assert lex.scan(text) == []


def test_astral_offsets_are_code_points(lex):
    text = "𝐛𝐚𝐧𝐚𝐧𝐚 and 😀 苹果手机"
    got = [(m.term, m.start, m.end) for m in lex.scan(text)]
    assert got == [("banana", 0, 6), ("苹果手机", 13, 17)]
    assert text[13:17] == "苹果手机"


def test_cjk_numerals_are_not_folded_into_digits(tmp_path):
    lex = lexicon_from(tmp_path, {"custom.txt": "3号\n"})
    assert lex.scan("三号") == []
    assert [m.text for m in lex.scan("③号 ３号")] == ["③号", "３号"]


def test_bundled_sample_demo_variants():
    lex = load_lexicon()
    for text in ("冰毒", "冰 毒", "冰\u200b毒", "冰.毒", "冰🍃毒", "買賣槍支", "ＨＥＲＯＩＮ"):
        assert lex.scan(text), text
