"""The word-boundary segmentation (``lexicons.wordseg.cut``) is jieba's no-HMM cut, token for
token, over ``lexicons.wordfreq``'s cached index of jieba's dictionary; the index is built once,
reused, and rebuilt when it is corrupt or the dictionary changes."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import jieba
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lexicons import wordfreq
from lexicons.audit import _search_spans
from lexicons.wordseg import cut, log10_frequency, on_word_boundaries, tokens_between

from .helpers import run_python

CORPUS = Path.home() / ".cache" / "aigc-gateway" / "bench" / "people_daily_199801.txt"


@pytest.fixture(scope="module")
def jieba_tokenizer():
    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


def _dict_words() -> list[str]:
    with open(wordfreq.jieba_dict_path(), encoding="utf-8") as fh:
        return [line.split(" ")[0] for line in fh]


DICT_WORDS = _dict_words()
#: Dictionary words that are not pure CJK (B超, T恤, 3C, ...): the DAG walk across Latin letters.
MIXED_WORDS = [w for w in DICT_WORDS if not all("\u4e00" <= ch <= "\u9fd5" for ch in w)]

pieces = st.one_of(
    st.sampled_from(DICT_WORDS),
    st.sampled_from(MIXED_WORDS),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # beyond 9FD5 too
    st.characters(min_codepoint=0x3400, max_codepoint=0x4DBF),  # CJK extension A
    st.sampled_from(list("abcXYZ0123456789+#&._%-")),
    st.sampled_from(list("，。、！？：；“”（）《》…—·!?,;:'\"()*/@$~")),
    st.sampled_from([" ", "  ", "\t", "\n", "\r\n", "\r", "\u3000", "\u00a0"]),
    st.sampled_from(["ＡＢＣ", "１２", "😀", "👍🏽", "\u200b", "é", "Ω"]),
)
windows = st.lists(pieces, min_size=1, max_size=12).map("".join)


def _assert_same_as_jieba(tok, window: str) -> None:
    expected = list(tok.cut(window, HMM=False))
    tokens = cut(window)
    assert tokens == expected, window
    index = wordfreq.index()
    assert index.total == tok.total
    for t in tokens:
        assert index.freq(t) == tok.FREQ.get(t), t
    expected_logp = sum(math.log10(max(tok.FREQ.get(t) or 1, 1) / tok.total) for t in expected)
    assert log10_frequency(tokens) == expected_logp


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window=windows)
def test_cut_and_frequencies_equal_jiebas(jieba_tokenizer, window):
    _assert_same_as_jieba(jieba_tokenizer, window)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window=windows)
def test_audit_search_spans_equal_jiebas_search_mode(jieba_tokenizer, window):
    expected = [(a, b) for _, a, b in jieba_tokenizer.tokenize(window, mode="search", HMM=False)]
    assert _search_spans(cut(window)) == expected


@pytest.mark.skipif(not CORPUS.exists(), reason="People's Daily corpus not in the bench cache")
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.floats(min_value=0, max_value=1, exclude_max=True), length=st.integers(1, 40))
def test_cut_equals_jiebas_on_real_text(jieba_tokenizer, start, length):
    text = _corpus()
    at = int(start * (len(text) - length))
    _assert_same_as_jieba(jieba_tokenizer, text[at : at + length])


_corpus_text: list[str] = []


def _corpus() -> str:
    if not _corpus_text:
        _corpus_text.append(CORPUS.read_text(encoding="utf-8")[:2_000_000])
    return _corpus_text[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window=windows)
def test_boundaries_are_the_token_ends_of_the_cut(window):
    tokens = cut(window)
    starts = [sum(map(len, tokens[:i])) for i in range(len(tokens))]
    for start, token in zip(starts, tokens, strict=True):
        end = start + len(token)
        assert tokens_between(window, start, end) == [token]
        assert on_word_boundaries(window, start, end, True, True)
        for inside in range(start + 1, end):
            assert tokens_between(window, start, inside) is None
            assert not on_word_boundaries(window, inside, end, True, False)
            assert on_word_boundaries(window, inside, end, False, True)
    assert tokens_between(window, 0, len(window)) == tokens


# -- the cache ---------------------------------------------------------------------------------

SMALL_DICT = "中国 500 ns\n中国人 80 n\n人民 300 n\nB超 3 n\n国 0 n\n中 40 n\nB超 7 n\n"


@pytest.fixture
def small_dict(tmp_path) -> Path:
    path = tmp_path / "dict.txt"
    path.write_text(SMALL_DICT, encoding="utf-8")
    return path


def _jieba_freq(dict_path: Path, tmp_dir: Path) -> tuple[dict[str, int], int]:
    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer(str(dict_path))
    tok.tmp_dir = str(tmp_dir)
    tok.initialize()
    return tok.FREQ, tok.total


def _as_dict(index: wordfreq.WordFreq, words) -> dict[str, int | None]:
    return {w: index.freq(w) for w in words}


def test_small_dictionary_read_by_jiebas_rules(small_dict, tmp_path):
    """Prefixes are 0, a repeated word keeps its last frequency and counts twice in total, a
    word listed with 0 stays 0."""
    freq, total = _jieba_freq(small_dict, tmp_path / "jieba")
    index = wordfreq.load_index(tmp_path / "cache", small_dict)
    assert index.total == total
    assert _as_dict(index, freq) == freq
    assert index.freq("民") is None and index.freq("人民日报") is None and index.freq("") is None


class _Builds:
    def __init__(self, monkeypatch):
        self.count = 0
        real = wordfreq._encode

        def counting(dict_path):
            self.count += 1
            return real(dict_path)

        monkeypatch.setattr(wordfreq, "_encode", counting)


def test_built_once_then_reused(small_dict, tmp_path, monkeypatch):
    builds = _Builds(monkeypatch)
    cache = tmp_path / "cache"
    first = wordfreq.load_index(cache, small_dict)
    path = wordfreq.cache_path(cache)
    stat = path.stat()
    second = wordfreq.load_index(cache, small_dict)
    assert builds.count == 1
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert _as_dict(second, ["中国", "中国人", "中", "B超"]) == _as_dict(
        first, ["中国", "中国人", "中", "B超"]
    )
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temp file left behind


@pytest.mark.parametrize(
    "damage",
    ["garbage", "empty", "truncated", "flipped payload byte", "bad header"],
)
def test_corrupt_cache_is_rebuilt(small_dict, tmp_path, monkeypatch, damage):
    cache = tmp_path / "cache"
    good = wordfreq.load_index(cache, small_dict)
    path = wordfreq.cache_path(cache)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) - 5])
    elif damage == "flipped payload byte":
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:])
    else:
        path.write_bytes(data[:10] + b"\xff" * 20 + data[30:])
    builds = _Builds(monkeypatch)
    index = wordfreq.load_index(cache, small_dict)
    assert builds.count == 1
    assert index.total == good.total and index.freq("B超") == 7 and index.freq("国") == 0
    assert path.read_bytes() == data  # rewritten whole
    wordfreq.load_index(cache, small_dict)
    assert builds.count == 1


def test_rebuilt_when_the_dictionary_changes(small_dict, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    assert wordfreq.load_index(cache, small_dict).freq("人民") == 300
    builds = _Builds(monkeypatch)
    small_dict.write_text(SMALL_DICT.replace("人民 300", "人民 301"), encoding="utf-8")
    st_ = small_dict.stat()
    os.utime(small_dict, ns=(st_.st_atime_ns, st_.st_mtime_ns + 10**9))
    index = wordfreq.load_index(cache, small_dict)
    assert builds.count == 1 and index.freq("人民") == 301
    assert wordfreq.load_index(cache, small_dict).freq("人民") == 301 and builds.count == 1


def test_unusable_cache_dir_still_gives_the_index(small_dict, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    index = wordfreq.load_index(blocker / "cache", small_dict)
    assert index.freq("中国") == 500
    assert wordfreq.load_index(None, small_dict).freq("中国人") == 80


def test_scan_needing_word_boundaries_does_not_import_jieba(tmp_path):
    """A hit across a lone dot is judged on word boundaries (wordseg); the scan CLI does that
    from the cached index, without importing jieba (issue 14)."""
    lexdir = tmp_path / "lex"
    lexdir.mkdir()
    (lexdir / "custom.txt").write_text("冰毒\n远离\n", encoding="utf-8")
    text = tmp_path / "in.txt"
    text.write_text("有人卖冰.毒。去海港城都不远.离星光大道很近\n", encoding="utf-8")
    code = (
        "import sys\n"
        "from service.cli import main\n"
        f"status = main(['scan', '--lexicons', {str(lexdir)!r}, {str(text)!r}])\n"
        "from lexicons import wordfreq\n"
        "print(wordfreq._index is not None, 'jieba' in sys.modules, status)\n"
    )
    env = {**os.environ, "AIGC_GATEWAY_LEXICON_CACHE_DIR": str(tmp_path / "cache")}
    for _ in range(2):  # the first run builds the cache, the second loads it
        proc = run_python(code, env)
        *matches, last = proc.stdout.strip().splitlines()
        assert last == "True False 1", proc.stderr
        assert [m for m in matches if '"远离"' in m] == []
        assert len([m for m in matches if '"冰毒"' in m]) == 1
    assert wordfreq.cache_path(tmp_path / "cache").exists()


def test_gateway_warm_up_parses_the_whole_index_without_jieba(tmp_path):
    """The gateway's start-up (``service.runtime.warm_up``) leaves no dictionary work for the
    first requests, from the index cached beside the compiled lexicon."""
    code = (
        "import sys\n"
        "from lexicons import load_lexicon, wordfreq\n"
        "from service.runtime import warm_up\n"
        f"load_lexicon(cache_dir={str(tmp_path)!r})\n"
        "warm_up()\n"
        "index = wordfreq.index()\n"
        "print('jieba' in sys.modules, len(index._groups) == len(index._firsts))\n"
    )
    proc = run_python(code)
    assert proc.stdout.strip() == "False True", proc.stderr
    assert wordfreq.cache_path(tmp_path).exists()
