"""The precision benchmark's classification of false hits (no corpus needed)."""

from __future__ import annotations

from benchmarks.quality_precision import classify
from tests.lexicons.helpers import lexicon_from


def test_false_hits_are_classified_and_shown_in_context(tmp_path):
    lex = lexicon_from(tmp_path, {"custom.txt": "出版社\n一二九\n港澳台\n"})
    text = "编著出 版 社：化学工业出版社。纪念“一二·九”长跑，有关港、澳、台的条目"
    true, others, shown, detected = classify(lex.scan(text), text, context=2)
    assert true == 1  # 出版社 where it is written
    assert others == {"spaced-out term": 2, "words joined": 1}
    assert shown == [
        "spaced-out term: 出版社 in `编著⟦出 版 社⟧：化`",
        "words joined: 一二九 in `念“⟦一二·九⟧”长`",
        "spaced-out term: 港澳台 in `有关⟦港、澳、台⟧的条`",
    ]
    assert detected == 0


def test_headline_counts_words_joined_not_the_spaced_out_whole_term(monkeypatch):
    """The goal column counts matches of a term the text does not contain; a term written with
    a separator between every character is the term (issue 12 item 1) and has its own column."""
    import benchmarks.quality_precision as qp

    texts = {"news": "编著出 版 社：化学。纪念“一二·九”长跑", "reviews": "出版社"}
    monkeypatch.setattr(qp, "corpus", lambda name: texts[name])
    monkeypatch.setattr(qp, "dictionary_words", lambda n, min_freq, seed: ["出版社", "一二九"])
    markdown, rows = qp.run(2, [None])
    news = next(r for r in rows if r["corpus"] == "news")
    mb = len(texts["news"].encode("utf-8")) / 1e6
    assert news["others"] == {"spaced-out term": 1, "words joined": 1}
    assert news["false_per_mb"] == 1 / mb
    assert news["spaced_per_mb"] == 1 / mb
    assert "| default | news | 0.00 | 0 | 1 |" in markdown
