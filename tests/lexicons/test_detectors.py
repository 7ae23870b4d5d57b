"""The detectors beside the lexicon: valid and invalid check digits, evasions, exact offsets,
categories, configuration in lexicon.toml, and one-shot == streaming."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexicons import DETECTORS, LexiconFormatError, load_lexicon
from lexicons import scanner as scanner_module

from .helpers import lexicon_from, stream_all

LEX = load_lexicon()


def id_check_char(first17: str) -> str:
    """GB 11643 check character, computed the way the standard states it: weights 2^(17-i)
    mod 11, check = (12 - sum mod 11) mod 11, 10 written X."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass Luhn: double every second digit from the
    right of the full number."""
    for d in "0123456789":
        digits = [int(c) for c in body + d][::-1]
        total = sum(x if i % 2 == 0 else sum(divmod(2 * x, 10)) for i, x in enumerate(digits))
        if total % 10 == 0:
            return d
    raise AssertionError


ID17 = "11010519491231002"
VALID_ID = ID17 + id_check_char(ID17)
INVALID_ID = ID17 + ("0" if VALID_ID[-1] != "0" else "1")
CARD15 = "622202020000123"
VALID_CARD = CARD15 + luhn_check_digit(CARD15)
INVALID_CARD = CARD15 + str((int(VALID_CARD[-1]) + 1) % 10)


def hits(text: str, lex=LEX) -> list[tuple[str, str, str]]:
    return [(m.term, m.text, m.category) for m in lex.scan(text) if m.term in DETECTORS]


def test_check_digits_valid_and_invalid():
    assert VALID_ID[-1] == "X"  # the well-known example of GB 11643
    assert hits(f"身份证号{VALID_ID}。") == [
        ("resident_id", VALID_ID, "a4.personal_info.id_number")
    ]
    assert hits(f"身份证号{INVALID_ID}。") == []
    assert hits(f"卡号{VALID_CARD}。") == [("bank_card", VALID_CARD, "a4.personal_info.bank_card")]
    assert hits(f"卡号{INVALID_CARD}。") == []
    spaced = " ".join(VALID_CARD[i : i + 4] for i in range(0, 16, 4))
    assert hits(f"卡号：{spaced}") == [("bank_card", spaced, "a4.personal_info.bank_card")]


def test_id_with_impossible_birth_date_is_not_an_id():
    bad17 = "11010519491331002"  # month 13
    assert hits(f"号码{bad17}{id_check_char(bad17)}。") == []


@pytest.mark.parametrize(
    ("text", "span", "term", "variant"),
    [
        ("电话13800138000，", "13800138000", "mobile_phone", "exact"),
        ("电话+86 138 0013 8000", "86 138 0013 8000", "mobile_phone", "normalized"),
        ("电话１３８００１３８０００", "１３８００１３８０００", "mobile_phone", "normalized"),
        ("电话①③⑧⓪⓪①③⑧⓪⓪⓪", "①③⑧⓪⓪①③⑧⓪⓪⓪", "mobile_phone", "normalized"),
        ("电话 1 3 8 0 0 1 3 8 0 0 0 ！", "1 3 8 0 0 1 3 8 0 0 0", "mobile_phone", "normalized"),
        ("打一三八零零一三八零零零", "一三八零零一三八零零零", "mobile_phone", "normalized"),
        ("打幺三八-零零幺三-八零零零", "幺三八-零零幺三-八零零零", "mobile_phone", "normalized"),
        ("座机010-62345678。", "010-62345678", "landline_phone", "exact"),
        ("座机0755 8888 6666", "0755 8888 6666", "landline_phone", "normalized"),
        ("热线400-800-1234", "400-800-1234", "landline_phone", "exact"),
        ("写信给 Ab.C_d+1@Example.com 吧", "Ab.C_d+1@Example.com", "email", "exact"),
        ("邮箱 abc＠qq。com", "abc＠qq。com", "email", "normalized"),
        ("访问www.example.cn了解", "www.example.cn", "url", "exact"),
        ("看 https://x.test/a?b=1 吧", "https://x.test/a?b=1", "url", "exact"),
        ("打开baidu点com", "baidu点com", "url", "normalized"),
        ("打开 baidu . com 吧", "baidu . com", "url", "normalized"),
        ("加QQ：12345678", "12345678", "qq", "exact"),
        ("扣扣号 87654321", "87654321", "qq", "exact"),
        ("qq87654321", "87654321", "qq", "exact"),
        ("加微信 wxid_abc123 详聊", "wxid_abc123", "wechat", "exact"),
        ("vx:abc_12345", "abc_12345", "wechat", "exact"),
        ("薇信号是Hello_2024", "Hello_2024", "wechat", "exact"),
    ],
)
def test_detector_finds_with_exact_offsets(text, span, term, variant):
    ms = [m for m in LEX.scan(text) if m.term in DETECTORS]
    assert [(m.term, m.text) for m in ms] == [(term, span)]
    (m,) = ms
    assert text[m.start : m.end] == span == m.text
    assert m.variant == variant
    assert m.action in ("mask", "flag")


@pytest.mark.parametrize(
    "text",
    [
        "1998年的GDP为78345亿元",  # an amount, not a number to report
        "编号2024010112345",  # 13 digits, no mobile or card shape
        "电话1380013800",  # 10 digits starting with 1
        "QQ群很多人，12345678是总数",  # a QQ number needs the keyword just before it
        "12345678",  # no keyword
        "用微信支付了abcdef",  # not a keyword followed by an id
        "see e.g. setup.py or a.b",  # not known top-level domains
        "version 1.2.3.4",
        "1️⃣3️⃣8️⃣",  # keycaps are emoji
    ],
)
def test_ordinary_text_is_not_reported(text):
    assert hits(text) == []


def test_detector_categories_roll_up_and_default_to_mask():
    tax = LEX.taxonomy
    for cat in (
        "a4.personal_info.phone",
        "a4.personal_info.id_number",
        "a4.personal_info.bank_card",
        "a4.personal_info.email",
        "a4.personal_info.im_account",
    ):
        assert tax.risk_of(cat) == "a4.personal_info"
        assert tax.get(cat).default_action == "mask"
    assert tax.risk_of("x.diversion.url") == "a3.other_commercial"


def test_masking_replaces_the_number_only():
    text = "我的手机是138 0013 8000，别告诉别人"
    masked = LEX.mask(text, LEX.scan(text))
    assert masked == "我的手机是*************，别告诉别人"


def test_lexicon_toml_chooses_detectors(tmp_path):
    lex = lexicon_from(
        tmp_path / "some",
        {"custom.txt": "词一\n", "lexicon.toml": '[detectors]\nenabled = ["email"]\n'},
    )
    assert hits("13800138000 a@b.cn", lex) == [("email", "a@b.cn", "a4.personal_info.email")]
    off = lexicon_from(
        tmp_path / "off", {"custom.txt": "词一\n", "lexicon.toml": "[detectors]\nenabled = []\n"}
    )
    assert hits("13800138000 a@b.cn", off) == []
    assert off.version != lex.version


@pytest.mark.parametrize(
    ("toml", "reason"),
    [
        ('[detectors]\nenabled = ["fax"]\n', "detectors.enabled"),
        ("[detectors]\nenabled = true\n", "detectors.enabled"),
        ('[colours]\nred = "yes"\n', "unknown section"),
        ('[folds]\n"custom" = ["soundex"]\n', "must be a list of"),
        ('[folds]\n"Bad Id" = ["pinyin"]\n', "invalid category"),
        ("[folds\n", "invalid TOML"),
    ],
)
def test_malformed_lexicon_toml(tmp_path, toml, reason):
    (tmp_path / "lexicon.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "custom.txt").write_text("词一\n", encoding="utf-8")
    with pytest.raises(LexiconFormatError) as info:
        load_lexicon([tmp_path])
    assert info.value.file.endswith("lexicon.toml") and reason in info.value.reason


# -- one-shot (vectorised, anchored) == streaming (every piece) ------------------------------

PIECES = [
    "13800138000",
    "138 0013 8000",
    "一三八零零一三八零零零",
    "１３８００１３８０００",
    VALID_ID,
    INVALID_ID,
    VALID_CARD,
    "6222 0202 0000 1234",
    "010-62345678",
    "a@b.cn",
    "abc＠qq。com",
    "www.example.com",
    "baidu点com",
    "baidu . com",
    "https://x.test/a",
    "QQ：",
    "12345678",
    "微信",
    "abc_12345",
    "vx",
    "冰毒",
    "，",
    "。",
    " ",
    "\n",
    "-",
    ".",
    "的",
    "一",
    "5",
    "x",
    "😀",
    "1\ufe0f\u20e3",
]


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=10),
)
def test_detectors_stream_like_one_shot(pieces, cuts):
    text = "".join(pieces)
    full = LEX.scan(text)
    assert scanner_module.scan_text(LEX._c, text, engine="stream") == full
    if LEX._c.fast is not None:
        assert scanner_module._scan_fast(LEX._c, text) == full
    released, matches = stream_all(LEX, _split(text, cuts))
    assert matches == full
    assert released == LEX.mask(text, [m for m in full if m.action in ("mask", "block")])


def test_long_random_text_one_shot_equals_streaming():
    rng = random.Random(5)
    text = "".join(rng.choice(PIECES + ["普通文字"] * 10) for _ in range(3000))
    full = LEX.scan(text)
    assert sum(m.term in DETECTORS for m in full) > 50
    parts, i = [], 0
    while i < len(text):
        k = rng.choice([1, 3, 7, 20, 64, 300, 2000])
        parts.append(text[i : i + k])
        i += k
    released, matches = stream_all(LEX, parts)
    assert matches == full


# single characters at the edges of quiet_search (which lets a stream chunk skip the piece
# search): lone numerals and digits, dots, the separators of digits, letters, symbols, astral
# word characters, characters no piece holds
EDGE_CHARS = [
    *"一二五幺零两点1５9aXq@_-－.。．｡ \t\u3000的国，\n",
    "𝟓",  # a math digit (astral, a word character)
    "𝐚",
    "😀",
    "\ufe0f",
    "\u20e3",
]


@settings(max_examples=400, deadline=None)
@given(
    head=st.text(alphabet=st.sampled_from(EDGE_CHARS), max_size=12),
    # characters no piece holds, more often: a quiet segment has no two piece characters side
    # by side
    segment=st.text(
        alphabet=st.sampled_from(EDGE_CHARS + [*"的国，"] * 6), min_size=1, max_size=12
    ),
)
def test_a_quiet_segment_needs_no_piece_search(head, segment):
    """When no piece is open before a segment and ``quiet_search`` finds nothing in it, the
    piece search over the segment finds no hit and leaves no piece open: skipping it (as the
    streaming core does) changes nothing."""
    from lexicons.detectors import DetectorStream, quiet_search

    stream = DetectorStream(frozenset(DETECTORS))
    stream.feed(head, 0, len(head), False)
    if stream.pos != len(head) or quiet_search()(segment) is not None:
        return
    text = head + segment
    assert stream.feed(text, 0, len(text), False) == []
    assert stream.pos == len(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.sampled_from(EDGE_CHARS + ["13800138000", "a@b.cn", "qq"]), max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=16),
)
def test_detectors_stream_like_one_shot_cut_anywhere(pieces, cuts):
    """Chunks cut between any two characters, around numbers and addresses that the
    detectors report: streaming gives the one-shot matches and masked text."""
    text = "".join(pieces)
    full = LEX.scan(text)
    released, matches = stream_all(LEX, _split(text, cuts))
    assert matches == full
    assert released == LEX.mask(text, [m for m in full if m.action in ("mask", "block")])


def test_the_quick_piece_classes_are_the_reference_classes() -> None:
    """The piece search's classes (BMP listed one by one, astral ranges behind a guard) hold
    exactly the code points of the reference classes of ranges, over every code point."""
    import re

    from lexicons.detectors import _DOTS, _SYMBOLS, _class_points, _classes, _fast_class

    every = "".join(map(chr, range(0x110000)))
    digit, letter = _classes()
    digits, letters = _class_points()
    symbols = set(map(ord, _SYMBOLS))
    pairs = [
        (f"[{digit}]", digits),
        (f"[{digit}{letter}{re.escape(_SYMBOLS)}]", digits | letters | symbols),
        (
            f"[{digit}{letter}{re.escape(_SYMBOLS + _DOTS)} \t\u3000－]",
            digits | letters | set(map(ord, _SYMBOLS + _DOTS + " \t\u3000－")),
        ),
    ]
    for reference, points in pairs:
        assert re.findall(_fast_class(points), every) == re.findall(reference, every)


@given(
    st.one_of(
        st.text(alphabet="0123456789", min_size=1, max_size=22),
        st.text(alphabet="0123456789", min_size=17, max_size=17).map(lambda d: d + "x"),
        # numbers of each kind, so that accepted lengths are exercised, not only rejected ones
        st.sampled_from(["1", "861", "00861", "4", "400", "010", "0755", "62"]).flatmap(
            lambda head: st.text(alphabet="0123456789", min_size=6, max_size=18).map(
                lambda tail: head + tail
            )
        ),
    )
)
def test_numbers_of_other_lengths_are_never_classified(digits: str) -> None:
    """``_numbers`` skips candidates whose length is not in ``_NUMBER_LENGTHS`` without
    classifying them: that is only right if the classifier accepts no other length."""
    from lexicons.detectors import _NUMBER_LENGTHS, _classify_number

    if _classify_number(digits) is not None:
        assert len(digits) in _NUMBER_LENGTHS
