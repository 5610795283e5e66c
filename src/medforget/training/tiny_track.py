"""The tiny track's reference models, trained on CPU from a built dataset.

The target model is trained on the ``train`` config; a retain model on the same rows less one
level's ``forget`` split. Either starts from random weights, or from a *base* checkpoint
pretrained on a base corpus (a build with ``exclude``: its ``train`` and ``utility`` rows),
which :mod:`medforget.build.disjoint` proves shares nothing with the benchmark. Tokenizer and
initial weights are shared by every reference model of a dataset (the base's, or a tokenizer
trained on the ``train`` text once and weights from one seed), so target and retain models
differ only by the data they saw. Seeds, thread count and deterministic kernels make a run
bit-for-bit reproducible on the same machine kind and thread count; elsewhere, within the
tolerances of :mod:`medforget.reproducibility`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medforget.dataset import load_rows, read_manifest
from medforget.models.tiny import TinySpec, build_model, build_processor, train_tokenizer
from medforget.training.data import training_rows

logger = logging.getLogger(__name__)

TRAINING_VERSION = "1.4.0"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 16
    batch_size: int = 8
    learning_rate: float = 3e-4
    warmup_steps: int = 50
    weight_decay: float = 0.0
    seed: int = 0
    threads: int = 2
    #: train on a seeded sample of this many rows (smoke runs); None: every row
    max_rows: int | None = None
    #: fine-tuning from a base: a seeded sample of this many rows of the base corpus trained on
    #: beside the dataset's (rehearsal, so the small model keeps the skill the base has; the same
    #: rows for the target and every retain model)
    rehearsal_rows: int = 0
    #: each epoch rehearses a fresh seeded draw of this many of the ``rehearsal_rows`` (the pool
    #: is seen across epochs at a fraction of the cost); None: every one of them every epoch
    rehearsal_per_epoch: int | None = None
    #: fine-tuning from a base: keep its vision tower frozen, as the protocol for real checkpoints does
    freeze_vision: bool = False
    spec: TinySpec = field(default_factory=TinySpec)


#: the recipes, chosen by measurement (README, "Recipes, chosen by measurement"): from random
#: weights (the test suite's and smoke runs' track), a base on its corpus, and a fine-tune from
#: a base (the board's target and retain models)
RECIPES: dict[str, TrainConfig] = {
    "scratch": TrainConfig(),
    "base": TrainConfig(epochs=6),
    "fine-tune": TrainConfig(epochs=14, rehearsal_rows=2000, rehearsal_per_epoch=600, freeze_vision=True),
}


def recipe(dataset: Path, base: Path | None) -> TrainConfig:
    """The recipe for training on ``dataset``: a fine-tune when ``base`` is given, a base when
    ``dataset`` is a base corpus, else from random weights."""
    return RECIPES["fine-tune" if base is not None else "base" if is_base_corpus(dataset) else "scratch"]


@dataclass(frozen=True)
class TrainResult:
    out: Path
    rows: int
    steps: int
    final_loss: float
    seconds: float


def train_tiny(
    dataset: Path,
    out: Path,
    config: TrainConfig,
    without: tuple[str, str] | None = None,
    base: Path | None = None,
) -> TrainResult:
    """Train a tiny LLaVA on ``train`` (less the rows of the ``without`` split) into ``out``:
    from random weights, or fine-tuned from the ``base`` checkpoint (its tokenizer and weights),
    whose corpus must first be proven disjoint from ``dataset`` (:func:`base_record`)."""
    import torch

    start = time.perf_counter()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    rows = load_rows(dataset, "train", "train")
    if is_base_corpus(dataset):  # pretraining material: its utility rows teach reading findings too
        rows += load_rows(dataset, "utility", "test")
    if base is not None:
        from medforget.build.disjoint import check_disjoint
        from medforget.models.families import load_checkpoint

        pretraining = base_record(base)
        corpus = Path(pretraining["dataset"])
        check_disjoint(corpus, dataset, {})
        model, processor = load_checkpoint(base)
        config = dataclasses.replace(config, spec=TinySpec(**pretraining["config"]["spec"]))
    else:
        tokenizer = train_tokenizer(_texts(rows), config.spec.vocab_size, config.spec.family)
        processor = build_processor(tokenizer, config.spec)
        model = build_model(tokenizer, config.spec, config.seed)
    rows = training_rows(rows, dataset, without, config.max_rows, config.seed)
    pool = rehearsal(corpus, config.rehearsal_rows, config.seed) if base is not None and config.rehearsal_rows else []
    if base is not None and config.freeze_vision:
        from medforget.training.lora import freeze_vision

        freeze_vision(model)
    steps, loss = fit(model, processor, rows, config, pool)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    result = TrainResult(out, len(rows) + len(pool), steps, loss, time.perf_counter() - start)
    _write_record(
        out,
        dataset,
        config,
        without,
        result,
        {"path": str(base), "training": pretraining} if base is not None else None,
    )
    return result


def rehearsal(corpus: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """A seeded sample of ``n`` rows of a base corpus (its train and utility rows)."""
    import random

    rows = load_rows(corpus, "train", "train") + load_rows(corpus, "utility", "test")
    return random.Random(seed).sample(rows, min(n, len(rows)))


def is_base_corpus(dataset: Path) -> bool:
    """Whether ``dataset`` was built apart from a benchmark (``--option exclude=...``)."""
    return read_manifest(dataset).config.get("source_options", {}).get("exclude") is not None


def base_record(base: Path) -> dict[str, Any]:
    """A base checkpoint's training record, its ``dataset`` checked to be the build it was
    trained on (its manifest's sha256) and a base corpus (built with ``exclude``)."""
    from medforget.errors import ConfigError
    from medforget.outputs import sha256_file

    path = base / "medforget_training.json"
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    corpus = Path(record.get("dataset") or "")
    if not record.get("dataset") or not (corpus / "manifest.json").is_file():
        raise ConfigError(f"{base} names no base corpus it was trained on (a tiny-track record with 'dataset')")
    if sha256_file(corpus / "manifest.json") != record.get("dataset_manifest_sha256"):
        raise ConfigError(f"{corpus} is not the build {base} was trained on (its manifest changed); rebuild the base")
    if not is_base_corpus(corpus):
        raise ConfigError(f"{corpus} is not a base corpus: it was built without --option exclude=<benchmark>")
    return record


def _texts(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [text for r in rows for text in (r["question"], r["answer"], *r["options"])]


def fit(
    model: Any, processor: Any, rows: list[dict[str, Any]], config: TrainConfig, pool: Sequence[dict[str, Any]] = ()
) -> tuple[int, float]:
    """Train ``model`` on ``rows`` for ``config.epochs``, each epoch with its draw of ``pool``
    (rehearsal, :attr:`TrainConfig.rehearsal_per_epoch`); (steps, last epoch's mean loss)."""
    import torch
    import torch.nn.functional as F

    from medforget.models.chat import TrainingCollator, answer_logits

    collate = TrainingCollator(processor)
    generator = torch.Generator().manual_seed(config.seed)
    drawn = len(pool) if config.rehearsal_per_epoch is None else min(config.rehearsal_per_epoch, len(pool))
    per_epoch = math.ceil((len(rows) + drawn) / config.batch_size)
    total = per_epoch * config.epochs
    # fused: one kernel for every parameter (the per-tensor loop was a seventh of a CPU step)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay, fused=True
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, config.warmup_steps, total))
    model.train()
    loss = float("nan")
    for epoch in range(config.epochs):
        running = 0.0
        draw = torch.randperm(len(pool), generator=generator)[:drawn].tolist() if drawn < len(pool) else range(drawn)
        for batch_rows in _bucketed([*rows, *(pool[i] for i in draw)], config.batch_size, generator):
            logits, targets, _ = answer_logits(model, collate(batch_rows))
            step_loss = F.cross_entropy(logits.float(), targets)
            step_loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            running += step_loss.item()
        loss = running / per_epoch
        logger.info("epoch %d/%d loss %.4f", epoch + 1, config.epochs, loss)
    model.eval()
    return total, loss


