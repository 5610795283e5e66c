"""``medforget train``: a reference model (the tiny track on CPU, or LoRA on a checkpoint)."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget.errors import ConfigError


def add(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train",
        help="train a reference model: the tiny track on CPU, or LoRA on a real checkpoint (--base-model)",
        description="Without --base-model: a tiny LLaVA from scratch, on CPU. With --base-model: the LoRA protocol "
        "(rank 16, alpha 16, dropout 0.05, AdamW 1e-4, language-model linears, vision frozen); run it under "
        "`accelerate launch -m medforget train ...` for one or many GPUs, bf16, gradient accumulation.",
    )
    train.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="a built dataset (the tiny preset)")
    train.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the checkpoint goes")
    train.add_argument(
        "--without", metavar="LEVEL", default=None, help="train a retain model: leave out this level's forget split"
    )
    train.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's)")
    train.add_argument("--seed", type=int, default=None, help="seed of initial weights and batch order")
    train.add_argument(
        "--threads", type=int, default=None, help="CPU threads of the tiny track (default: the recipe's, 2)"
    )
    train.add_argument(
        "--base-model",
        type=Path,
        default=None,
        metavar="PATH",
        help="a local image-text-to-text checkpoint to fine-tune with LoRA",
    )
    train.add_argument(
        "--base",
        type=Path,
        default=None,
        metavar="PATH",
        help="a tiny-track base checkpoint (trained on a base corpus, see `make base-model`) to fine-tune "
        "instead of starting from random weights; its corpus is first proven disjoint from --dataset",
    )
    train.add_argument(
        "--require-knowledge",
        action="store_true",
        help="exit 1 unless the model reaches the bar on the rows it saw "
        "(classification >= 0.95, generation ROUGE-L >= 0.8)",
    )
    train.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from medforget.dataset import read_manifest
    from medforget.evaluators.knowledge import record_knowledge, shortfalls, table
    from medforget.training.lora import LoraRecipe, finetune_lora
    from medforget.training.tiny_track import recipe, train_tiny

    settings = (("epochs", args.epochs), ("seed", args.seed), ("threads", args.threads))
    overrides = {k: v for k, v in settings if v is not None}
    if args.threads is not None and args.base_model is not None:
        raise ConfigError("--threads is the tiny track's; under --base-model, accelerate and torch choose")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: at least 1")
    levels = list(read_manifest(args.dataset).targets)
    if args.without is not None and args.without not in levels:
        raise ConfigError(f"--without {args.without!r}: {args.dataset} has the levels {', '.join(levels)}")
    without = (args.without, "forget") if args.without else None
    if args.base_model is not None and args.base is not None:
        raise ConfigError("--base (a tiny-track base) and --base-model (LoRA on a real checkpoint) exclude each other")
    if args.base_model is not None:
        record = finetune_lora(
            args.base_model, args.dataset, args.out, dataclasses.replace(LoraRecipe(), **overrides), without
        )
        print(
            f"LoRA adapter for {args.base_model} in {args.out}: {record['steps']} steps, "
            f"final loss {record['final_loss']:.4f}, {record['seconds']:.0f}s"
        )
    else:
        config = dataclasses.replace(recipe(args.dataset, args.base), **overrides)
        result = train_tiny(args.dataset, args.out, config, without, args.base)
        print(
            f"trained {args.out} on {result.rows} rows: {result.steps} steps, final loss {result.final_loss:.4f}, "
            f"{result.seconds:.0f}s"
        )
    report = record_knowledge(args.out, args.dataset, without)
    print("primary score per fact level and task (seen: trained on; left_out: the split left out; holdout: never seen)")
    print("\n".join(table(report)))
    missed = shortfalls(report)
    if missed:
        print(
            ("below the bar on seen rows: " if args.require_knowledge else "note: below the bar on seen rows: ")
            + "; ".join(missed)
        )
    return 1 if missed and args.require_knowledge else 0
