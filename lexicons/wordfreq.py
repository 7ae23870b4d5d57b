"""jieba's word-frequency dictionary as a fast-loading index: word -> frequency, prefixes -> 0.

jieba's own ``Tokenizer.initialize`` marshal-loads a 498k-entry dict (~0.5 s) plus ~0.15 s of
imports; a word-boundary check on a 20-character window needs a few dozen of those entries. This
index holds the same data (``FREQ`` and ``total`` of ``jieba.Tokenizer().initialize()``, built
by jieba's own rules from its ``dict.txt``) grouped by first character, in one cache file:

- a header (magic, format, the dictionary's signature, ``total``, the first characters and the
  byte offsets of their groups, a CRC of the payload), marshalled;
- the payload: per first character, its words (and word prefixes) as ``\\n``-joined UTF-8 and
  their frequencies as an int32 (int64 if needed) array in this machine's byte order.

Loading reads the file and checks the CRC (a few ms); a group becomes a dict on its first
look-up (well under a millisecond for the biggest, 一 with ~5k entries). The cache is built on
first use, keyed by the dictionary's path, size and mtime and the format version, written
atomically (temp file + rename); a missing, stale or corrupt file is rebuilt, never an error.
"""

from __future__ import annotations

import bisect
import importlib.util
import marshal
import os
import sys
import tempfile
import threading
import zlib
from array import array
from pathlib import Path

__all__ = ["WordFreq", "cache_path", "index", "jieba_dict_path", "load_index", "use_cache_dir"]

#: Bump when the file layout or the build rules change.
FORMAT = 1
_MAGIC = b"AIGCWF"
_CACHE_NAME = f"jieba-wordfreq-v{FORMAT}-{sys.byteorder}.bin"


