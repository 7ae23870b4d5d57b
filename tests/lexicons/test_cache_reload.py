"""On-disk compiled cache and reload semantics."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np

from lexicons import load_lexicon
from lexicons.normalize import _read_tables, tables
from lexicons.scanner import scan_text

from .helpers import stream_all, write_lexicon


def test_cache_is_written_keyed_by_version_and_reused(tmp_path):
    src = write_lexicon(tmp_path / "lex", {"custom.txt": "词一\n词二\n", "allow.txt": "词一好\n"})
    cache = tmp_path / "cache"
    first = load_lexicon([src], cache_dir=cache)
    files = list(cache.glob("*.pickle"))
    assert len(files) == 1 and first.version.split(":")[1] in files[0].name
    assert not list(cache.glob(".lexicon-*"))  # no temp file left behind
    second = load_lexicon([src], cache_dir=cache)
    assert second is not first and second.version == first.version
    text = "词一好，词二 词一"
    assert second.scan(text) == first.scan(text)
    # an independent reader: the file is a pickle of the compiled form of this version
    with open(files[0], "rb") as fh:
        compiled = pickle.load(fh)
    assert compiled.version == first.version
    assert [e.term for e in compiled.entries] == ["词一", "词二"]


def test_corrupt_cache_file_is_ignored_and_rewritten(tmp_path):
    src = write_lexicon(tmp_path / "lex", {"custom.txt": "词一\n"})
    cache = tmp_path / "cache"
    lex = load_lexicon([src], cache_dir=cache)
    (path,) = cache.glob("*.pickle")
    path.write_bytes(b"not a pickle")
    again = load_lexicon([src], cache_dir=cache)
    assert [m.term for m in again.scan("词一")] == ["词一"]
    assert path.read_bytes() != b"not a pickle"
    assert again.version == lex.version


def test_reload_builds_a_new_object_and_in_flight_streams_keep_theirs(tmp_path):
    src = write_lexicon(tmp_path / "lex", {"custom.txt": "旧词\n"})
    cache = tmp_path / "cache"
    old = load_lexicon([src], cache_dir=cache)
    stream = old.stream(mask=lambda m: True)
    first = stream.feed("这是旧")
    (src / "custom.txt").write_text("新词\n", encoding="utf-8")
    new = load_lexicon([src], cache_dir=cache)
    assert new.version != old.version
    assert [m.term for m in new.scan("旧词新词")] == ["新词"]
    rest = stream.feed("词和新词")
    end = stream.flush()
    assert first.text + rest.text + end.text == "这是**和新词"
    assert [m.term for m in old.scan("旧词新词")] == ["旧词"]
    assert len(list(cache.glob("*.pickle"))) == 2


def test_unwritable_cache_dir_does_not_fail_the_load(tmp_path):
    src = write_lexicon(tmp_path / "lex", {"custom.txt": "词一\n"})
    blocker = tmp_path / "file"
    blocker.write_text("x")
    lex = load_lexicon([src], cache_dir=blocker / "sub")
    assert lex.scan("词一")


def test_stream_only_fields_of_a_cached_lexicon_load_on_first_use(tmp_path):
    """A lexicon loaded from the cache for one-shot scans leaves the stream-only fields (the
    pyahocorasick automaton, the open prefixes) pickled until used: streams and the
    pyahocorasick engine then give the answers of the freshly compiled lexicon, and it pickles
    again either way. Loaded for any use (the default), nothing is left pickled."""
    files = {"custom.txt": "冰毒\n苹果手机\nabc\tmatch=word\n", "allow.txt": "冰毒检测\n"}
    src = write_lexicon(tmp_path / "lex", files)
    cache = tmp_path / "cache"
    fresh = load_lexicon([src], cache_dir=cache)
    assert load_lexicon([src], cache_dir=cache)._c.deferred == {}
    cached = load_lexicon([src], cache_dir=cache, one_shot=True)
    deferred = set(cached._c.deferred)
    assert deferred == {"automaton", "open_prefixes", "open_prefix_ends"}
    text = "卖冰 毒，冰毒检测，苹果\u200b手机 abc abcd"
    assert cached.scan(text) == fresh.scan(text)
    assert set(cached._c.deferred) == deferred  # a one-shot scan needs none of them
    again = pickle.loads(pickle.dumps(cached._c))  # not unpickled yet: pickled as they are
    parts = [text[i : i + 3] for i in range(0, len(text), 3)]
    assert stream_all(cached, parts) == stream_all(fresh, parts)
    assert scan_text(cached._c, text, engine="stream") == fresh.scan(text)
    assert cached._c.deferred == {}
    assert scan_text(again, text, engine="stream") == fresh.scan(text)
    assert pickle.loads(pickle.dumps(cached._c)).open_prefixes == fresh._c.open_prefixes


def test_normalisation_tables_cache_file_round_trips(tmp_path):
    code = "import sys\nfrom lexicons.normalize import tables\ntables(sys.argv[1])\n"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)
    (path,) = tmp_path.glob("normalize-*")
    loaded = _read_tables(str(path))
    assert loaded is not None
    assert np.array_equal(loaded.fold, tables().fold)
    assert np.array_equal(loaded.cls, tables().cls)
    assert not loaded.fold.flags.writeable and not loaded.cls.flags.writeable
    path.write_bytes(path.read_bytes()[:-1])  # e.g. cut short by a full disk: rebuilt instead
    assert _read_tables(str(path)) is None