#: rows shuffled into pools of this many batches, each pool cut into batches by length
POOL_BATCHES = 16


def _bucketed(rows: Sequence[dict[str, Any]], batch_size: int, generator: Any) -> list[list[dict[str, Any]]]:
    """One epoch's batches: a seeded shuffle, then within each pool of :data:`POOL_BATCHES`
    batches the rows sorted by length (a third of the tokens were padding otherwise), then the
    batches in a seeded order. As many batches as plain shuffling gives."""
    import torch

    from medforget.models.chat import length_order

    order = torch.randperm(len(rows), generator=generator).tolist()
    pool = batch_size * POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        members = [rows[i] for i in order[start : start + pool]]
        by_length = [members[i] for i in length_order(members, with_answer=True)]
        batches += [by_length[i : i + batch_size] for i in range(0, len(by_length), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 5 % of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _write_record(
    out: Path,
    dataset: Path,
    config: TrainConfig,
    without: tuple[str, str] | None,
    result: TrainResult,
    base: dict[str, Any] | None,
) -> None:
    """``medforget_training.json``, and the model card (README.md) rendered from it."""
    from medforget.build.card import model_card
    from medforget.outputs import sha256_file
    from medforget.reproducibility import machine

    record = {
        "training_version": TRAINING_VERSION,
        "dataset": str(dataset),
        "dataset_manifest_sha256": sha256_file(dataset / "manifest.json"),
        "base": base,
        "without": list(without) if without else None,
        "config": asdict(config),
        "rows": result.rows,
        "steps": result.steps,
        "final_loss": result.final_loss,
        "seconds": round(result.seconds, 1),
        "machine": machine(),
    }
    (out / "medforget_training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (out / "README.md").write_text(model_card(record, read_manifest(dataset)), encoding="utf-8")