def jieba_dict_path() -> Path:
    """jieba's bundled ``dict.txt`` (the default Tokenizer's dictionary), found without
    importing jieba."""
    spec = importlib.util.find_spec("jieba")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("jieba is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "dict.txt"


def cache_path(cache_dir: str | os.PathLike[str]) -> Path:
    """Where the index of jieba's dictionary is cached under ``cache_dir``."""
    return Path(cache_dir) / _CACHE_NAME


class WordFreq:
    """``freq(word)`` as jieba's ``FREQ.get(word)``, ``group(ch)`` for the DAG walk."""

    __slots__ = ("_blob", "_firsts", "_groups", "_offsets", "_typecode", "total")

    def __init__(
        self, total: int, firsts: str, offsets: list[int], typecode: str, blob: memoryview
    ) -> None:
        self.total = total
        self._blob = blob
        self._offsets = offsets
        self._typecode = typecode
        # firsts is sorted; group i: words at [offsets[2i], offsets[2i+1]), freqs up to
        # offsets[2i+2] (a bisect per first look-up is cheaper than a dict of 11k at load)
        self._firsts = firsts
        self._groups: dict[str, dict[str, int]] = {}

    def group(self, first: str) -> dict[str, int] | None:
        """Frequencies of the words and word prefixes starting with ``first`` (0 for a prefix
        that is not a word), or None when no word starts with it."""
        got = self._groups.get(first)
        if got is not None:
            return got
        i = bisect.bisect_left(self._firsts, first)
        if i == len(self._firsts) or self._firsts[i] != first:
            return None
        slot = 2 * i
        offsets = self._offsets
        words_end, freqs_end = offsets[slot + 1], offsets[slot + 2]
        words = str(self._blob[offsets[slot] : words_end], "utf-8").split("\n")
        freqs = array(self._typecode)
        freqs.frombytes(self._blob[words_end:freqs_end])
        got = self._groups[first] = dict(zip(words, freqs, strict=True))
        return got

    def parse_all(self) -> None:
        """Parse every group now (~0.2 s, ~55 MB): a server's first requests then parse none."""
        for first in self._firsts:
            self.group(first)

    def freq(self, word: str) -> int | None:
        """jieba's ``FREQ.get(word)``: the frequency, 0 for a prefix of a word, else None."""
        if not word:
            return None
        group = self.group(word[0])
        return None if group is None else group.get(word)


def _signature(dict_path: Path) -> tuple[str, int, int]:
    st = os.stat(dict_path)
    return (str(dict_path.resolve()), st.st_size, st.st_mtime_ns)


def _read_jieba_dict(dict_path: Path) -> tuple[dict[str, int], int]:
    """``(FREQ, total)`` by jieba's ``Tokenizer.gen_pfdict``: a repeated word keeps its last
    frequency but counts in ``total`` each time; every prefix of a word is in ``FREQ`` (0 when
    it is not a word itself)."""
    freq: dict[str, int] = {}
    total = 0
    with open(dict_path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip().decode("utf-8")
            try:
                word, count = line.split(" ")[:2]
                n = int(count)
            except ValueError:
                raise ValueError(
                    f"invalid dictionary entry in {dict_path} at line {lineno}"
                ) from None
            freq[word] = n
            total += n
            for end in range(1, len(word)):
                freq.setdefault(word[:end], 0)
    return freq, total


def _encode(dict_path: Path) -> bytes:
    freq, total = _read_jieba_dict(dict_path)
    groups: dict[str, list[tuple[str, int]]] = {}
    for word, n in freq.items():
        groups.setdefault(word[0], []).append((word, n))
    firsts = "".join(sorted(groups))
    typecode = "i" if all(-(2**31) <= n < 2**31 for n in freq.values()) else "q"
    parts: list[bytes] = []
    offsets = [0]
    pos = 0
    for ch in firsts:
        words = "\n".join(w for w, _ in groups[ch]).encode("utf-8")
        freqs = array(typecode, [n for _, n in groups[ch]]).tobytes()
        parts += [words, freqs]
        pos += len(words)
        offsets.append(pos)
        pos += len(freqs)
        offsets.append(pos)
    payload = b"".join(parts)
    header = marshal.dumps(
        (FORMAT, _signature(dict_path), total, firsts, offsets, typecode, zlib.crc32(payload))
    )
    return _MAGIC + len(header).to_bytes(4, "little") + header + payload


def _decode(data: bytes, signature: tuple[str, int, int]) -> WordFreq | None:
    """The index in ``data``, or None when it is not one, is for another dictionary or format,
    or is damaged."""
    if not data.startswith(_MAGIC):
        return None
    start = len(_MAGIC) + 4
    size = int.from_bytes(data[len(_MAGIC) : start], "little")
    payload = memoryview(data)[start + size :]
    try:
        fmt, sig, total, firsts, offsets, typecode, crc = marshal.loads(data[start : start + size])
        if fmt != FORMAT or tuple(sig) != signature or typecode not in ("i", "q"):
            return None
        if not isinstance(firsts, str) or len(offsets) != 2 * len(firsts) + 1:
            return None
        if offsets[-1] != len(payload) or zlib.crc32(payload) != crc:
            return None
        return WordFreq(total, firsts, offsets, typecode, payload)
    except (EOFError, ValueError, TypeError):
        return None


def load_index(
    cache_dir: str | os.PathLike[str] | None = None, dict_path: Path | None = None
) -> WordFreq:
    """The index of ``dict_path`` (jieba's ``dict.txt`` by default): read from ``cache_dir``
    when a valid cache is there, else built (~1 s) and, with ``cache_dir``, saved there."""
    dict_path = dict_path or jieba_dict_path()
    signature = _signature(dict_path)
    path = cache_path(cache_dir) if cache_dir is not None else None
    if path is not None:
        try:
            data = path.read_bytes()
        except OSError:
            pass
        else:
            index = _decode(data, signature)
            if index is not None:
                return index
    data = _encode(dict_path)
    if path is not None:
        _store(path, data)
    index = _decode(data, signature)
    assert index is not None
    return index


def _store(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename); errors are ignored (the
    index then lives in this process only)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".wordfreq-", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


_lock = threading.Lock()
_index: WordFreq | None = None
_cache_dir: str | os.PathLike[str] | None = None


def use_cache_dir(cache_dir: str | os.PathLike[str] | None) -> None:
    """Cache the index of jieba's dictionary under ``cache_dir`` (``load_lexicon`` passes its
    own). Cheap: nothing is loaded until the first look-up."""
    global _cache_dir
    if cache_dir is not None:
        _cache_dir = cache_dir


def index() -> WordFreq:
    """The process-wide index of jieba's dictionary, loaded on first use."""
    global _index
    if _index is None:
        with _lock:
            if _index is None:
                _index = load_index(_cache_dir)
    return _index
