"""``medforget ls [KIND]``: what each registry holds, in declaration order, a line each; with
``--names``, the names alone on one line (the Makefile's method list comes from it)."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from medforget.registry import Registry

#: kind -> (module, registry attribute): imported only when listed
KINDS = {
    "sources": ("medforget.builders.base", "BUILDERS"),
    "qa-generators": ("medforget.qa.base", "QA_GENERATORS"),
    "checks": ("medforget.schemas.checks", "CHECKS"),
    "metrics": ("medforget.evaluators.metrics", "METRICS"),
    "whitebox-metrics": ("medforget.evaluators.whitebox", "WHITEBOX_METRICS"),
    "hierarchy-metrics": ("medforget.evaluators.hierarchy_metrics", "HIERARCHY_METRICS"),
    "judge-metrics": ("medforget.evaluators.judge", "JUDGE_METRICS"),
    "methods": ("medforget.unlearning.base", "METHODS"),
    "families": ("medforget.models.families", "FAMILIES"),
}


def registry(kind: str) -> Registry[Any]:
    module, attribute = KINDS[kind]
    found: Registry[Any] = getattr(importlib.import_module(module), attribute)
    return found


def add(commands: argparse._SubParsersAction) -> None:
    ls = commands.add_parser("ls", help="list what each registry holds (sources, checks, metrics, methods, ...)")
    ls.add_argument(
        "kind", nargs="?", choices=tuple(KINDS), metavar="KIND", help=f"one of {', '.join(KINDS)} (default: every kind)"
    )
    ls.add_argument("--names", action="store_true", help="only the names, space-separated, on one line")
    ls.set_defaults(run=_run_ls)


def _run_ls(args: argparse.Namespace) -> int:
    if args.names:
        if args.kind is None:
            raise SystemExit("medforget ls: --names needs a KIND")
        print(" ".join(registry(args.kind).names()))
        return 0
    for kind in [args.kind] if args.kind else KINDS:
        entries = registry(kind).describe()
        width = max(len(name) for name, _ in entries)
        print(f"{kind}:")
        for name, text in entries:
            print(f"  {name:<{width}}  {text}")
            if options := _options(registry(kind).get(name)):
                print(f"  {'':<{width}}  options: {options}")
    return 0


def _options(entry: Any) -> str:
    """A source's options (its ``Options`` dataclass), by name."""
    import dataclasses

    kind = getattr(entry, "Options", None)
    return ", ".join(f.name for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else ""
