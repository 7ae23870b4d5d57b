"""``aigc-gateway`` command line: one sub-command module each under ``service.commands``.

Each module exposes ``register(subparsers)``, which adds its parser and sets ``func`` to a
callable ``(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order is the order of ``aigc-gateway --help``.
COMMAND_MODULES = (
    "service.commands.serve",
    "service.commands.scan",
    "service.commands.lexicon",
    "service.commands.label",
    "service.commands.records",
    "service.commands.assess",
    "service.commands.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aigc-gateway",
        description="Screen and label generative-AI traffic for mainland-China compliance.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
