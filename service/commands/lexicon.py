"""``aigc-gateway lexicon check|import|audit|diff|versions``: bring, check, audit and compare
lexicons (docs/lexicons.md, "Bring your lexicon").

- ``check``: validate and report TC260-003 §8.1 coverage. Exit 0 floors met, 1 below, 2 invalid.
- ``import SOURCE... --out DIR``: public word lists -> a lexicon directory. Exit 0, 2 when a
  source cannot be read; the report of dropped terms goes to stderr or ``--report FILE``.
- ``audit DIR``: terms that fire on ordinary text. Exit 0 nothing flagged, 1 flagged, 2 error.
- ``diff OLD NEW``: terms and categories added/removed. Exit 0 same, 1 different, 2 error.
- ``versions [VERSION]``: the lexicon versions the service has loaded, or one's terms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lexicons import LexiconError, coverage_report, export_csv
from service.commands.scan import add_lexicon_arguments, load_cli_lexicon


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
    _register_import(sub)


def run_check(args: argparse.Namespace) -> int:
    try:
        lex = load_cli_lexicon(args)
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


def _register_import(sub: argparse._SubParsersAction) -> None:
    from lexicons.sources import FORMATS

    imp = sub.add_parser(
        "import",
        help="turn public word lists into a lexicon directory",
        description="Read word lists (files or directories) in the common public formats, map "
        "their category names to the taxonomy, normalise and deduplicate the terms, and write "
        "a lexicon directory. Exit 0 on success, 2 when a source cannot be read.",
    )
    imp.add_argument("sources", nargs="+", metavar="SOURCE", help="word list file or directory")
    imp.add_argument("--out", required=True, metavar="DIR", help="lexicon directory to write")
    imp.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="format of every source (default auto: recognised per file by its content)",
    )
    imp.add_argument(
        "--mapping",
        metavar="FILE",
        help="TOML file mapping source category names to category ids (looked up before "
        "the bundled default mapping)",
    )
    imp.add_argument(
        "--report",
        metavar="FILE",
        help="write the report (dropped terms and why) to FILE (.json: JSON) instead of stderr",
    )
    imp.add_argument("--force", action="store_true", help="replace DIR if it is not empty")
    imp.set_defaults(func=run_import)


def _progress(total: int, _start: int):
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(total=total, unit=" lines", unit_scale=True, file=sys.stderr, leave=False)
    return bar.update


def run_import(args: argparse.Namespace) -> int:
    from lexicons.importer import import_lexicon
    from lexicons.mapping import CategoryMapping
    from lexicons.sources import UnreadableSource

    prog = "aigc-gateway lexicon import"
    try:
        mapping = CategoryMapping.default(Path(args.mapping) if args.mapping else None)
        report = import_lexicon(
            [Path(s) for s in args.sources],
            Path(args.out),
            fmt=args.format,
            mapping=mapping,
            force=args.force,
            progress=_progress,
        )
    except UnreadableSource as exc:
        print(f"{prog}: cannot read {exc.path}: {exc.reason}", file=sys.stderr)
        return 2
    except LexiconError as exc:
        print(f"{prog}: bad mapping file: {exc}", file=sys.stderr)
        return 2
    except FileExistsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if args.report:
        data = report.to_json() if args.report.endswith(".json") else report.to_text()
        try:
            Path(args.report).write_text(data, encoding="utf-8")
        except OSError as exc:
            print(f"{prog}: cannot write {args.report}: {exc.strerror}", file=sys.stderr)
            return 2
        print(report.to_text().split("\ndropped:")[0], file=sys.stderr)
        print(f"dropped: {len(report.dropped)} (listed in {args.report})", file=sys.stderr)
    else:
        sys.stderr.write(report.to_text())
    return 0
