"""Overlaps, categories, allow-list, word mode, masking."""

from __future__ import annotations

from lexicons import load_lexicon

from .helpers import lexicon_from, spans


def test_overlapping_terms_and_categories_all_reported(tmp_path):
    lex = lexicon_from(
        tmp_path,
        {
            "a1.terrorism_extremism.txt": "炸药\n自制炸药\n",
            "a1.other_prohibited.crime_instigation.txt": "炸药\n药品\n",
        },
    )
    got = [(m.term, m.category, m.start, m.end) for m in lex.scan("自制炸药品")]
    assert got == [
        ("自制炸药", "a1.terrorism_extremism", 0, 4),
        ("炸药", "a1.other_prohibited.crime_instigation", 2, 4),
        ("炸药", "a1.terrorism_extremism", 2, 4),
        ("药品", "a1.other_prohibited.crime_instigation", 3, 5),
    ]


def test_every_occurrence_is_reported(tmp_path):
    lex = lexicon_from(tmp_path, {"custom.txt": "aa\n"})
    assert [(m.start, m.end) for m in lex.scan("aa aa,aa")] == [(0, 2), (3, 5), (6, 8)]


def test_actions_default_from_category_and_attribute_overrides(tmp_path):
    lex = lexicon_from(
        tmp_path,
        {"a2.region.txt": "词一\n词二\taction=block\tseverity=low\n"},
    )
    by_term = {m.term: m for m in lex.scan("词一词二")}
    assert (by_term["词一"].action, by_term["词一"].severity) == ("mask", "medium")
    assert (by_term["词二"].action, by_term["词二"].severity) == ("block", "low")


def test_allow_list_suppresses_contained_hits_only(tmp_path):
    lex = lexicon_from(
        tmp_path,
        {"custom.txt": "大麻\n口交\n", "allow.txt": "大麻哈鱼\n路口交通\n"},
    )
    assert lex.scan("大麻哈鱼") == []
    assert lex.scan("十字路口交通") == []  # the allowed phrase starts before the hit
    assert spans(lex.scan("大麻 哈鱼和大麻")) == [("大麻", 6, 8, "大麻")]
    assert spans(lex.scan("路口交")) == [("口交", 1, 3, "口交")]


def test_allow_list_matches_through_noise_too(tmp_path):
    lex = lexicon_from(tmp_path, {"custom.txt": "大麻\n", "allow.txt": "大麻哈鱼\n"})
    assert lex.scan("大 麻 哈 鱼") == []


def test_latin_word_mode(tmp_path):
    lex = lexicon_from(tmp_path, {"custom.txt": "meth\nsex\tmatch=substring\nab12\n"})
    assert spans(lex.scan("method meth. Meth2 吸meth")) == [
        ("meth", 7, 11, "meth"),
        ("meth", 20, 24, "meth"),
    ]
    assert [m.start for m in lex.scan("sussex")] == [3]  # substring explicitly asked for
    assert lex.scan("ab123") == []
    assert [m.start for m in lex.scan("(ab12)")] == [1]


def test_cjk_word_mode_uses_segmentation(tmp_path):
    lex = lexicon_from(tmp_path, {"custom.txt": "白粉\tmatch=word\n"})
    assert lex.scan("我买了一盒白粉笔") == []
    assert spans(lex.scan("他在卖白粉")) == [("白粉", 3, 5, "白粉")]
    sub = lexicon_from(tmp_path / "sub", {"custom.txt": "白粉\n"})
    assert spans(sub.scan("白粉笔")) == [("白粉", 0, 2, "白粉")]


def test_mask_replaces_exactly_the_original_spans():
    lex = load_lexicon()
    text = "出售冰 毒，𝐡𝐞𝐫𝐨𝐢𝐧和大麻哈鱼"
    matches = lex.scan(text)
    masked = lex.mask(text, matches)
    assert masked == "出售***，******和大麻哈鱼"
    assert len(masked) == len(text)
    assert lex.mask(text, matches, char="█") == "出售███，██████和大麻哈鱼"
    assert lex.mask(text, []) == text


def test_scan_rejects_non_str():
    lex = load_lexicon()
    try:
        lex.scan(b"bytes")  # type: ignore[arg-type]
    except TypeError:
        pass
    else:
        raise AssertionError("bytes accepted")


def test_pinyin_is_off_by_default_and_opt_in(tmp_path):
    files = {"custom.txt": "苹果手机\n"}
    assert lexicon_from(tmp_path / "a", files).scan("pingguoshouji") == []
    lex = lexicon_from(tmp_path / "b", files, pinyin_categories=["custom"])
    got = [(m.term, m.text, m.variant) for m in lex.scan("买 ping guo shou ji 和 PGSJ, xpgsj")]
    assert got == [
        ("苹果手机", "ping guo shou ji", "pinyin"),
        ("苹果手机", "PGSJ", "initials"),
    ]


def test_empty_and_allow_only_lexicons(tmp_path):
    empty = lexicon_from(tmp_path / "e", {"custom.txt": "# nothing yet\n"})
    assert empty.term_count == 0 and empty.scan("冰毒 anything") == []
    scanner = empty.stream()
    assert scanner.feed("冰毒").text == "冰毒"
    assert scanner.flush().text == ""
    allow_only = lexicon_from(tmp_path / "a", {"allow.txt": "大麻哈鱼\n"})
    assert allow_only.scan("大麻哈鱼") == []
    scanner = allow_only.stream()
    assert (
        scanner.feed("大麻哈").text + scanner.feed("鱼!").text + scanner.flush().text == "大麻哈鱼!"
    )
