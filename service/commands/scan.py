"""``aigc-gateway scan``: moderate a text file (or stdin) of any size from the terminal.

Prints one JSON line per match (original code-point offsets) on stdout and a summary on
stderr. Exit status: 0 nothing flagged, 1 something flagged, 2 error.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import sys
from pathlib import Path
from typing import BinaryIO

from lexicons import LexiconError, Match, load_lexicon

CHUNK_BYTES = 64 * 1024
ENV_LEXICONS = "AIGC_GATEWAY_LEXICONS"


def add_lexicon_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lexicons",
        metavar="DIR",
        action="append",
        default=None,
        help="lexicon directory (repeatable; default: $AIGC_GATEWAY_LEXICONS, else the bundled "
        "sample lexicon)",
    )


def lexicon_dirs(args: argparse.Namespace) -> list[str]:
    """--lexicons, else AIGC_GATEWAY_LEXICONS (os.pathsep-separated), else none (bundled)."""
    if args.lexicons:
        return list(args.lexicons)
    env = os.environ.get(ENV_LEXICONS, "")
    return [d for d in env.split(os.pathsep) if d]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="scan a text file or stdin against the lexicons",
        description="Scan a UTF-8 text file (or - for stdin) against the lexicons; print one "
        "JSON line per match. Exit 0 when nothing is flagged, 1 when something is, 2 on error.",
    )
    add_lexicon_arguments(parser)
    parser.add_argument("file", metavar="FILE", help="text file to scan, or - for stdin")
    parser.set_defaults(func=run)


def _match_line(m: Match, lex_taxonomy) -> str:
    row = m.to_dict()
    cat = lex_taxonomy.get(m.category)
    row["category_name"] = cat.name_zh if cat else m.category
    return json.dumps(row, ensure_ascii=False)


def _scan(stream: BinaryIO, lex) -> int:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    scanner = lex.stream()
    count = 0
    first = True
    out = sys.stdout
    while True:
        data = stream.read(CHUNK_BYTES)
        final = not data
        text = decoder.decode(data, final=final)
        if first and text.startswith("\ufeff"):
            text = text[1:]  # a BOM is not content; offsets count from the first character
        if text:
            first = False
        result = scanner.flush() if final else scanner.feed(text)
        for m in result.matches:
            out.write(_match_line(m, lex.taxonomy) + "\n")
            count += 1
        if final:
            break
    out.flush()
    return count


def run(args: argparse.Namespace) -> int:
    try:
        lex = load_lexicon([Path(d) for d in lexicon_dirs(args)])
    except LexiconError as exc:
        print(f"aigc-gateway scan: lexicon error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.file == "-":
            count = _scan(sys.stdin.buffer, lex)
        else:
            with open(args.file, "rb") as fh:
                count = _scan(fh, lex)
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        print(f"aigc-gateway scan: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"aigc-gateway scan: {args.file} is not valid UTF-8 ({exc.reason})", file=sys.stderr)
        return 2
    status = "flagged" if count else "clean"
    print(
        f"{status}: {count} match(es); lexicon {lex.version}, {lex.term_count} terms",
        file=sys.stderr,
    )
    return 1 if count else 0
