"""``medforget validate``: prove a built dataset's splits leak-free."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser(
        "validate",
        help="prove a built dataset's splits leak-free (exit 0: all checks pass, 1: a check fails)",
        description="Run every leak check on a dataset folder and print one line per check. A failure names the "
        "config, split and offending ids. Writes validation.html (self-contained) and validation.json into DIR.",
    )
    validate.add_argument("dataset", type=Path, metavar="DIR", help="a folder written by `medforget build`")
    validate.add_argument("--json", action="store_true", help="print the machine-readable report instead")
    validate.add_argument("--no-report", action="store_true", help="do not write validation.html/.json into DIR")
    validate.set_defaults(run=_run_validate)


def _run_validate(args: argparse.Namespace) -> int:
    import json

    from medforget.schemas.validate import validate_folder

    report = validate_folder(args.dataset, write_reports=not args.no_report)
    print(json.dumps(report.to_json(), indent=2) if args.json else "\n".join(report.lines()))
    return 0 if report.passed else 1
