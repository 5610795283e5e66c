"""The ``medforget`` command: one module per subcommand (or pair of close ones), each with an
``add(commands)`` that declares its parser and sets ``run``. Choices and help that name sources,
methods or levels come from their registries. Heavy modules are imported inside the ``run``
functions, so ``--help`` answers at once."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from medforget import __version__
from medforget.cli import build, doctor, evaluate, export, leaderboard, ls, publish, submit, train, unlearn, validate
from medforget.errors import MedForgetError

#: the subcommands, in the order ``--help`` lists them (the pipeline's)
SUBCOMMANDS = (build, validate, export, train, unlearn, evaluate, submit, leaderboard, publish, ls, doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medforget", description="MedForget: hierarchy-aware multimodal unlearning benchmark for medical AI."
    )
    parser.add_argument("--version", action="version", version=f"medforget {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.run(args))
    except MedForgetError as err:
        print(f"medforget: error: {err}", file=sys.stderr)
        return 2


__all__ = ["build_parser", "main"]
