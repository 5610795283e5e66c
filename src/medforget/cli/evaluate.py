"""``medforget eval`` (score a model or predictions) and ``medforget table`` (a Markdown table of runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from medforget.cli.args import add_data_use, data_use
from medforget.errors import ConfigError

if TYPE_CHECKING:
    from medforget.evaluators.results import Results


def add(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="score a model or submitted predictions on a level's splits")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, metavar="PATH", help="a local image-text-to-text checkpoint")
    source.add_argument("--predictions", type=Path, metavar="FILE", help="JSONL of {id, prediction[, logprobs]}")
    source.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible base URL (key from OPENAI_API_KEY)")
    evaluate.add_argument("--endpoint-model", default=None, metavar="NAME", help="model name to ask the endpoint for")
    evaluate.add_argument("--dataset", type=Path, required=True, metavar="DIR")
    evaluate.add_argument(
        "--level", required=True, help="a target level of the dataset (its manifest's hierarchy.levels), or all"
    )
    evaluate.add_argument(
        "--out", type=Path, required=True, metavar="RUN", help="folder for results.json, predictions.jsonl"
    )
    evaluate.add_argument("--method", default="none", help="name of the unlearning method that made the model")
    evaluate.add_argument(
        "--before",
        type=Path,
        metavar="RUN",
        help="the eval run of the model before unlearning: enables sibling damage, utility retained",
    )
    evaluate.add_argument(
        "--retain",
        type=Path,
        metavar="RUN",
        help="the eval run of the level's retain model (never trained on its forget split): enables "
        "PrivLeak and forget quality, and with --before the normalised knowledge measures",
    )
    evaluate.add_argument("--no-reconstruction", action="store_true", help="skip the reconstruction attack")
    evaluate.add_argument(
        "--judge-endpoint",
        metavar="URL",
        default=None,
        help="an OpenAI-compatible base URL for the LLM judge (factuality 1-10 of generation rows)",
    )
    evaluate.add_argument(
        "--judge-model", metavar="NAME", default=None, help="model name to ask the judge endpoint for"
    )
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="score at most N rows of each split, a seeded sample (a quick look at a large model; "
        "recorded in results.json, refused by submit)",
    )
    add_data_use(evaluate)
    evaluate.set_defaults(run=_run_eval)
    table = commands.add_parser("table", help="a Markdown table of eval runs: headline metrics and unlearning time")
    table.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="--out folders of `medforget eval`")
    table.set_defaults(run=_run_table)


def _run_eval(args: argparse.Namespace) -> int:
    from medforget.dataset import read_manifest
    from medforget.evaluators.run import evaluate
    from medforget.models.adapters import EndpointAdapter, PredictionsFile, TransformersAdapter

    if args.endpoint and not args.endpoint_model:
        raise ConfigError("--endpoint needs --endpoint-model NAME")
    if bool(args.judge_endpoint) != bool(args.judge_model):
        raise ConfigError("--judge-endpoint and --judge-model go together")
    dataset_levels = list(read_manifest(args.dataset).targets)  # a wrong --dataset fails before a model loads
    levels = dataset_levels if args.level == "all" else [args.level]
    judge = None
    if args.judge_endpoint:
        from medforget.evaluators.judge import EndpointJudge

        judge = EndpointJudge(args.judge_endpoint, args.judge_model)
    adapter = (
        TransformersAdapter(args.model, batch_size=args.batch_size)
        if args.model
        else EndpointAdapter(args.endpoint, args.endpoint_model)
        if args.endpoint
        else PredictionsFile(args.predictions)
    )
    for level in levels:
        out = args.out / level if args.level == "all" else args.out
        before, retain = (run / level if run and args.level == "all" else run for run in (args.before, args.retain))
        results = evaluate(
            args.dataset,
            level,
            adapter,
            out,
            method=args.method,
            before=before,
            retain=retain,
            reconstruction=not args.no_reconstruction,
            judge=judge,
            data_use=data_use(args),
            limit=args.limit,
        )
        print("\n".join(_results_table(results)))
        failed = sum(m.failed or 0 for m in results.metrics if m.name == "llm_factuality")
        if failed:
            print(f"  warning: the judge failed on {failed} rows (left out of llm_factuality, not scored 0)")
    return 0


def _results_table(results: Results) -> list[str]:
    """Per split: the primary metric of each task and of all rows; then the headline numbers."""
    columns = (
        ("classification", "option_accuracy"),
        ("generation", "rouge_l"),
        ("cloze", "cloze_exact_match"),
        ("all", "primary"),
    )
    splits = list(dict.fromkeys(m.split for m in results.metrics if m.name == "primary"))
    lines = [
        f"{results.level} ({results.model})",
        f"{'split':<18}" + "".join(f"{t:>16}" for t, _ in columns) + f"{'n':>7}",
    ]
    for split in splits:
        values = [results.value(name, split, task) for task, name in columns]
        primary = results.find("primary", split)
        lines.append(
            f"{split:<18}"
            + "".join(f"{v:>16.3f}" if v is not None else f"{'':>16}" for v in values)
            + f"{primary.n if primary else 0:>7}"
        )
    headline = (
        "forget_retain_gap",
        "child_leak_rate",
        "sibling_damage",
        "utility_retained",
        "reconstruction_attack",
        "mia_auc_loss",
        "privleak_loss",
        "normalised_forget",
        "normalised_child_leak",
        "ks_statistic",
        "forget_quality",
    )
    shown = [
        f"{m.name} {m.value:.3f}"
        + (f" [{m.low:.3f}, {m.high:.3f}]" if m.low is not None and m.high is not None else "")
        + f" ({m.split}{'' if m.task == 'all' else ', ' + m.task})"
        for m in results.metrics
        if m.name in headline and m.value is not None
    ]
    return lines + [f"  {line}" for line in shown]


def _run_table(args: argparse.Namespace) -> int:
    from medforget.evaluators.table import markdown

    print("\n".join(markdown(args.runs)))
    return 0
