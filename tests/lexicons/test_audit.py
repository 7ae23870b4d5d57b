"""``aigc-gateway lexicon audit``: ranked false-hit evidence and the suggestions it leads to."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lexicons import load_lexicon
from lexicons.audit import COMMON_WORD_FREQ, audit_lexicon, common_words

from .helpers import write_lexicon

ROOT = Path(__file__).resolve().parents[2]
CORPUS = (
    "十字路口交通拥堵，司机在路口交通岗前等候。\n"  # 口交 inside 路口 + 交通(岗)
    "老师拿起一盒白粉笔写字。\n"  # 白粉 inside 白粉笔
    + "中国的经济在发展。\n" * 3  # 中国: an ordinary word
    + "他说这是违禁词甲，违禁词甲不能说。\n" * 40  # fires as a word of its own, often
    + "偶尔出现一次暗号乙。\n"  # fires once, as itself
    + "今天天气很好，我们去公园散步。\n" * 4000  # ordinary filler (~180 KB)
)


@pytest.fixture(scope="module")
def lexdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lex")
    return write_lexicon(
        root,
        {
            "x.harmful.vulgar.txt": "口交\n",
            "a1.other_prohibited.crime_instigation.txt": "白粉\n违禁词甲\n暗号乙\n从未出现词\n",
            "custom.txt": "中国\n",
        },
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "ordinary.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def _by_term(report):
    return {f.term: f for f in report.findings}


def test_corpus_audit_ranks_and_suggests(lexdir: Path, corpus: Path):
    report = audit_lexicon(load_lexicon([lexdir]), [corpus])
    found = _by_term(report)
    assert set(found) == {"口交", "白粉", "中国", "违禁词甲", "暗号乙"}
    mb = corpus.stat().st_size / 1e6
    assert found["违禁词甲"].hits == 80
    assert found["违禁词甲"].hits_per_mb == pytest.approx(80 / mb)
    # ranked by hits per MB
    rates = [f.hits_per_mb for f in report.findings]
    assert rates == sorted(rates, reverse=True)
    assert found["中国"].suggestion == "drop" and found["中国"].word_freq >= COMMON_WORD_FREQ
    assert found["违禁词甲"].suggestion == "drop" and "per MB" in found["违禁词甲"].why
    assert found["口交"].suggestion == "allow"
    assert found["口交"].allow == ["路口交通"]  # the longer words covering the hits
    assert found["口交"].inside == 2 and found["口交"].sampled == 2
    assert found["白粉"].suggestion == "allow" and found["白粉"].allow == ["白粉笔"]
    assert found["暗号乙"].suggestion == "review"
    assert found["口交"].contexts[0] == "十字路【口交】通拥堵，司机在路口交通岗"


def test_suggestions_remove_the_false_hits(lexdir: Path, corpus: Path, tmp_path: Path):
    """Following the allow-list suggestion makes those hits go away; the real ones stay."""
    lex = load_lexicon([lexdir])
    found = _by_term(audit_lexicon(lex, [corpus]))
    fixed = write_lexicon(tmp_path / "fixed", {p.name: p.read_text() for p in lexdir.glob("*.txt")})
    phrases = found["口交"].allow + found["白粉"].allow
    (fixed / "allow.txt").write_text("".join(p + "\n" for p in phrases), encoding="utf-8")
    after = _by_term(audit_lexicon(load_lexicon([fixed]), [corpus], dictionary=False))
    assert "口交" not in after and "白粉" not in after
    assert after["违禁词甲"].hits == 80


def test_dictionary_only_flags_common_words_and_substrings(tmp_path: Path):
    lexdir = write_lexicon(
        tmp_path / "lex", {"custom.txt": "中国\n交通\n从未出现词\n", "a4.privacy.txt": "卖身份证\n"}
    )
    found = _by_term(audit_lexicon(load_lexicon([lexdir]), []))
    assert found["中国"].suggestion == "drop"
    # 交通 is itself a common word, and lies inside many others
    assert found["交通"].suggestion == "drop"
    assert len(found["交通"].in_common_words) >= 5
    assert "从未出现词" not in found and "卖身份证" not in found
    assert all(w in dict(common_words()) for w in found["交通"].in_common_words)


def test_dictionary_substring_suggests_word_matching(tmp_path: Path):
    # 体育 is in jieba as a common word, but scan a term that is only *inside* words
    words = dict(common_words())
    term = "育运"  # inside 体育运动, 教育运动...
    containing = [w for w in words if term in w and w != term]
    assert containing, "fixture assumption: jieba has words containing the term"
    lexdir = write_lexicon(tmp_path / "lex", {"custom.txt": term + "\n"})
    (f,) = audit_lexicon(load_lexicon([lexdir]), []).findings
    assert f.word_freq == 0 and set(f.in_common_words) <= set(containing)
    if len(f.in_common_words) <= 3:
        assert f.suggestion == "allow" and f.allow == f.in_common_words
    else:
        assert f.suggestion == "match=word"


def _cli(*args: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGC_GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "service", "lexicon", "audit", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=180,
    )


def test_cli_formats_and_exit_codes(lexdir: Path, corpus: Path, tmp_path: Path):
    md = _cli(str(lexdir), "--corpus", str(corpus), "--no-dictionary")
    assert md.returncode == 1, md.stderr
    assert md.stdout.startswith("# Lexicon audit") and "| 违禁词甲 |" in md.stdout
    out = tmp_path / "audit.csv"
    assert _cli(str(lexdir), "--corpus", str(corpus), "--out", str(out)).returncode == 1
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert {r["term"]: r["suggestion"] for r in rows}["口交"] == "allow"
    out = tmp_path / "audit.json"
    assert _cli(str(lexdir), "--corpus", str(corpus), "--out", str(out)).returncode == 1
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["findings"][0]["term"] in ("违禁词甲", "中国")
    clean = write_lexicon(tmp_path / "clean", {"custom.txt": "从未出现词\n"})
    assert _cli(str(clean), "--corpus", str(corpus)).returncode == 0
    assert _cli(str(lexdir), "--corpus", str(tmp_path / "missing.txt")).returncode == 2
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\xfa")
    assert _cli(str(lexdir), "--corpus", str(bad)).returncode == 2
