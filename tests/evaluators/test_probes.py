"""White-box, hierarchy and reconstruction probes, run on a small random LLaVA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.dataset import load_rows
from medforget.evaluators.probes import context_names, known, reconstruction_attack, truth_rows
from medforget.evaluators.run import evaluate
from medforget.models.adapters import PredictionsFile, TransformersAdapter
from medforget.records import to_json


def test_whitebox_hierarchy_and_reconstruction_metrics(checkpoint: Path, tiny_build: Path, tmp_path: Path):
    adapter = TransformersAdapter(checkpoint, batch_size=64, max_new_tokens=3)
    first = evaluate(tiny_build, "study", adapter, tmp_path / "before")
    again = evaluate(
        tiny_build, "study", adapter, tmp_path / "after", before=tmp_path / "before", retain=tmp_path / "before"
    )
    metrics = {m.name: m for m in again.metrics if "-forget" not in m.split and m.task == "all"}
    assert 0 < metrics["answer_probability"].value <= 1
    for attack in ("loss", "min_k_0.2", "min_k_0.4"):
        assert 0 <= metrics[f"mia_auc_{attack}"].value <= 1
        assert metrics[f"privleak_{attack}"].value == pytest.approx(0.0)  # its own retain model
    assert metrics["forget_quality"].value == pytest.approx(1.0)
    assert metrics["forget_quality"].low is None  # a resampled p-value means little: no interval
    assert metrics["ks_statistic"].value == pytest.approx(0.0) and metrics["ks_statistic"].low is not None
    assert 0 <= metrics["truth_ratio"].value <= 1
    assert metrics["sibling_damage"].value == pytest.approx(0.0)
    assert metrics["utility_retained"].value == pytest.approx(1.0)
    assert metrics["reconstruction_attack"].direction == "lower"
    assert "child_leak_rate" in metrics  # study targets have section facts under them
    assert metrics["normalised_forget"].direction == "zero"  # NaN here: target and retain are one model
    assert [m.value for m in first.metrics if m.name == "primary"] == [
        m.value for m in again.metrics if m.name == "primary"
    ]
    directions = {(m.name, m.split): m.direction for m in again.metrics if m.task == "all"}
    assert directions[("primary", "forget")] == "lower" and directions[("primary", "retain_sibling")] == "higher"
    assert directions[("primary", "holdout")] == "retain"


def test_truth_ratio_questions_are_asked_under_their_own_ids(tiny_build: Path):
    forget = load_rows(tiny_build, "patient", "forget")
    asked = truth_rows(forget)
    generation = [r for r in forget if r["task"] == "generation" and r["rephrased_of"] is None]
    assert len(asked) == 4 * len(generation)
    by_id = {r["id"]: r for r in asked}
    for row in generation:
        assert by_id[f"{row['id']}#paraphrased"]["answer"] == row["paraphrased_answer"]
        assert [by_id[f"{row['id']}#perturbed-{k}"]["answer"] for k in range(3)] == row["perturbed_answers"]


def test_normalised_knowledge_between_the_retain_model_and_the_target(tiny_build: Path, tmp_path: Path):
    """Three fake runs from predictions: the target knows everything, the retain model and the
    unlearned one nothing, an over-forgetter... the normalised numbers land where they should."""
    from medforget.dataset import read_manifest
    from medforget.evaluators.results import read_reference
    from medforget.evaluators.run import dataset_record

    level = "patient"
    rows = {split: load_rows(tiny_build, level, split, images=False) for split in ("forget",)}
    target = evaluate(tiny_build, level, _Fake(lambda row: row["answer"]), tmp_path / "target", reconstruction=False)
    retain = evaluate(
        tiny_build,
        level,
        _Fake(_forget_blank(rows["forget"])),
        tmp_path / "retain",
        before=tmp_path / "target",
        reconstruction=False,
    )
    unlearned = evaluate(
        tiny_build,
        level,
        _Fake(_forget_blank(rows["forget"])),
        tmp_path / "unlearned",
        before=tmp_path / "target",
        retain=tmp_path / "retain",
        reconstruction=False,
    )
    values = {(m.name, m.task): m.value for m in unlearned.metrics if m.split == "forget"}
    assert values[("normalised_forget", "all")] == pytest.approx(0.0)
    assert values[("normalised_child_leak", "all")] == pytest.approx(0.0)
    assert target.level == retain.level == level
    reference = read_reference(
        tmp_path / "retain", dataset_record(tiny_build, read_manifest(tiny_build), level), level, "--retain"
    )
    assert set(reference.primary("forget")) == {r["id"] for r in rows["forget"]}


class _Fake:
    """A black-box model answering ``answer(row)``."""

    name = "fake"

    def __init__(self, answer):
        self.answer = answer

    def generate(self, rows):
        return [self.answer(row) for row in rows]

    def answer_logprobs(self, rows):
        return None


def _forget_blank(forget):
    ids = {r["id"] for r in forget}
    return lambda row: "" if row["id"] in ids else row["answer"]


def test_reconstruction_prompts_carry_hierarchy_context(tiny_build: Path):
    class Echo:
        name = "echo"

        def generate(self, rows):
            self.seen = [r["question"] for r in rows]
            return ["" for _ in rows]

        def answer_logprobs(self, rows):
            return None

    names = context_names(load_rows(tiny_build, "train", "train"))
    forget = load_rows(tiny_build, "section", "forget")[:3]
    echo = Echo()
    out, scores, predictions = reconstruction_attack(echo, forget, names)
    assert set(scores) == {
        "reconstruction:institution",
        "reconstruction:institution+patient",
        "reconstruction:institution+patient+study",
    }
    assert f"{forget[0]['id']}#context-institution" in predictions
    assert echo.seen[0].startswith("Hospital: ") and "Patient: " in echo.seen[0] and "Study date: " in echo.seen[0]
    assert [m.name for m in out][-1] == "reconstruction_attack" and out[-1].value == 0.0
    assert json.dumps(to_json(out))  # serialisable


def test_known_threshold_per_task():
    assert known("generation", 0.6) and not known("generation", 0.4)
    assert not known("cloze", 0.0) and known("classification", 1.0)


def test_a_run_is_deterministic_and_its_predictions_rescore_to_the_same_numbers(
    checkpoint: Path, tiny_build: Path, tmp_path: Path
):
    adapter = TransformersAdapter(checkpoint, batch_size=64, max_new_tokens=3)
    first = evaluate(tiny_build, "patient", adapter, tmp_path / "a")
    second = evaluate(tiny_build, "patient", adapter, tmp_path / "b")
    assert first == second
    assert (tmp_path / "a" / "predictions.jsonl").read_bytes() == (tmp_path / "b" / "predictions.jsonl").read_bytes()
    for metric in first.metrics:  # every aggregate carries its bootstrap interval
        if metric.value is not None and metric.n > 0:
            assert metric.low is not None and metric.low <= metric.high, metric
    rescored = evaluate(tiny_build, "patient", PredictionsFile(tmp_path / "a" / "predictions.jsonl"), tmp_path / "c")
    assert rescored.metrics == first.metrics  # the truth ratio's answers travel in predictions.jsonl
    assert {"answer_probability", "mia_auc_loss", "mia_auc_min_k_0.4", "truth_ratio"} <= {
        m.name for m in rescored.metrics
    }
