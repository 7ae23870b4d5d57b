"""``aigc-gateway scan``: moderate a text file (or stdin) of any size from the terminal.

Prints one JSON line per match (original code-point offsets) on stdout and a summary on
stderr. Exit status: 0 nothing flagged, 1 something flagged, 2 error.

The file is read in pieces of a few MiB, each scanned one-shot (``lexicons.bulk``), so any
size runs in bounded memory at one-shot speed. The compiled lexicon and the normalisation
tables are cached in the user cache directory (``lexicon_cache_dir``), as the service caches
them under its data directory, so a second run loads them instead of building them. The process
is tuned as a short one (``short_process``: one OpenBLAS thread, freed memory kept, no
interpreter teardown) and loads only what one-shot scans need (``one_shot``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from lexicons import Lexicon

ENV_LEXICONS = "AIGC_GATEWAY_LEXICONS"
#: The same variable the service reads for its ``lexicon_cache_dir`` setting.
ENV_CACHE_DIR = "AIGC_GATEWAY_LEXICON_CACHE_DIR"


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


def lexicon_cache_dir() -> Path:
    """Where CLI commands cache compiled lexicons: $AIGC_GATEWAY_LEXICON_CACHE_DIR, else
    ``lexicons`` in the user cache directory (``~/.cache/aigc-gateway`` on Linux)."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("aigc-gateway")) / "lexicons"


def load_cli_lexicon(args: argparse.Namespace) -> Lexicon:
    """The lexicon named by --lexicons / $AIGC_GATEWAY_LEXICONS, through the on-disk cache
    (an unusable cache directory only costs a compile), for one-shot scans."""
    from lexicons import load_lexicon

    dirs = [Path(d) for d in lexicon_dirs(args)]
    return load_lexicon(dirs, cache_dir=lexicon_cache_dir(), one_shot=True)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="scan a text file or stdin against the lexicons",
        description="Scan a UTF-8 text file (or - for stdin) against the lexicons; print one "
        "JSON line per match. Exit 0 when nothing is flagged, 1 when something is, 2 on error.",
    )
    add_lexicon_arguments(parser)
    parser.add_argument("file", metavar="FILE", help="text file to scan, or - for stdin")
    parser.set_defaults(func=run, exit_now=True)


def _scan(stream: BinaryIO, lex: Lexicon) -> int:
    import orjson

    from lexicons.bulk import scan_pieces

    names = {c.id: c.name_zh for c in lex.taxonomy}
    out = sys.stdout.buffer
    sys.stdout.flush()
    dumps = orjson.dumps
    count = 0
    for base, matches in scan_pieces(lex, stream):
        lines = [
            dumps(
                {
                    "term": m.term,
                    "category": m.category,
                    "start": m.start + base,
                    "end": m.end + base,
                    "text": m.text,
                    "action": m.action,
                    "severity": m.severity,
                    "variant": m.variant,
                    "category_name": names.get(m.category, m.category),
                }
            )
            for m in matches
        ]
        lines.append(b"")
        out.write(b"\n".join(lines))
        count += len(matches)
    out.flush()
    return count


def run(args: argparse.Namespace) -> int:
    from service.commands import short_process

    short_process.prepare()
    from lexicons import LexiconError

    try:
        lex = load_cli_lexicon(args)
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
