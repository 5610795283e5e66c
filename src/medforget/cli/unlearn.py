"""``medforget unlearn`` (one method at one level) and ``medforget sweep`` (every method at every level, evaluated)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medforget.cli.args import Choices, key_value
from medforget.registry import Registry


def add(commands: argparse._SubParsersAction) -> None:
    unlearn = commands.add_parser(
        "unlearn",
        help="unlearn one level's forget split from a model with a method of `medforget ls methods`",
        description="Run an unlearning method on a checkpoint (or a LoRA adapter) at one level of a built dataset. "
        "Gradient methods (those that train: `medforget ls methods`) train a LoRA adapter "
        "(or all weights with --param lora=false) with "
        "accelerate: run `accelerate launch -m medforget unlearn ...` for one or many GPUs. The others are "
        "training-free. The output is a checkpoint or adapter that `medforget eval --model` reads, with "
        "medforget_unlearning.json (method, hyperparameters, seed, data hashes, wall time).",
    )
    unlearn.add_argument(
        "--method",
        required=True,
        choices=Choices(_methods),
        metavar="METHOD",
        help="%(choices)s (`medforget ls methods` says what each is)",
    )
    unlearn.add_argument("--level", required=True, help="the level whose forget split is unlearned")
    unlearn.add_argument("--model", type=Path, required=True, metavar="PATH", help="the model to unlearn from")
    unlearn.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="a built dataset")
    unlearn.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the unlearned model goes")
    unlearn.add_argument(
        "--track",
        choices=("model", "tiny"),
        default="model",
        help="defaults for real checkpoints (model) or for the tiny track's CPU models (tiny)",
    )
    unlearn.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hyperparameter (repeatable), e.g. --param epochs=3 --param top_k_percent=5",
    )
    unlearn.add_argument("--seed", type=int, default=0)
    unlearn.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    unlearn.set_defaults(run=_run_unlearn)

    diagnose = commands.add_parser(
        "diagnose",
        help="why CHIP moves a model or does not: the forget answers' log-probability through its units",
        description="Measure, on a seeded sample of the level's forget and retain rows, the mean answer-token "
        "log-probability of the model as it is, with the units CHIP selects zeroed (what runs through them) and "
        "after CHIP's edit (what it removes of that). Nothing is written.",
    )
    diagnose.add_argument("--level", required=True, help="the level whose forget split CHIP edits")
    diagnose.add_argument("--model", type=Path, required=True, metavar="PATH", help="the model CHIP edits")
    diagnose.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="a built dataset")
    diagnose.add_argument("--track", choices=("model", "tiny"), default="model", help="as for `medforget unlearn`")
    diagnose.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a CHIP hyperparameter")
    diagnose.add_argument("--max-rows", type=int, default=200, help="rows measured per side (default 200)")
    diagnose.add_argument("--seed", type=int, default=0)
    diagnose.set_defaults(run=_run_diagnose)

    sweep = commands.add_parser(
        "sweep",
        help="unlearn with every method at every level and evaluate each, in one process",
        description="For each level: evaluate the target (and the level's retain model, as reference rows), then "
        "run each method on the target and evaluate what it saved, against the target's run (--before) and the "
        "level's retain model's (--retain: PrivLeak, forget quality, normalised knowledge). Writes "
        "MODELS/<method>-<level>/ and RUNS/{target,retain,<method>}/<level>/, then prints the table "
        "(also RUNS/table.md). Each step is "
        "`medforget unlearn` and `medforget eval`; one process loads torch and transformers once.",
    )
    sweep.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="a built dataset")
    sweep.add_argument("--target", type=Path, required=True, metavar="PATH", help="the model to unlearn from")
    sweep.add_argument(
        "--retain",
        default=None,
        metavar="PATTERN",
        help="the retain models, {level} in the path (e.g. models/tiny/retain-{level})",
    )
    sweep.add_argument(
        "--methods", nargs="+", required=True, metavar="METHOD", choices=Choices(_methods), help="%(choices)s"
    )
    sweep.add_argument("--levels", nargs="+", default=None, metavar="LEVEL", help="default: every level of the dataset")
    sweep.add_argument("--models", type=Path, required=True, metavar="DIR", help="where the unlearned models go")
    sweep.add_argument("--runs", type=Path, required=True, metavar="DIR", help="where the eval runs go")
    sweep.add_argument("--track", choices=("model", "tiny"), default="model", help="as for `medforget unlearn`")
    sweep.add_argument("--seed", type=int, default=0)
    sweep.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    sweep.set_defaults(run=_run_sweep)


def _methods() -> Registry[Any]:
    from medforget.unlearning.base import METHODS

    return METHODS


def _run_unlearn(args: argparse.Namespace) -> int:
    import dataclasses

    from medforget.unlearning.run import method_for, unlearn

    params = dict(key_value(p, "--param", "KEY=VALUE") for p in args.param)
    method = method_for(args.method, params, args.track)
    record = unlearn(method, args.level, args.model, args.dataset, args.out, seed=args.seed, threads=args.threads)
    settings = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(method).items())
    print(
        f"{method.name} at {args.level} on {args.model} -> {args.out} ({record['output']}) in {record['seconds']:.1f}s"
    )
    print(f"  {settings}")
    print("  " + ", ".join(f"{k}: {v}" for k, v in record["summary"].items() if not isinstance(v, dict)))
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    from medforget.dataset import read_manifest
    from medforget.evaluators.table import markdown
    from medforget.unlearning.sweep import Sweep, sweep

    levels = tuple(args.levels or read_manifest(args.dataset).targets)
    plan = Sweep(
        args.dataset,
        args.target,
        tuple(args.methods),
        levels,
        args.models,
        args.runs,
        retain=args.retain,
        track=args.track,
        seed=args.seed,
        threads=args.threads,
    )
    table = "\n".join(markdown(sweep(plan))) + "\n"
    (args.runs / "table.md").write_text(table, encoding="utf-8")
    print(table, end="")
    return 0


def _run_diagnose(args: argparse.Namespace) -> int:
    from medforget.unlearning.diagnose import diagnose_chip, table
    from medforget.unlearning.run import method_for

    config = method_for("chip", dict(key_value(item, "--param", "KEY=VALUE") for item in args.param), args.track)
    print("\n".join(table(diagnose_chip(args.model, args.dataset, args.level, config, args.seed, args.max_rows))))
    return 0
