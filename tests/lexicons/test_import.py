"""``aigc-gateway lexicon import`` on hand-made files shaped like the real public lists.

Shapes copied from the sources (the words are placeholders or from the bundled sample):
konsheng/Sensitive-lexicon ``Vocabulary/*.txt`` (one word per line, named by category, with
duplicates and co-occurrence lines such as ``出售炸药 电话`` / ``高压气枪|电狗专卖``),
fwwdn/sensitive-stop-words (``词,`` lines), funNLP's TSV (``T_BASE_SENSITIVEWORDS_ID
SENSITIVETYPE SENSITIVETOPIC SENSITIVEWORDS``), houbb/sensitive-word dictionary, tag
(``词 tag1,tag2``, system tags 0–4) and allow files, ToolGood.Words keyword files (BOM,
``|``-separated), TrChat's ``SensitiveLexicon.json`` and other JSON shapes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lexicons import load_lexicon
from lexicons.importer import import_lexicon, term_key
from lexicons.mapping import CategoryMapping, fold_name
from lexicons.sources import detect_format, read_source

ROOT = Path(__file__).resolve().parents[2]


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _cli(*args: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGC_GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "service", "lexicon", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def _terms(directory: Path) -> dict[str, list[str]]:
    """category file -> term lines (attributes included), comments skipped."""
    out = {}
    for path in sorted(directory.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        out[path.stem] = [x for x in lines if x and not x.startswith("#")]
    return out


@pytest.fixture
def konsheng(tmp_path: Path) -> Path:
    root = tmp_path / "Vocabulary"
    _write(root / "政治类型.txt", "反动标语\n反动标语\n反動標語\n")
    _write(
        root / "色情词库.txt",
        "\ufeff色情网站\r\n色情网站\r\n色 情 网 站\r\n\r\n黄\r\n",  # BOM, CRLF, blank, one char
    )
    _write(
        root / "涉枪涉爆.txt",
        "出售炸药\n炸药\n出售炸药 电话\n高压气枪|电狗专卖\n出售手枪=货到付款\n高压气枪,气枪子弹\n",
    )
    _write(root / "零时-Tencent.txt", "反动标语\n神秘词语\n&\n" + "长" * 70 + "\n")
    return root


def test_konsheng_directory(konsheng: Path, tmp_path: Path):
    out = tmp_path / "lex"
    report = import_lexicon([konsheng], out)
    terms = _terms(out)
    assert terms == {
        "a1.other_prohibited.crime_instigation": ["出售炸药", "炸药"],
        "a1.subversion": ["反动标语"],
        "a1.violence_obscenity": ["色情网站"],
        "custom": ["神秘词语"],
    }
    reasons = {(d.term, d.reason) for d in report.dropped}
    assert {
        ("反动标语", "duplicate"),
        ("反動標語", "duplicate"),  # traditional spelling, same key
        ("色 情 网 站", "duplicate"),  # spaced spelling, same key
        ("黄", "single_char"),
        ("出售炸药 电话", "cooccurrence"),
        ("高压气枪|电狗专卖", "cooccurrence"),
        ("出售手枪=货到付款", "cooccurrence"),
        ("高压气枪,气枪子弹", "cooccurrence"),
        ("&", "no_letters"),
        ("长" * 70, "too_long"),
        ("反动标语", "custom_duplicate"),  # also in the unmapped list: kept under a1 only
    } <= reasons
    assert report.unknown == {"零时-Tencent": 2}  # the terms kept from it
    assert report.mapped["政治类型"] == "a1.subversion"
    assert report.mapped["涉枪涉爆"] == "a1.other_prohibited.crime_instigation"
    # provenance: the comment line before each term names the source file and line
    lines = (out / "a1.subversion.txt").read_text(encoding="utf-8").splitlines()
    i = lines.index("反动标语")
    assert lines[i - 1].startswith("# Vocabulary/政治类型.txt:1")
    assert "Vocabulary/政治类型.txt:2" in lines[i - 1]  # the duplicates are named too
    # the directory loads and the traditional / spaced spellings are caught
    lex = load_lexicon([out])
    hits = {(m.term, m.category) for m in lex.scan("有人贴出反動標語，还开了色 情 网 站")}
    assert hits == {("反动标语", "a1.subversion"), ("色情网站", "a1.violence_obscenity")}


def test_same_sources_same_files_same_version(konsheng: Path, tmp_path: Path):
    import_lexicon([konsheng], tmp_path / "a")
    import_lexicon([konsheng], tmp_path / "b")
    assert load_lexicon([tmp_path / "a"]).version == load_lexicon([tmp_path / "b"]).version


def test_fwwdn_comma_terminated_lines(tmp_path: Path):
    src = _write(tmp_path / "政治类.txt", "反动标语,\n敏感口号,\n出售炸药 电话\n")
    report = import_lexicon([src], tmp_path / "lex")
    assert _terms(tmp_path / "lex") == {"a1.subversion": ["反动标语", "敏感口号"]}
    assert [d.reason for d in report.dropped] == ["cooccurrence"]


def test_funnlp_tsv_with_header(tmp_path: Path):
    src = _write(
        tmp_path / "敏感词及类型.txt",
        "T_BASE_SENSITIVEWORDS_ID\tSENSITIVETYPE\tSENSITIVETOPIC\tSENSITIVEWORDS\n"
        "1\t政治\t1\t反动标语\n"
        "2\t色情\t2\t色情网站\n"
        "3\t暴恐\t3\t恐怖袭击\n"
        "4\t色情\t2\t色情网站\n"
        "5\t新类别\t9\t奇怪词语\n",
    )
    assert read_source(src).format == "csv"
    report = import_lexicon([src], tmp_path / "lex")
    assert _terms(tmp_path / "lex") == {
        "a1.subversion": ["反动标语"],
        "a1.terrorism_extremism": ["恐怖袭击"],
        "a1.violence_obscenity": ["色情网站"],
        "custom": ["奇怪词语"],
    }
    assert report.unknown == {"新类别": 1}
    comment = (tmp_path / "lex" / "custom.txt").read_text(encoding="utf-8").splitlines()[-2]
    assert comment == f"# {src.as_posix()}:6 [新类别]"  # the file as named on the command line


def test_csv_with_attributes_and_several_tags(tmp_path: Path):
    src = _write(
        tmp_path / "terms.csv",
        'word,category,action,match\n冰毒,毒品,,\n赌球,"赌博;广告",flag,word\n坏词,毒品,nuke,\n',
    )
    report = import_lexicon([src], tmp_path / "lex")
    assert _terms(tmp_path / "lex") == {
        "a1.other_prohibited.crime_instigation": ["冰毒"],
        "a1.other_prohibited.gambling": ["赌球\taction=flag\tmatch=word"],
        "a3.other_commercial": ["赌球\taction=flag\tmatch=word"],
    }
    assert [(d.term, d.reason) for d in report.dropped] == [("坏词", "invalid_attribute")]
    lex = load_lexicon([tmp_path / "lex"])
    assert {m.action for m in lex.scan("来赌球吧")} == {"flag"}


def test_headerless_term_category_csv_in_a_txt(tmp_path: Path):
    src = _write(tmp_path / "list.txt", "反动标语,政治\n色情网站,色情\n恐怖袭击,暴恐\n")
    assert read_source(src).format == "csv"
    import_lexicon([src], tmp_path / "lex")
    assert set(_terms(tmp_path / "lex")) == {
        "a1.subversion",
        "a1.violence_obscenity",
        "a1.terrorism_extremism",
    }


def test_houbb_dictionary_tags_and_allow(tmp_path: Path):
    root = tmp_path / "houbb"
    _write(root / "sensitive_word_dict.txt", "反动标语\n色情网站\n赌球\n无标签词\n")
    # system tags are digits (0 政治 1 毒品 2 色情 3 赌博 4 违法); user tags are names
    _write(
        root / "sensitive_word_tags.txt",
        "反动标语 0\n色情网站 2\n赌球 3,广告\n五星标语 政治,国家\n",
    )
    _write(root / "sensitive_word_allow.txt", "反动标语研究\n")
    report = import_lexicon([root], tmp_path / "lex", fmt="houbb")
    terms = _terms(tmp_path / "lex")
    assert terms["a1.subversion"] == ["反动标语", "五星标语"]
    assert terms["a1.violence_obscenity"] == ["色情网站"]
    assert terms["a1.other_prohibited.gambling"] == ["赌球"]
    assert terms["a3.other_commercial"] == ["赌球"]
    assert terms["custom"] == ["无标签词"]
    assert terms["allow"] == ["反动标语研究"]
    assert report.unknown["国家"] == 1  # an unknown tag is listed...
    assert "五星标语" not in terms["custom"]  # ...but a mapped tag wins over custom
    # auto-detection reads the same
    auto = import_lexicon([root], tmp_path / "auto")
    assert _terms(tmp_path / "auto") == terms
    assert [s["format"] for s in auto.sources] == ["plain", "plain", "houbb"]
    lex = load_lexicon([tmp_path / "lex"])
    assert lex.scan("反动标语研究") == []  # the allow-list phrase suppresses the hit
    assert [m.term for m in lex.scan("一条反动标语")] == ["反动标语"]


def test_toolgood_keyword_file(tmp_path: Path):
    src = _write(
        tmp_path / "BadWord.txt",
        b"\xef\xbb\xbf" + "中国制造假货|国人假货|zg假货\n反动标语\n".encode(),
    )
    assert read_source(src).format == "toolgood"
    import_lexicon([src], tmp_path / "lex", mapping=_mapping(tmp_path, {"BadWord": "custom"}))
    assert _terms(tmp_path / "lex") == {
        "custom": ["中国制造假货", "国人假货", "zg假货", "反动标语"]
    }


def _mapping(tmp_path: Path, entries: dict[str, str]) -> CategoryMapping:
    body = "[categories]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in entries.items())
    return CategoryMapping.default(_write(tmp_path / "mapping.toml", body))


def test_json_shapes(tmp_path: Path):
    trchat = _write(
        tmp_path / "SensitiveLexicon.json",
        json.dumps({"lastUpdateDate": "2025/07/25", "words": ["反动标语", "色情网站"]}),
    )
    objects = _write(
        tmp_path / "objs.json",
        json.dumps([{"word": "赌球", "category": "赌博"}, {"term": "冰毒", "tags": ["毒品"]}]),
    )
    grouped = _write(
        tmp_path / "groups.json", json.dumps({"色情": ["黄色网站"], "政治": ["某标语"]})
    )
    report = import_lexicon(
        [trchat, objects, grouped],
        tmp_path / "lex",
        mapping=_mapping(tmp_path, {"SensitiveLexicon": "a1.subversion"}),
    )
    assert _terms(tmp_path / "lex") == {
        "a1.other_prohibited.crime_instigation": ["冰毒"],
        "a1.other_prohibited.gambling": ["赌球"],
        "a1.subversion": ["反动标语", "色情网站", "某标语"],
        "a1.violence_obscenity": ["黄色网站"],
    }
    assert all(s["format"] == "json" for s in report.sources)
    text = (tmp_path / "lex" / "a1.subversion.txt").read_text(encoding="utf-8")
    assert f"# {trchat.as_posix()}:words[1]\n色情网站\n" in text
    assert f"# {grouped.as_posix()}:政治[0] [政治]\n某标语\n" in text


def test_mapping_file_wins_drop_and_custom(tmp_path: Path, konsheng: Path):
    mapping = _mapping(
        tmp_path,
        {"零时-Tencent": "a1.national_security", "色情": "drop", "政治类型": "custom"},
    )
    report = import_lexicon([konsheng], tmp_path / "lex", mapping=mapping)
    terms = _terms(tmp_path / "lex")
    assert "a1.violence_obscenity" not in terms  # 色情词库 folds to 色情, mapped to drop
    assert terms["a1.national_security"] == ["反动标语", "神秘词语"]
    assert "反动标语" not in terms.get("custom", [])  # custom copy of a mapped key dropped
    assert any(d.reason == "mapped_to_drop" for d in report.dropped)
    assert report.unknown == {}


def test_fold_name():
    assert fold_name("政治类型") == fold_name("政治类") == fold_name("政治词库") == "政治"
    assert fold_name("涉枪涉爆违法信息关键词") == "涉枪涉爆"
    assert fold_name("Porn_Words") == "porn"
    assert fold_name("ＰＯＲＮ") == "porn"


def test_detect_plain_is_not_fooled_by_a_few_separators(tmp_path: Path):
    lines = [f"词语{i}" for i in range(100)] + ["高压气枪|电狗专卖", "出售炸药 电话"]
    text = "\n".join(lines)
    assert detect_format(tmp_path / "x.txt", text, text.split("\n")) == "plain"


def test_reimporting_an_aigc_gateway_directory_keeps_categories_and_attributes(tmp_path: Path):
    bundled = Path(load_lexicon.__module__.replace(".", "/")).parent
    data = ROOT / bundled / "data"
    import_lexicon([data], tmp_path / "lex")
    before = sorted(load_lexicon([data]).iter_terms())
    after = sorted(load_lexicon([tmp_path / "lex"]).iter_terms())
    assert after == before


# -- the normalised key is the matcher's ---------------------------------------------------

_LETTERS = st.sampled_from(list("苹果手机蘋機ab1ＡＢ１赌球"))
_NOISE = st.sampled_from(["", "", " ", "·", "\u200b", "，"])  # at most one noise character


def _spelling(draw_letters: list[str], gaps: list[str]) -> str:
    return "".join(c + g for c, g in zip(draw_letters, gaps, strict=False)) + "".join(
        draw_letters[len(gaps) :]
    )


_SPELLING = st.builds(
    lambda letters, gaps: _spelling(letters, gaps[: len(letters) - 1]),
    st.lists(_LETTERS, min_size=2, max_size=6),
    st.lists(_NOISE, min_size=5, max_size=5),
)


@settings(max_examples=200, deadline=None)
@given(a=_SPELLING, b=_SPELLING)
def test_equal_keys_match_each_other(tmp_path_factory, a, b):
    """Two spellings with the same key are the same term to the matcher: a lexicon holding
    one finds the other, over its whole letters. Visible separators in the text are judged by
    their context (docs/lexicons.md, separators vs punctuation), so the text spaces the other
    spelling out with invisible characters, which always join."""
    ka, kb = term_key(a), term_key(b)
    if ka != kb:
        b = a.translate(str.maketrans("苹果机", "蘋果機")).upper()  # another spelling of a
        kb = term_key(b)
    assert ka == kb
    root = tmp_path_factory.mktemp("k")
    _write(root / "custom.txt", a.strip() + "\n")
    lex = load_lexicon([root])
    text = "在" + b.translate(str.maketrans({" ": "\u200b", "·": "\u200b", "，": "\u200b"})) + "在"
    hits = [m for m in lex.scan(text) if m.term == a.strip()]
    assert hits, (a, b)
    assert term_key(hits[0].text) == kb


# -- the command line ----------------------------------------------------------------------


def test_cli_exit_codes_and_report(konsheng: Path, tmp_path: Path):
    out = tmp_path / "lex"
    proc = _cli("import", str(konsheng), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "dropped:" in proc.stderr and "cooccurrence" in proc.stderr
    assert "零时-Tencent: 2 terms" in proc.stderr  # unknown categories are listed
    # not empty -> refuse (2), --force replaces
    again = _cli("import", str(konsheng), "--out", str(out))
    assert again.returncode == 2 and "--force" in again.stderr
    report = tmp_path / "report.json"
    proc = _cli("import", str(konsheng), "--out", str(out), "--force", "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["dropped_by_reason"]["cooccurrence"] == 4
    assert data["kept"] == 5
    assert _cli("check", "--lexicons", str(out)).returncode == 1  # valid, below the floors


def test_cli_unreadable_input_exits_2(tmp_path: Path):
    out = str(tmp_path / "lex")
    assert _cli("import", str(tmp_path / "missing.txt"), "--out", out).returncode == 2
    binary = _write(tmp_path / "list.txt", b"\x00\x01\x02\xff" * 10)
    proc = _cli("import", str(binary), "--out", out)
    assert proc.returncode == 2 and "binary" in proc.stderr
    bad_json = _write(tmp_path / "x.json", "[1, 2")
    assert _cli("import", str(bad_json), "--out", out, "--format", "json").returncode == 2
    mapping = _write(tmp_path / "m.toml", '[categories]\n"政治" = "a9.nonsense"\n')
    good = _write(tmp_path / "ok.txt", "反动标语\n")
    proc = _cli("import", str(good), "--out", out, "--mapping", str(mapping))
    assert proc.returncode == 2 and "a9.nonsense" in proc.stderr
    assert not Path(out).exists()  # nothing half-written


def test_gbk_list_is_decoded_and_noted(tmp_path: Path):
    src = _write(tmp_path / "色情.txt", "色情网站\n淫秽视频\n".encode("gbk"))
    report = import_lexicon([src], tmp_path / "lex")
    assert _terms(tmp_path / "lex") == {"a1.violence_obscenity": ["色情网站", "淫秽视频"]}
    assert report.sources[0]["encoding"] == "gb18030"


def test_progress_bar_only_on_a_terminal(tmp_path: Path):
    import fcntl
    import pty
    import struct
    import termios

    src = _write(tmp_path / "政治类.txt", "".join(f"标语{i}号\n" for i in range(12_000)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGC_GATEWAY_")}
    cmd = [sys.executable, "-m", "service", "lexicon", "import", str(src)]
    plain = subprocess.run(
        [*cmd, "--out", str(tmp_path / "a")], capture_output=True, cwd=ROOT, env=env, timeout=120
    )
    assert plain.returncode == 0 and b"\r" not in plain.stderr and b"lines/s" not in plain.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # rows, cols
    proc = subprocess.Popen(
        [*cmd, "--out", str(tmp_path / "b")],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        cwd=ROOT,
        env=env,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=120) == 0
    os.close(master)
    assert b"lines" in seen and b"\r" in seen  # tqdm's bar, redrawn in place
    assert b"imported 12000 terms" in seen
