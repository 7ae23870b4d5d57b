"""``aigc-gateway lexicon check``: validate lexicons and report TC260-003 §8.1 coverage.

Exit status: 0 valid and the floors hold, 1 valid but below the floors, 2 invalid (the error
names file, line and reason).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lexicons import LexiconError, coverage_report, export_csv, load_lexicon
from service.commands.scan import add_lexicon_arguments, lexicon_dirs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lexicon", help="lexicon tools", description="Lexicon tools.")
    sub = parser.add_subparsers(dest="lexicon_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help="validate lexicons and report coverage against the TC260-003 §8.1 floors",
        description="Validate lexicon directories and report term counts per TC260-003 "
        "Appendix A risk against the §8.1 floors. Exit 0 floors met, 1 below, 2 invalid.",
    )
    add_lexicon_arguments(check)
    check.add_argument(
        "--csv",
        metavar="OUT",
        help="also export the keyword list by category as CSV to OUT (- for stdout)",
    )
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    try:
        lex = load_lexicon([Path(d) for d in lexicon_dirs(args)])
    except LexiconError as exc:
        print(f"aigc-gateway lexicon check: invalid lexicon: {exc}", file=sys.stderr)
        return 2
    report = coverage_report(lex)
    if args.csv:
        data = export_csv(lex)
        if args.csv == "-":
            sys.stdout.write(data)
        else:
            try:
                Path(args.csv).write_text(data, encoding="utf-8")
            except OSError as exc:
                print(
                    f"aigc-gateway lexicon check: cannot write {args.csv}: {exc}", file=sys.stderr
                )
                return 2
    out = sys.stderr if args.csv == "-" else sys.stdout
    print(f"lexicon {lex.version}: {lex.term_count} terms, valid", file=out)
    print(report.to_text(), file=out)
    return 0 if report.ok else 1
