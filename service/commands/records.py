"""``aigc-gateway records verify|export|purge|summary|restrict``: the records store offline.

Exit status: 0 success; 1 ``verify`` found tampering; 2 bad arguments, configuration, or a
missing or unreachable database. No command creates a database; ``verify``, ``export`` and
``summary`` open it read-only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.errors import ValidationFailed
from service.records.backends import redacted
from service.records.exporting import FORMATS, summary_markdown
from service.records.migrations import RECORD_KINDS
from service.records.recorder import Recorder, build_recorder

PROG = "aigc-gateway records"


def register(subparsers: argparse._SubParsersAction) -> None:
    # --config and --database go before or after the action
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="TOML config file (as for serve)"
    )
    common.add_argument(
        "--database",
        default=argparse.SUPPRESS,
        help="sqlite:///PATH or postgresql://... (as for serve)",
    )
    parser = subparsers.add_parser(
        "records",
        parents=[common],
        help="verify, export, summarise and purge compliance records",
        description="Work on the compliance records database (the one `serve` writes).",
    )
    sub = parser.add_subparsers(dest="records_command", metavar="ACTION", required=True)

    def action(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, parents=[common])

    verify = action("verify", "check the hash chains; exit 1 if a record was altered")
    verify.add_argument(
        "--anchors",
        nargs="?",
        const="",
        metavar="FILE",
        help="also check the signed anchors in FILE (default: the configured anchor file): "
        "a truncated or rewritten chain shows",
    )
    action("anchor", "take a signed anchor of the chain heads now (appended to the anchor file)")

    export = action("export", "export records as CSV or JSONL")
    _filters(export)
    export.add_argument("--format", choices=FORMATS, default="jsonl")
    export.add_argument("-o", "--output", default="-", help="output file (default stdout)")
    export.add_argument(
        "--include-restricted", action="store_true", help="include restricted records"
    )

    summary = action("summary", "counts by day, class, category and action")
    _filters(summary, kinds=False)
    summary.add_argument("--json", action="store_true", help="JSON instead of a Markdown table")

    purge = action("purge", "delete records past their retention period")
    purge.add_argument("--now", help="purge as of this ISO time (default: now)")

    restrict = action("restrict", "deletion request: restrict a user's records")
    restrict.add_argument("--tenant", required=True)
    restrict.add_argument("--user", required=True)

    parser.set_defaults(func=run)


def _filters(parser: argparse.ArgumentParser, *, kinds: bool = True) -> None:
    if kinds:
        parser.add_argument("--kind", help=f"comma-separated: {', '.join(RECORD_KINDS)}")
    parser.add_argument("--since", help="from this ISO date/time (UTC), inclusive")
    parser.add_argument("--until", help="to this ISO date/time (UTC), exclusive")
    parser.add_argument("--tenant", help="one tenant id")
    parser.add_argument("--user", help="one pseudonymous user id (access requests)")
    parser.add_argument("--category", help="category id or parent id (incidents)")


READ_ONLY = ("verify", "export", "summary", "anchor")


def run(args: argparse.Namespace) -> int:
    from service.config import ConfigError, load_settings

    try:
        settings = load_settings(
            config=getattr(args, "config", None), database=getattr(args, "database", None)
        )
        # no command creates a database; the read commands do not write to one either
        recorder = build_recorder(
            settings, read_only=args.records_command in READ_ONLY, create=False
        )
    except (ConfigError, ValueError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(recorder, args))
    except ValidationFailed as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


async def _run(recorder: Recorder, args: argparse.Namespace) -> int:
    try:
        await recorder.store.open()
    except Exception as exc:
        url = redacted(recorder.store.backend.url)
        print(
            f"{PROG}: cannot open the records database {url}: {redacted(str(exc))} "
            "(nothing was created; check --database or --config)",
            file=sys.stderr,
        )
        return 2
    try:
        return await _action(recorder, args)
    finally:
        await recorder.store.close()


async def _check_anchors(recorder: Recorder, path: str) -> list[Any]:
    from service.records.anchors import AnchorFile, check_anchors

    anchors = AnchorFile(Path(path)) if path else recorder.anchor_file
    lines = anchors.lines()
    if not lines:
        raise ValueError(f"no anchors in {anchors.path}")
    report, problems = await check_anchors(
        recorder.store,
        lines,
        recorder.anchor_key,
        retention_days=recorder.settings.retention_for,
        now=recorder.clock(),
    )
    for problem in problems:
        print(f"TAMPERED {problem}")
    print(
        f"{report.anchors} anchors in {anchors.path}, {report.checked} anchored records "
        f"checked ({report.purged} purged by retention), {len(problems)} problems",
        file=sys.stderr,
    )
    if report.unsigned:
        print(
            f"warning: {report.unsigned} anchors are unsigned (set [labels] signing and a key): "
            "whoever can edit the anchor file can forge them",
            file=sys.stderr,
        )
    return problems


async def _action(recorder: Recorder, args: argparse.Namespace) -> int:
    from service.routes.records_admin import record_filter

    command = args.records_command
    if command == "verify":
        checked, problems = await recorder.verify()
        for problem in problems:
            print(f"TAMPERED {problem}")
        print(f"{checked} records checked, {len(problems)} problems", file=sys.stderr)
        if args.anchors is not None:
            problems += await _check_anchors(recorder, args.anchors)
        waiting = recorder.writer.spool.files()
        if waiting:
            print(
                f"note: {len(waiting)} spool file(s) in {recorder.writer.spool.root} hold "
                "records not yet in the database; the gateway replays them when it starts",
                file=sys.stderr,
            )
        return 1 if problems else 0
    if command == "anchor":
        anchor = await recorder.anchor()
        print(json.dumps(anchor, ensure_ascii=False))
        print(f"anchor appended to {recorder.anchor_file.path}", file=sys.stderr)
        return 0
    if command == "purge":
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        print(json.dumps(await recorder.purge(now)))
        return 0
    if command == "restrict":
        count = await recorder.store.restrict_user(args.tenant, args.user, recorder.clock())
        print(f"{count} records restricted")
        return 0
    flt = record_filter(
        kind=getattr(args, "kind", None),
        since=args.since,
        until=args.until,
        tenant=args.tenant,
        category=args.category,
        include_restricted=getattr(args, "include_restricted", False),
        user=args.user,
    )
    if command == "summary":
        report = await recorder.summary(flt)
        sys.stdout.write(
            json.dumps(report, ensure_ascii=False, indent=2) + "\n"
            if args.json
            else summary_markdown(report)
        )
        return 0
    out: Any = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        async for chunk in recorder.export(flt, args.format):
            out.write(chunk)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
