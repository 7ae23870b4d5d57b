"""``aigc-gateway bench``: load-test a deployment and run the library benchmarks.

``bench load`` is the load generator (``benchmarks.loadgen``); ``bench gateway``, ``matcher``,
``labelers``, ``records`` and ``http-clients`` hand their arguments to
``benchmarks.<name>.main`` (``-`` in a name becomes ``_`` in the module name).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

PASS_THROUGH = {
    "gateway": "fake upstream, gateway, pass-through floor and direct calls in one run",
    "matcher": "lexicon matcher throughput against other Aho-Corasick libraries",
    "labelers": "labelers throughput per media format",
    "records": "compliance records write throughput",
    "http-clients": "upstream HTTP clients side by side (httpx, httpx+aiohttp, aiohttp)",
    "classifier": "guard-model stage: parallel/before prompt checks, hold/async streams",
    "quality-recall": "matching recall per evasion family (default and opt-in folds)",
    "quality-precision": "false hits per MB of real Chinese text, per fold",
    "server": "connection limits: normal requests beside a slow-header flood",
}


def register(subparsers: Any) -> None:
    """Add the ``bench`` command and its sub-commands."""
    from benchmarks.loadgen import add_arguments

    parser = subparsers.add_parser(
        "bench",
        help="load-test a gateway and run the benchmarks",
        description="Benchmarks and the load generator; see docs/bench.md.",
    )
    commands = parser.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)
    load = commands.add_parser(
        "load",
        help="load-test a running gateway (throughput, latency, TTFT, blocks, labels)",
        description="Async load generator: closed loop (--concurrency) or open loop (--rate).",
    )
    add_arguments(load)
    load.set_defaults(func=_run_load)
    for name, summary in PASS_THROUGH.items():
        # prefix_chars no option can start with: every argument goes to the benchmark's own
        # parser, ``--help`` included.
        sub = commands.add_parser(name, help=summary, add_help=False, prefix_chars="\x00")
        sub.add_argument("args", nargs="*", help="arguments of benchmarks." + name)
        sub.set_defaults(func=_pass_through, benchmark=name)


def _run_load(args: argparse.Namespace) -> int:
    from benchmarks.loadgen import execute

    return execute(args)


def _pass_through(args: argparse.Namespace) -> int:
    module_name = "benchmarks." + args.benchmark.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(
            f"aigc-gateway bench {args.benchmark}: not available in this installation "
            f"({module_name} is missing)",
            file=sys.stderr,
        )
        return 2
    return int(module.main(list(args.args)) or 0)
