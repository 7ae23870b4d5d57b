"""Lexicon directory format (DESIGN §3.2), taxonomy, errors, versions."""

from __future__ import annotations

import pytest

from lexicons import LexiconFormatError, load_lexicon

from .helpers import lexicon_from, write_lexicon


def test_bundled_taxonomy_has_the_31_risks_and_finer_tags():
    tax = load_lexicon().taxonomy
    risks = [c for c in tax if c.id.count(".") == 1 and c.id[:2] in {"a1", "a2", "a3", "a4", "a5"}]
    assert len(risks) == 31
    assert sum(c.id.startswith("a1.") for c in risks) == 8
    assert sum(c.id.startswith("a2.") for c in risks) == 9
    cat = tax.get("a1.terrorism_extremism")
    assert (cat.name_zh, cat.name_en) == (
        "宣扬恐怖主义、极端主义",
        "Promoting terrorism or extremism",
    )
    assert cat.default_action == "block" and cat.parent == "a1"
    assert "custom" in tax and "x.injection" in tax
    assert tax.get("x.harmful.gore").parent == "a1.violence_obscenity"
    assert tax.risk_of("a1.other_prohibited.gambling") == "a1.other_prohibited"
    assert tax.get("nope") is None


def test_bundled_sample_is_marked_as_sample():
    from lexicons.loader import BUNDLED_DIR

    for path in BUNDLED_DIR.glob("*.txt"):
        assert "SAMPLE" in path.read_text(encoding="utf-8").splitlines()[0], path.name


def test_plain_public_list_loads_as_is(tmp_path):
    # BOM, CRLF, blank lines, surrounding spaces: the shape of common public word lists
    (tmp_path / "custom.txt").write_bytes("\ufeff词一\r\n\r\n  词二  \r\n词三".encode())
    lex = load_lexicon([tmp_path])
    assert lex.term_count == 3
    assert [m.term for m in lex.scan("词一词二词三")] == ["词一", "词二", "词三"]


def test_non_id_file_name_goes_to_custom_and_id_file_name_becomes_a_category(tmp_path):
    lex = lexicon_from(tmp_path, {"色情类.txt": "词一\n", "my_list.txt": "词二\n"})
    assert lex.counts_by_category() == {"custom": 1, "my_list": 1}
    assert lex.taxonomy.get("my_list").parent == "custom"


def test_duplicates_across_categories_keep_every_category(tmp_path):
    lex = lexicon_from(
        tmp_path,
        {"a2.region.txt": "词一\n词一\n", "a2.gender.txt": "词 一\n"},
    )
    assert lex.counts_by_category() == {"a2.gender": 1, "a2.region": 1}
    assert sorted(m.category for m in lex.scan("词一")) == ["a2.gender", "a2.region"]


def test_several_directories_merge(tmp_path):
    one = write_lexicon(tmp_path / "one", {"custom.txt": "词一\n"})
    two = write_lexicon(
        tmp_path / "two",
        {
            "custom.txt": "词二\n",
            "allow.txt": "词一好\n",
            "categories.toml": '[[category]]\nid = "mine"\nname_zh = "我的"\nname_en = "Mine"\n'
            'default_action = "mask"\n',
            "mine.txt": "词三\n",
        },
    )
    lex = load_lexicon([one, two])
    assert [m.term for m in lex.scan("词一好 词一 词二 词三")] == ["词一", "词二", "词三"]
    assert lex.taxonomy.get("mine").name_zh == "我的"
    assert [m.action for m in lex.scan("词三")] == ["mask"]


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("好词\n坏词\taction=nuke\n", 2, "invalid action 'nuke'"),
        ("好词\n\n坏词\tmatch=fuzzy\n", 3, "invalid match 'fuzzy'"),
        ("坏词\tseverity=extreme\n", 1, "invalid severity"),
        ("好词\n坏词\tcolour=red\n", 2, "bad attribute 'colour=red'"),
        ("好词\n坏词\t1\n", 2, "bad attribute '1'"),
        ("# comment\n*** \n", 2, "no letters, digits or ideographs"),
        ("\taction=block\n", 1, "empty term"),
        ("词" * 65 + "\n", 1, "longer than 64"),
    ],
)
def test_malformed_lines_name_file_line_and_reason(tmp_path, content, line, reason):
    write_lexicon(tmp_path, {"custom.txt": content})
    with pytest.raises(LexiconFormatError) as info:
        load_lexicon([tmp_path])
    err = info.value
    assert err.file.endswith("custom.txt") and err.line == line
    assert reason in err.reason
    assert f"custom.txt:{line}: " in str(err)


def test_invalid_utf8_reports_the_line(tmp_path):
    (tmp_path / "custom.txt").write_bytes("词一\n词二\n".encode() + b"\xff\xfe\n")
    with pytest.raises(LexiconFormatError) as info:
        load_lexicon([tmp_path])
    assert info.value.line == 3 and "UTF-8" in info.value.reason


@pytest.mark.parametrize(
    ("toml", "line", "reason"),
    [
        ('[[category]]\nid = "Bad Id"\n', 2, "invalid category id"),
        ('[[category]]\nid = "ok"\ndefault_action = "nuke"\n', 2, "invalid default_action"),
        ('[[category]]\nid = "ok"\ncolour = "red"\n', 2, "unknown field"),
        ('[[category]\nid = "ok"\n', 1, "invalid TOML"),
    ],
)
def test_malformed_categories_toml(tmp_path, toml, line, reason):
    write_lexicon(tmp_path, {"categories.toml": toml})
    with pytest.raises(LexiconFormatError) as info:
        load_lexicon([tmp_path])
    assert info.value.file.endswith("categories.toml")
    assert info.value.line == line and reason in info.value.reason


def test_missing_directory_is_a_lexicon_error(tmp_path):
    with pytest.raises(LexiconFormatError) as info:
        load_lexicon([tmp_path / "nope"])
    assert "not a directory" in info.value.reason


def test_version_is_a_content_hash(tmp_path):
    a = lexicon_from(tmp_path / "a", {"custom.txt": "词一\n"})
    b = lexicon_from(tmp_path / "b", {"custom.txt": "词一\n"})
    c = lexicon_from(tmp_path / "c", {"custom.txt": "词二\n"})
    assert a.version == b.version != c.version
    assert a.version.startswith("sha256:") and len(a.version) == len("sha256:") + 16
    d = lexicon_from(tmp_path / "d", {"custom.txt": "词一\n"}, pinyin_categories=["custom"])
    assert d.version != a.version
    assert load_lexicon().version == load_lexicon(None).version == load_lexicon([]).version
