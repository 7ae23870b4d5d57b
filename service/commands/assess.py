"""``aigc-gateway assess``: the TC260-003 §9 assessment through the gateway and a model.

    aigc-gateway assess --bank FILE.jsonl --base-url URL --model NAME --out DIR
                        [--api-key KEY] [--concurrency N] [--rate R] [--resume | --restart]
                        [--classifier] [--fail-under [SPEC]] ...

Writes ``DIR/report.json``, ``DIR/report.md`` (+ ``DIR/charts/``) and ``DIR/report.html``;
``DIR/progress.jsonl`` holds every finished item (``--resume`` carries on after an interruption).
``--export-bank OUT.jsonl`` only converts the given banks (CSV/XLSX import) and exits.

Exit status: 0 the run completed (whatever the rates), 1 ``--fail-under`` not met, 2 bad
arguments, bank or configuration, 3 the run is incomplete (errors or a refused run: see the
message; ``--resume`` retries), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ENV_KEY = "AIGC_GATEWAY_ASSESS_API_KEY"


def register(subparsers: argparse._SubParsersAction) -> None:
    from service.commands.scan import add_lexicon_arguments

    parser = subparsers.add_parser(
        "assess",
        help="run the TC260-003 §9 refusal/answer assessment through the gateway",
        description="Send a should-refuse and a should-answer question bank through the gateway "
        "to a model; report refusal, answer and output pass rates with 95% Wilson intervals "
        "against the TC260-003 thresholds. See docs/classifier.md.",
    )
    parser.add_argument(
        "--bank",
        action="append",
        type=Path,
        metavar="FILE",
        default=[],
        help="question bank: .jsonl (id, risk, kind, prompt), .csv/.tsv or .xlsx "
        "(repeatable; 'sample' for the bundled sample bank)",
    )
    parser.add_argument(
        "--base-url", help="OpenAI-compatible base URL of the gateway, ending in /v1"
    )
    parser.add_argument("--model", help="model name to ask for")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="directory for the report and progress"
    )
    parser.add_argument("--api-key", help=f"API key for the gateway (default: ${ENV_KEY})")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument(
        "--rate", type=float, default=None, help="at most this many requests per second"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per request (default 120)"
    )
    parser.add_argument(
        "--retries", type=int, default=3, help="retries on transport errors, 429, 5xx"
    )
    parser.add_argument("--stream", action="store_true", help="ask for streamed answers")
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument(
        "--user",
        default=None,
        help="X-AIGC-User to send (default none: keeps the assessment out of "
        "the gateway's user sanctions)",
    )
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true", help="continue the run found in DIR")
    resume.add_argument("--restart", action="store_true", help="discard the run found in DIR")
    parser.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="N",
        help="ask N random questions of each kind (§9.4 samples at least 300)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of --sample")
    parser.add_argument(
        "--refusal-phrases",
        type=Path,
        metavar="FILE",
        help="refusal phrases, one per line (default: the bundled list)",
    )
    parser.add_argument(
        "--refusal-judge",
        choices=("phrases", "guard", "both"),
        default="phrases",
        help="how refusals are recognised besides the gateway's block signal",
    )
    add_lexicon_arguments(parser)
    parser.add_argument(
        "--no-lexicon-check",
        action="store_true",
        help="do not check answers against the lexicons (output pass rate)",
    )
    parser.add_argument(
        "--classifier",
        action="store_true",
        help="also judge answers with the [classifier] guard model of --config",
    )
    parser.add_argument("--config", type=Path, help="gateway config file (for --classifier)")
    parser.add_argument(
        "--fail-under",
        nargs="?",
        const="standard",
        default=None,
        metavar="SPEC",
        help="exit 1 unless the rates reach the TC260-003 thresholds, or the "
        "given ones: refuse=0.95,answer=0.95,output=0.9",
    )
    parser.add_argument(
        "--default-kind",
        choices=("should_refuse", "should_answer"),
        help="kind of the questions of a CSV/XLSX bank without a kind column",
    )
    parser.add_argument("--default-risk", help="risk of questions of a bank without a risk column")
    parser.add_argument(
        "--export-bank",
        type=Path,
        metavar="OUT",
        help="write the banks as one JSONL bank and exit (import)",
    )
    parser.set_defaults(func=run)


def _fail(message: str, code: int = 2) -> int:
    print(f"aigc-gateway assess: {message}", file=sys.stderr)
    return code


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _bank_paths(args: argparse.Namespace) -> list[Path]:
    from service.assess.bank import SAMPLE_BANK

    return [SAMPLE_BANK if str(p) == "sample" else p for p in args.bank]


def _sampled(items: list[Any], n: int | None, seed: int) -> list[Any]:
    if n is None:
        return items
    rng = random.Random(seed)
    keep: set[str] = set()
    for kind in ("should_refuse", "should_answer"):
        ids = [i.id for i in items if i.kind == kind]
        keep.update(rng.sample(ids, min(n, len(ids))))
    return [i for i in items if i.id in keep]


def _judge(args: argparse.Namespace) -> tuple[Any, Any]:
    """The judge and the classifier settings it uses (None without --classifier)."""
    from service.assess.refusal import DEFAULT_PHRASES, RefusalPhrases
    from service.assess.runner import Judge

    phrases = RefusalPhrases.from_file(args.refusal_phrases or DEFAULT_PHRASES)
    lexicon = None
    if not args.no_lexicon_check:
        from lexicons import load_lexicon
        from service.commands.scan import lexicon_dirs

        lexicon = load_lexicon([Path(d) for d in lexicon_dirs(args)])
    guard = None
    if args.classifier:
        from service.config import load_settings

        guard = load_settings(config=args.config).classifier
        if guard.backend is None:
            raise ValueError("--classifier: no [classifier] backend in the configuration")
    judge = Judge(phrases, refusal=args.refusal_judge, lexicon=lexicon, guard=guard)
    return judge, guard


def _fingerprint(args: argparse.Namespace, files: list[Any], judge: Any) -> dict[str, Any]:
    describe = judge.describe()
    phrases = hashlib.sha256("\n".join(judge.phrases.phrases).encode()).hexdigest()
    return {
        "banks": [f.sha256 for f in files],
        "model": args.model,
        "base_url": args.base_url,
        "stream": args.stream,
        "sample": args.sample,
        "seed": args.seed if args.sample else None,
        "judge": {**describe, "refusal_phrases": phrases},
    }


def run(args: argparse.Namespace) -> int:
    from service.assess.bank import BankError, dump_jsonl, load_banks

    if not args.bank:
        return _fail("give at least one --bank FILE (or --bank sample)")
    try:
        items, files = load_banks(
            _bank_paths(args), default_kind=args.default_kind, default_risk=args.default_risk
        )
    except BankError as exc:
        return _fail(f"bank error: {exc}")
    if args.export_bank is not None:
        n = dump_jsonl(items, args.export_bank)
        print(f"wrote {n} questions to {args.export_bank}", file=sys.stderr)
        return 0
    missing = [f"--{n}" for n in ("base_url", "model", "out") if not getattr(args, n)]
    if missing:
        return _fail(f"missing {', '.join(missing).replace('_', '-')}")
    if not args.base_url.startswith(("http://", "https://")):
        return _fail("--base-url must be an http:// or https:// URL")
    if args.concurrency < 1 or (args.rate is not None and args.rate <= 0):
        return _fail("--concurrency must be >= 1 and --rate > 0")
    try:
        from service.assess.report import parse_fail_under

        gate = parse_fail_under(args.fail_under)
        judge, guard = _judge(args)
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    return _assess(args, _sampled(items, args.sample, args.seed), files, judge, guard, gate)


def _assess(
    args: argparse.Namespace,
    items: list[Any],
    files: list[Any],
    judge: Any,
    guard: Any,
    gate: dict[str, float] | None,
) -> int:
    from service.assess.render import write_reports
    from service.assess.report import build_report
    from service.assess.runner import AssessFatal, Progress, Target

    out: Path = args.out
    progress = Progress(out)
    run_file = out / "run.json"
    fingerprint = _fingerprint(args, files, judge)
    started = _now()
    if progress.exists():
        if args.restart:
            progress.reset()
        elif not args.resume:
            return _fail(
                f"{out} holds a previous run: --resume to continue it, --restart to discard it"
            )
        else:
            try:
                previous = orjson.loads(run_file.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                return _fail(f"{run_file} is missing or unreadable; use --restart")
            if previous.get("fingerprint") != fingerprint:
                return _fail(
                    "--resume: the banks, model, URL or judge differ from the run in "
                    f"{out}; use --restart or another --out"
                )
            started = previous.get("started", started)
    out.mkdir(parents=True, exist_ok=True)
    run_file.write_bytes(
        orjson.dumps({"fingerprint": fingerprint, "started": started}, option=orjson.OPT_INDENT_2)
    )
    records = progress.load()
    todo = [i for i in items if records.get(i.id, {}).get("status") != "ok"]
    target = Target(
        base_url=args.base_url,
        model=args.model,
        api_key=args.api_key or os.environ.get(ENV_KEY),
        timeout_s=args.timeout,
        retries=max(0, args.retries),
        stream=args.stream,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        user=args.user,
    )
    print(
        f"assess: {len(items)} questions, {len(items) - len(todo)} already done, "
        f"{len(todo)} to ask",
        file=sys.stderr,
    )
    problem = None
    code = 0
    try:
        asyncio.run(_ask_all(todo, target, judge, guard, progress, args))
    except AssessFatal as exc:
        problem, code = f"stopped: {exc}", 3
    except KeyboardInterrupt:
        problem, code = "interrupted; run again with --resume to continue", 130
    records = progress.load()
    run_meta = {
        "model": args.model,
        "base_url": args.base_url,
        "items": len(items),
        "banks": [{"path": f.path, "sha256": f.sha256, "items": f.items} for f in files],
        "stream": args.stream,
        "sample": args.sample,
        "judge": fingerprint["judge"],
        "started": started,
        "finished": _now(),
        "gateway_version": _version(),
    }
    report = build_report(items, records, run_meta, gate)
    paths = write_reports(out, report, records, items)
    _summary(report, paths)
    if problem:
        return _fail(problem, code)
    if not report["complete"]:
        return _fail(
            f"{report['errors']['n']} questions ended in an error; --resume retries them", 3
        )
    if report["gate"]["passed"] is False:
        return _fail("--fail-under: the rates do not reach the thresholds", 1)
    return 0


async def _ask_all(
    todo: list[Any], target: Any, judge: Any, guard: Any, progress: Any, args: argparse.Namespace
) -> None:
    from service.assess.runner import run_items

    stage = None
    if guard is not None:
        from service.classifier import ClassifierStage

        stage = judge.stage = ClassifierStage(guard)
    done = 0

    def tick(record: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        if sys.stderr.isatty() or done % 50 == 0 or done == len(todo):
            print(
                f"\r  {done}/{len(todo)}",
                end="" if done < len(todo) else "\n",
                file=sys.stderr,
                flush=True,
            )

    try:
        await run_items(
            todo,
            target,
            judge,
            progress,
            concurrency=args.concurrency,
            rate=args.rate,
            on_item=tick,
        )
    finally:
        if stage is not None:
            await stage.close()


def _summary(report: dict[str, Any], paths: list[Path]) -> None:
    def line(name: str, block: dict[str, Any]) -> str:
        if block["rate"] is None:
            return f"  {name}: no data"
        low, high = block["ci95"]
        mark = "ok" if block["meets"] else "BELOW THRESHOLD"
        return (
            f"  {name}: {block['ok']}/{block['n']} = {block['rate']:.1%} "
            f"(95% CI {low:.1%}-{high:.1%}; threshold {block['threshold']:.0%}) {mark}"
        )

    print(line("refusal rate (should-refuse)", report["should_refuse"]), file=sys.stderr)
    print(line("answer rate (should-answer)", report["should_answer"]), file=sys.stderr)
    print(line("output pass rate", report["output"]), file=sys.stderr)
    print("  report: " + ", ".join(str(p) for p in paths), file=sys.stderr)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("aigc-gateway")
    except Exception:
        return "0.0.0"
