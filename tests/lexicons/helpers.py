"""Shared helpers for the lexicons tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lexicons import Lexicon, Match, load_lexicon

ROOT = Path(__file__).resolve().parents[2]


def run_python(
    code: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in a fresh interpreter from the repository root (what a process
    imports, caches or prints), its output as text."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def write_lexicon(root: Path, files: dict[str, str]) -> Path:
    """Write ``{filename: content}`` into ``root`` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).write_text(content, encoding="utf-8")
    return root


def lexicon_from(root: Path, files: dict[str, str], **kwargs) -> Lexicon:
    return load_lexicon([write_lexicon(root, files)], **kwargs)


def spans(matches: list[Match]) -> list[tuple[str, int, int, str]]:
    return [(m.term, m.start, m.end, m.text) for m in matches]


def stream_all(lex: Lexicon, parts: list[str], mask=None) -> tuple[str, list[Match]]:
    """Feed ``parts`` to a new stream scanner; return (released text, matches)."""
    scanner = lex.stream(mask=mask)
    outs = [scanner.feed(p) for p in parts] + [scanner.flush()]
    return "".join(o.text for o in outs), [m for o in outs for m in o.matches]
