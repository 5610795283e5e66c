"""`medforget eval` end to end with fake models given as predictions files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.cli import main
from medforget.dataset import load_rows
from medforget.evaluators.results import ResultsError, validate_results

SPLITS = (
    "forget",
    "retain_sibling",
    "retain_other",
    "shared_ancestor",
    "holdout",
    "forget_rephrased",
    "retain_rephrased",
)


def write_predictions(path: Path, dataset: Path, level: str, answer) -> Path:
    places = [(level, split) for split in SPLITS] + [("utility", "test")]
    with path.open("w") as handle:
        for config, split in places:
            for row in load_rows(dataset, config, split, images=False):
                handle.write(json.dumps({"id": row["id"], "prediction": answer(row, split)}) + "\n")
    return path


def primary(results: dict) -> dict[str, float]:
    return {m["split"]: m["value"] for m in results["metrics"] if m["name"] == "primary"}


def run(tmp_path: Path, dataset: Path, answer, name: str, *extra: str) -> dict:
    predictions = write_predictions(tmp_path / f"{name}.jsonl", dataset, "patient", answer)
    assert (
        main(
            [
                "eval",
                "--predictions",
                str(predictions),
                "--dataset",
                str(dataset),
                "--level",
                "patient",
                "--out",
                str(tmp_path / name),
                *extra,
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / name / "results.json").read_text())
    validate_results(results)
    return results


def test_always_right_scores_one_everywhere_and_no_gap(tiny_build: Path, tmp_path: Path):
    results = run(tmp_path, tiny_build, lambda row, split: row["answer"], "right")
    assert set(primary(results).values()) == {1.0}
    gap = next(m for m in results["metrics"] if m["name"] == "forget_retain_gap")
    assert gap["value"] == 0.0
    lines = (tmp_path / "right" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == sum(m["n"] for m in results["metrics"] if m["name"] == "primary")
    assert results["dataset"]["splits"].keys() == {*SPLITS, "test"}


def test_right_except_on_forget_opens_the_gap(tiny_build: Path, tmp_path: Path):
    results = run(tmp_path, tiny_build, lambda row, split: "" if "forget" in split else row["answer"], "unlearned")
    scores = primary(results)
    assert scores["forget"] == 0.0 and scores["forget_rephrased"] == 0.0 and scores["retain_sibling"] == 1.0
    gap = next(m for m in results["metrics"] if m["name"] == "forget_retain_gap")
    assert gap["value"] == 1.0 and gap["direction"] == "higher"


def test_always_a_scores_classification_by_chance(tiny_build: Path, tmp_path: Path):
    results = run(tmp_path, tiny_build, lambda row, split: "A", "always-a")
    accuracy = [m for m in results["metrics"] if m["name"] == "option_accuracy" and m["split"] == "retain_other"][0]
    rows = [r for r in load_rows(tiny_build, "patient", "retain_other") if r["task"] == "classification"]
    assert accuracy["value"] == pytest.approx(sum(r["answer"] == "A" for r in rows) / len(rows))
    generation = [m for m in results["metrics"] if m["name"] == "exact_match" and m["split"] == "retain_other"][0]
    assert generation["value"] < 0.1


def test_same_predictions_same_results(tiny_build: Path, tmp_path: Path):
    first = run(tmp_path, tiny_build, lambda row, split: row["answer"][:3], "a")
    second = run(tmp_path, tiny_build, lambda row, split: row["answer"][:3], "b")
    assert first["metrics"] == second["metrics"]


def test_results_schema_refuses_bad_files():
    with pytest.raises(ResultsError, match="first key is schema_version"):
        validate_results({"model": "x"})
    with pytest.raises(ResultsError, match="schema_version 99 is unknown"):
        validate_results({"schema_version": 99})
    with pytest.raises(ResultsError, match="older than this medforget's .*evaluate again"):
        validate_results({"schema_version": 1})


def test_before_gives_sibling_damage_and_utility_retained_on_the_same_rows(tiny_build: Path, tmp_path: Path):
    run(tmp_path, tiny_build, lambda row, split: row["answer"], "before")

    def after(answer, name: str) -> dict:
        results = run(tmp_path, tiny_build, answer, name, "--before", str(tmp_path / "before"))
        return {(m["name"], m["split"]): m["value"] for m in results["metrics"]}

    lost = after(lambda row, split: "", "lost")
    assert lost[("sibling_damage", "retain_sibling")] == 1.0 and lost[("utility_retained", "retain_other")] == 0.0
    kept = after(lambda row, split: "" if "forget" in split else row["answer"], "kept")
    assert kept[("sibling_damage", "retain_sibling")] == 0.0 and kept[("utility_retained", "utility")] == 1.0


@pytest.mark.parametrize("reference", ["--before", "--retain"])
def test_a_reference_run_from_another_level_is_refused(reference: str, tiny_build: Path, tmp_path: Path, capsys):
    run(tmp_path, tiny_build, lambda row, split: row["answer"], "before")
    predictions = write_predictions(tmp_path / "s.jsonl", tiny_build, "study", lambda row, split: row["answer"])
    code = main(
        [
            "eval",
            "--predictions",
            str(predictions),
            "--dataset",
            str(tiny_build),
            "--level",
            "study",
            "--out",
            str(tmp_path / "s"),
            reference,
            str(tmp_path / "before"),
        ]
    )
    assert code == 2 and f"{reference} must be the same dataset and level" in capsys.readouterr().err
