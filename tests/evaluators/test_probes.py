"""White-box, hierarchy and reconstruction probes, run on a small random LLaVA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.evaluators.probes import _truth_ratio_items, context_names, known, reconstruction_attack
from medforget.evaluators.run import evaluate
from medforget.models.adapters import PredictionsFile, TransformersAdapter
from medforget.training.data import load_rows


def test_whitebox_hierarchy_and_reconstruction_metrics(checkpoint: Path, tiny_build: Path, tmp_path: Path):
    adapter = TransformersAdapter(checkpoint, batch_size=64, max_new_tokens=3)
    first = evaluate(tiny_build, "study", adapter, tmp_path / "before", retain_adapter=adapter)
    again = evaluate(tiny_build, "study", adapter, tmp_path / "after", retain_adapter=adapter,
                     before=tmp_path / "before")
    metrics = {m["name"]: m for m in again["metrics"] if m["split"] != "retain-forget"}
    assert 0 < metrics["answer_probability"]["value"] <= 1
    assert 0 <= metrics["mia_auc_loss"]["value"] <= 1 and 0 <= metrics["mia_auc_min_k"]["value"] <= 1
    assert metrics["forget_quality"]["value"] == pytest.approx(1.0)  # same model as its own retain model
    assert 0 < metrics["truth_ratio"]["value"] <= 1
    assert metrics["sibling_damage"]["value"] == pytest.approx(0.0)
    assert metrics["utility_retained"]["value"] == pytest.approx(1.0)
    assert metrics["reconstruction_attack"]["direction"] == "lower"
    assert "child_leak_rate" in metrics  # study targets have section facts under them
    assert [m["value"] for m in first["metrics"] if m["name"] == "primary"] == [
        m["value"] for m in again["metrics"] if m["name"] == "primary"]


def test_truth_ratio_uses_the_fact_distractors(tiny_build: Path):
    forget = load_rows(tiny_build, "patient", "forget")
    items = _truth_ratio_items(forget)
    assert items
    for row, wrong in items:
        assert row["task"] == "generation" and len(wrong) == 3 and row["answer"] not in wrong


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
    assert set(scores) == {"reconstruction:institution", "reconstruction:institution+patient",
                           "reconstruction:institution+patient+study"}
    assert f"{forget[0]['id']}#context-institution" in predictions
    assert echo.seen[0].startswith("Hospital: ") and "Patient: " in echo.seen[0] and "Study date: " in echo.seen[0]
    assert [m["name"] for m in out][-1] == "reconstruction_attack" and out[-1]["value"] == 0.0
    assert json.dumps(out)  # serialisable


def test_known_threshold_per_task():
    from medforget.evaluators.metrics import SampleScore

    assert known(SampleScore("a", "generation", {"rouge_l": 0.6}, "rouge_l"))
    assert not known(SampleScore("a", "cloze", {"cloze_exact_match": 0.0}, "cloze_exact_match"))


MODEL_ONLY = ("truth_ratio", "forget_quality")  # need the model, not its predictions


def test_a_run_is_deterministic_and_its_predictions_rescore_to_the_same_numbers(
        checkpoint: Path, tiny_build: Path, tmp_path: Path):
    adapter = TransformersAdapter(checkpoint, batch_size=64, max_new_tokens=3)
    first = evaluate(tiny_build, "patient", adapter, tmp_path / "a")
    second = evaluate(tiny_build, "patient", adapter, tmp_path / "b")
    assert first == second
    assert (tmp_path / "a" / "predictions.jsonl").read_bytes() == (tmp_path / "b" / "predictions.jsonl").read_bytes()
    for metric in first["metrics"]:  # every aggregate carries its bootstrap interval
        if metric["value"] is not None and metric["n"] > 0:
            assert metric["low"] is not None and metric["low"] <= metric["high"], metric
    rescored = evaluate(tiny_build, "patient", PredictionsFile(tmp_path / "a" / "predictions.jsonl"), tmp_path / "c")
    expected = [m for m in first["metrics"] if not m["name"].startswith(MODEL_ONLY)]
    assert rescored["metrics"] == expected
    assert {"answer_probability", "mia_auc_loss", "mia_auc_min_k"} <= {m["name"] for m in rescored["metrics"]}
