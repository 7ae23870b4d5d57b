"""``aigc-gateway`` command line: one sub-command module each under ``service.commands``.

Each module exposes ``register(subparsers)``, which adds its parser(s) and sets ``func`` to a
callable ``(args) -> int`` (the exit code).

Only the module of the command being run is imported: ``aigc-gateway scan`` must not pay for
the web stack that ``serve`` needs (whole-process speed of the CLI, issue 14). The other
commands appear in ``--help`` through the one-line summaries below.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command -> (module that registers it, one-line help). Order is the order of ``--help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": (
        "service.commands.serve",
        "run the gateway (proxy, /moderate, /v1/moderations, /label, admin, metrics)",
    ),
    "scan": ("service.commands.scan", "scan a text file or stdin against the lexicons"),
    "lexicon": ("service.commands.lexicon", "lexicon tools: check, import, audit, diff, versions"),
    "label": ("service.commands.label", "add GB 45438 explicit and implicit labels to a file"),
    "inspect": (
        "service.commands.label",
        "read and validate the GB 45438 label of a file (JSON report)",
    ),
    "records": (
        "service.commands.records",
        "verify, export, summarise and purge compliance records",
    ),
    "assess": (
        "service.commands.assess",
        "run the TC260-003 §9 assessment (question banks) through the gateway",
    ),
    "bench": ("service.commands.bench", "load-test a gateway and run the benchmarks"),
}
#: Every command module, in ``--help`` order (a module may register several commands).
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser. With ``command``, only that command's module is imported and the
    others are listed by name and summary; without, every command module is imported."""
    parser = argparse.ArgumentParser(
        prog="aigc-gateway",
        description="Screen and label generative-AI traffic for mainland-China compliance.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="print the version")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if command is None:
        for name in COMMAND_MODULES:
            importlib.import_module(name).register(subparsers)
        return parser
    module = COMMANDS[command][0] if command in COMMANDS else None
    for name, (owner, summary) in COMMANDS.items():
        if name in subparsers.choices:
            continue  # registered with an earlier command of the same module
        if owner == module:
            importlib.import_module(module).register(subparsers)
        else:
            subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line (the first word not starting with '-')."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aigc-gateway")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``: the package metadata is read only when asked (it costs start-up time)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"aigc-gateway {_version()}")
        parser.exit()


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(args_list)
    parser = build_parser(command or "")
    args = parser.parse_args(args_list)
    status = int(args.func(args) or 0)
    if argv is None and getattr(args, "exit_now", False):  # the process is ours: end it now
        from service.commands.short_process import exit_now

        exit_now(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
