"""Opt-in folds set in lexicon.toml: pinyin, initials, mixed, homophone, split, repeat."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexicons import FOLDS, load_lexicon
from lexicons import scanner as scanner_module

from .helpers import lexicon_from, stream_all

ALL = '[folds]\n"*" = ["pinyin", "initials", "mixed", "homophone", "split", "repeat"]\n'
TERMS = "冰毒\n苹果手机\n网络赌场\n"


@pytest.fixture(scope="module")
def lex(tmp_path_factory):
    return lexicon_from(
        tmp_path_factory.mktemp("folds"), {"custom.txt": TERMS, "lexicon.toml": ALL}
    )


CASES = [
    # fold, text, span, term
    ("pinyin", "卖bingdu了", "bingdu", "冰毒"),
    ("pinyin", "卖 bīng dú", "bīng dú", "冰毒"),
    ("pinyin", "Ping Guo Shou Ji!", "Ping Guo Shou Ji", "苹果手机"),
    ("initials", "上wldc玩", "wldc", "网络赌场"),
    ("mixed", "卖冰du的", "冰du", "冰毒"),
    ("mixed", "卖bing毒", "bing毒", "冰毒"),
    ("mixed", "苹guo手ji", "苹guo手ji", "苹果手机"),
    ("homophone", "卖兵毒的人", "兵毒", "冰毒"),
    ("homophone", "评果收机", "评果收机", "苹果手机"),
    ("split", "艹平果手机", "艹平果手机", "苹果手机"),
    ("split", "苹果手木几", "苹果手木几", "苹果手机"),
    ("split", "冫水毒", "冫水毒", "冰毒"),
    ("repeat", "冰冰毒毒", "冰冰毒毒", "冰毒"),
    ("repeat", "苹苹果果手手机机", "苹苹果果手手机机", "苹果手机"),
    ("repeat", "冰~~~~~~~毒", "冰~~~~~~~毒", "冰毒"),
]


@pytest.mark.parametrize(("fold", "text", "span", "term"), CASES)
def test_each_fold_reports_its_variant(lex, fold, text, span, term):
    ms = [m for m in lex.scan(text) if m.variant == fold]
    assert [(m.term, m.text) for m in ms] == [(term, span)]
    assert text[ms[0].start : ms[0].end] == span


@pytest.mark.parametrize(
    "text",
    [
        "电脑病毒",  # 病毒 is a word, not a spelling of 冰毒
        "xbingdu",  # pinyin is a whole Latin word
        "bingdux",
        "bing，毒",  # writer's punctuation
        "冰毒",  # the term itself: reported once, as exact
    ],
)
def test_fold_false_friends(lex, text):
    variants = [m.variant for m in lex.scan(text)]
    assert all(v in ("exact", "normalized") for v in variants), variants


def test_folds_are_off_by_default(tmp_path):
    plain = lexicon_from(tmp_path, {"custom.txt": TERMS})
    for _, text, _, _ in CASES:
        assert all(m.variant in ("exact", "normalized") for m in plain.scan(text)), text


def test_folds_per_category_and_per_directory(tmp_path):
    one = lexicon_from(
        tmp_path / "one",
        {
            "a1.other_prohibited.gambling.txt": "网络赌场\n",
            "a1.other_prohibited.crime_instigation.txt": "冰毒\n",
            "lexicon.toml": '[folds]\n"a1.other_prohibited.gambling" = ["initials"]\n',
        },
    )
    two = lexicon_from(tmp_path / "two", {"custom.txt": "苹果手机\n"})
    lex = load_lexicon([tmp_path / "one", tmp_path / "two"])
    assert [m.variant for m in lex.scan("wldc")] == ["initials"]
    assert lex.scan("bingdu") == []  # not asked for this category
    assert lex.scan("pgsj") == []  # the other directory asked for nothing
    assert one.version != two.version
    assert lex.counts_by_category() == {
        "a1.other_prohibited.crime_instigation": 1,
        "a1.other_prohibited.gambling": 1,
        "custom": 1,
    }


def test_pinyin_categories_setting_maps_onto_the_folds(tmp_path):
    via_setting = lexicon_from(
        tmp_path / "a", {"custom.txt": "苹果手机\n"}, pinyin_categories=["custom"]
    )
    via_toml = lexicon_from(
        tmp_path / "b",
        {"custom.txt": "苹果手机\n", "lexicon.toml": '[folds]\ncustom = ["pinyin", "initials"]\n'},
    )
    text = "ping guo shou ji 和 PGSJ"
    assert via_setting.scan(text) == via_toml.scan(text)
    assert [m.variant for m in via_setting.scan(text)] == ["pinyin", "initials"]


def test_fold_names_are_public():
    assert FOLDS == ("pinyin", "initials", "mixed", "homophone", "split", "repeat")


# -- streaming equivalence of every fold -------------------------------------------------------

PIECES = [c[1] for c in CASES] + [
    "冰毒",
    "病毒",
    "bing",
    "du",
    "毒",
    "冰",
    " ",
    "，",
    "~",
    "x",
    "的",
    "13800138000",
    "ping",
    "果",
]


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=10),
)
def test_folds_stream_like_one_shot(tmp_path_factory, pieces, cuts):
    lex = _lex(str(tmp_path_factory.getbasetemp() / "stream-folds"))
    text = "".join(pieces)
    full = lex.scan(text)
    assert scanner_module.scan_text(lex._c, text, engine="stream") == full
    released, matches = stream_all(lex, _split(text, cuts))
    assert matches == full
    assert released == lex.mask(text, [m for m in full if m.action in ("mask", "block")])


_cache: dict = {}


def _lex(path: str):
    if path not in _cache:
        from pathlib import Path

        _cache[path] = lexicon_from(
            Path(path), {"custom.txt": TERMS, "lexicon.toml": ALL, "allow.txt": "冰毒品\n"}
        )
    return _cache[path]
