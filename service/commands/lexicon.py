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
import os
import sys
from pathlib import Path

from lexicons import LexiconError, coverage_report, export_csv
from service.commands.scan import add_lexicon_arguments, lexicon_cache_dir, load_cli_lexicon


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
    _register_audit(sub)
    _register_diff(sub)


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


class _ProgressBar:
    """tqdm on a terminal (stderr is a tty), nothing otherwise."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, total: int, _start: int):
        if not sys.stderr.isatty():
            return None
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit=" lines", unit_scale=True, file=sys.stderr, leave=False)
        return self.bar.update

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_import(args: argparse.Namespace) -> int:
    from lexicons.importer import import_lexicon
    from lexicons.mapping import CategoryMapping
    from lexicons.sources import UnreadableSource

    prog = "aigc-gateway lexicon import"
    bar = _ProgressBar()
    try:
        mapping = CategoryMapping.default(Path(args.mapping) if args.mapping else None)
        report = import_lexicon(
            [Path(s) for s in args.sources],
            Path(args.out),
            fmt=args.format,
            mapping=mapping,
            force=args.force,
            progress=bar,
            cache_dir=lexicon_cache_dir(),
        )
        bar.close()
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


ENV_DATA_DIR = "AIGC_GATEWAY_DATA_DIR"


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the service's data directory, whose lexicon-versions/ holds the manifests "
        "(default: $AIGC_GATEWAY_DATA_DIR, else ./var)",
    )


def _store(args: argparse.Namespace):
    from lexicons.history import ManifestStore

    data_dir = args.data_dir or os.environ.get(ENV_DATA_DIR) or "var"
    return ManifestStore(Path(data_dir) / "lexicon-versions")


def _register_diff(sub: argparse._SubParsersAction) -> None:
    diff = sub.add_parser(
        "diff",
        help="terms and categories added or removed between two lexicons",
        description="Compare two lexicons, each a lexicon directory, a lexicon version "
        "(sha256:...) recorded by the service, or a manifest file. Exit 0 when they are the "
        "same, 1 when they differ, 2 on error.",
    )
    diff.add_argument("old", metavar="OLD", help="directory, version or manifest file")
    diff.add_argument("new", metavar="NEW", help="directory, version or manifest file")
    diff.add_argument("--json", action="store_true", help="print the diff as JSON")
    _add_data_dir(diff)
    diff.set_defaults(func=run_diff)
    versions = sub.add_parser(
        "versions",
        help="lexicon versions the service has loaded, or the terms of one",
        description="List the lexicon versions whose manifests the service recorded (newest "
        "load first), or, given VERSION, print the terms that version held (TSV: term, "
        "category, action, severity, match). Exit 2 when VERSION is unknown.",
    )
    versions.add_argument("version", nargs="?", metavar="VERSION", help="e.g. sha256:0123...")
    versions.add_argument("--json", action="store_true", help="print JSON")
    _add_data_dir(versions)
    versions.set_defaults(func=run_versions)


def _manifest(arg: str, args: argparse.Namespace):
    from lexicons.history import manifest_of, read_manifest

    path = Path(arg)
    if path.is_dir():
        lex = load_cli_lexicon(argparse.Namespace(lexicons=[arg]))
        return manifest_of(lex, [path])
    if path.is_file():
        return read_manifest(path)
    manifest = _store(args).get(arg)
    if manifest is None:
        raise LookupError(
            f"{arg!r} is neither a directory, a manifest file nor a version recorded in "
            f"{_store(args).root}"
        )
    return manifest


def run_diff(args: argparse.Namespace) -> int:
    import json

    from lexicons.history import diff

    prog = "aigc-gateway lexicon diff"
    try:
        old, new = _manifest(args.old, args), _manifest(args.new, args)
    except LexiconError as exc:
        print(f"{prog}: invalid lexicon: {exc}", file=sys.stderr)
        return 2
    except (LookupError, OSError, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    result = diff(old, new)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        sys.stdout.write(result.to_text())
    return 0 if result.empty else 1


def run_versions(args: argparse.Namespace) -> int:
    import json

    store = _store(args)
    if args.version is None:
        rows = store.versions()
        if args.json:
            print(json.dumps([v.to_dict() for v in rows], ensure_ascii=False, indent=1))
            return 0
        if not rows:
            print(f"no lexicon versions recorded in {store.root}", file=sys.stderr)
        for v in rows:
            sources = ", ".join(v.sources) or "(bundled sample)"
            print(
                f"{v.version}\t{v.term_count} terms\tfirst {v.first_loaded}\t"
                f"last {v.last_loaded}\t{sources}"
            )
        return 0
    manifest = store.get(args.version)
    if manifest is None:
        print(
            f"aigc-gateway lexicon versions: {args.version} is not recorded in {store.root}",
            file=sys.stderr,
        )
        return 2
    if args.json:
        print(json.dumps(manifest.to_dict(), ensure_ascii=False))
        return 0
    out = sys.stdout
    for r in manifest.terms:
        out.write(f"{r.term}\t{r.category}\t{r.action}\t{r.severity}\t{r.match}\n")
    return 0


def _register_audit(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser(
        "audit",
        help="find terms that fire on ordinary text (false blocks) before going live",
        description="Run the lexicon DIR over ordinary text (--corpus: your logs, public text) "
        "and over jieba's frequency dictionary; list the terms that fire, ranked by hits per "
        "MB, with contexts and a suggestion (drop, allow-list phrase, match=word, review). "
        "Exit 0 nothing flagged, 1 terms flagged, 2 error.",
    )
    audit.add_argument("directory", metavar="DIR", help="lexicon directory")
    audit.add_argument(
        "--corpus",
        action="append",
        default=[],
        metavar="FILE",
        help="UTF-8 text of ordinary content (repeatable)",
    )
    audit.add_argument(
        "--out", metavar="FILE", help="write the report to FILE (.md, .csv or .json)"
    )
    audit.add_argument(
        "--format",
        choices=("md", "csv", "json"),
        help="report format (default: from the --out extension, else md)",
    )
    audit.add_argument(
        "--no-dictionary",
        action="store_true",
        help="do not check the terms against jieba's frequency dictionary",
    )
    audit.set_defaults(func=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    from lexicons.audit import audit_lexicon

    prog = "aigc-gateway lexicon audit"
    if args.corpus == [] and args.no_dictionary:
        print(
            f"{prog}: nothing to audit against (give --corpus or drop --no-dictionary)",
            file=sys.stderr,
        )
        return 2
    fmt = args.format
    if fmt is None and args.out:
        fmt = {".csv": "csv", ".json": "json"}.get(Path(args.out).suffix.lower(), "md")
    try:
        lex = load_cli_lexicon(argparse.Namespace(lexicons=[args.directory]))
        report = audit_lexicon(
            lex, [Path(c) for c in args.corpus], dictionary=not args.no_dictionary
        )
    except LexiconError as exc:
        print(f"{prog}: invalid lexicon: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"{prog}: a corpus is not valid UTF-8 ({exc.reason})", file=sys.stderr)
        return 2
    data = {"csv": report.to_csv, "json": report.to_json}.get(fmt or "md", report.to_markdown)()
    if args.out:
        try:
            Path(args.out).write_text(data, encoding="utf-8")
        except OSError as exc:
            print(f"{prog}: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return 2
        print(
            f"{len(report.findings)} term(s) flagged of {report.terms}; report in {args.out}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(data)
    return 1 if report.findings else 0
