"""A tiny model that knows one patient's facts (and some of its sibling's), trained in seconds,
and the unlearning data those rows form; plus the answer accuracy that shows what it knows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from medforget.dataset import load_rows
from medforget.models.tiny import TinySpec, build_model, build_processor, train_tokenizer
from medforget.training.tiny_track import TrainConfig, fit
from medforget.unlearning.activations import Sums
from medforget.unlearning.data import UnlearnData, load_unlearn_data

KNOWING = TinySpec(vision_hidden=32, vision_layers=1, text_hidden=64, text_layers=2, heads=2, vocab_size=800)
RECIPE = TrainConfig(epochs=30, batch_size=8, learning_rate=3e-3, warmup_steps=5, spec=KNOWING)


@pytest.fixture(scope="session")
def small_data(tiny_build: Path) -> UnlearnData:
    """Every 4th row of the patient level's forget split, every 5th of retain_sibling."""
    full = load_unlearn_data(tiny_build, "patient")
    return dataclasses.replace(
        full, forget=full.forget[::4], retain=load_rows(tiny_build, "patient", "retain_sibling")[::5]
    )


def train_knowing(data: UnlearnData, out: Path, family: str = "llava") -> Path:
    import torch

    torch.use_deterministic_algorithms(True)
    spec = dataclasses.replace(KNOWING, family=family)
    rows = data.forget + data.retain
    tokenizer = train_tokenizer(
        [t for r in rows for t in (r["question"], r["answer"], *r["options"])], spec.vocab_size, family
    )
    processor = build_processor(tokenizer, spec)
    model = build_model(tokenizer, spec, seed=0)
    fit(model, processor, rows, dataclasses.replace(RECIPE, spec=spec))
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def knowing(small_data: UnlearnData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_knowing(small_data, tmp_path_factory.mktemp("knowing") / "llava")


@pytest.fixture(scope="session")
def knowing_qwen(small_data: UnlearnData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_knowing(small_data, tmp_path_factory.mktemp("knowing") / "qwen", "qwen2_5_vl")


def sums(*rows: list[float]) -> Sums:
    """Hand-built activation sums over ``rows`` (one list of unit values per row)."""
    import torch

    values = torch.tensor(rows)
    return Sums(values.sum(0), values.abs().sum(0), len(rows))


def answer_accuracy(model, processor, rows) -> float:
    """Share of answer tokens the model predicts right, teacher-forced (argmax)."""
    import torch

    from medforget.models.chat import IGNORE_INDEX, TrainingCollator

    batch = TrainingCollator(processor)(rows)
    labels = batch.pop("labels")[:, 1:]
    with torch.inference_mode():
        predicted = model(**batch).logits[:, :-1].argmax(-1)
    answer = labels != IGNORE_INDEX
    return float(((predicted == labels) & answer).sum() / answer.sum())
