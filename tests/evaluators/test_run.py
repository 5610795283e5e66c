"""`medforget eval` end to end with fake models given as predictions files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.cli import main
from medforget.dataset import load_rows
from medforget.evaluators.results import Results, ResultsError, parse_results, read_results
from medforget.records import to_json

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


def primary(results: Results) -> dict[str, float | None]:
    return {m.split: m.value for m in results.metrics if m.name == "primary"}


def run(tmp_path: Path, dataset: Path, answer, name: str, *extra: str) -> Results:
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
    results = read_results(tmp_path / name)
    assert to_json(results) == json.loads((tmp_path / name / "results.json").read_text())  # every key declared
    return results


def test_always_right_scores_one_everywhere_and_no_gap(tiny_build: Path, tmp_path: Path):
    results = run(tmp_path, tiny_build, lambda row, split: row["answer"], "right")
    assert set(primary(results).values()) == {1.0}
    assert results.value("forget_retain_gap") == 0.0
    lines = (tmp_path / "right" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == sum(m.n for m in results.metrics if m.name == "primary")
    assert results.dataset.splits.keys() == {*SPLITS, "test"}


def test_right_except_on_forget_opens_the_gap(tiny_build: Path, tmp_path: Path):
    results = run(tmp_path, tiny_build, lambda row, split: "" if "forget" in split else row["answer"], "unlearned")
    scores = primary(results)
    assert scores["forget"] == 0.0 and scores["forget_rephrased"] == 0.0 and scores["retain_sibling"] == 1.0
    gap = results.find("forget_retain_gap")
    assert gap is not None and gap.value == 1.0 and gap.direction == "higher"


def test_always_a_scores_classification_by_chance(tiny_build: Path, tmp_path: Path):
    results = run(tmp_path, tiny_build, lambda row, split: "A", "always-a")
    accuracy = results.value("option_accuracy", "retain_other", "classification")
    rows = [r for r in load_rows(tiny_build, "patient", "retain_other") if r["task"] == "classification"]
    assert accuracy == pytest.approx(sum(r["answer"] == "A" for r in rows) / len(rows))
    generation = results.value("exact_match", "retain_other", "generation")
    assert generation is not None and generation < 0.1


def test_same_predictions_same_results(tiny_build: Path, tmp_path: Path):
    first = run(tmp_path, tiny_build, lambda row, split: row["answer"][:3], "a")
    second = run(tmp_path, tiny_build, lambda row, split: row["answer"][:3], "b")
    assert first.metrics == second.metrics


def test_limit_scores_a_recorded_sample_of_each_split_that_submit_refuses(tiny_build: Path, tmp_path: Path, capsys):
    results = run(tmp_path, tiny_build, lambda row, split: row["answer"], "sample", "--limit", "5")
    counts = {m.split: m.n for m in results.metrics if m.name == "primary"}
    assert counts.keys() >= {*SPLITS, "utility"} and all(0 < n <= 5 for n in counts.values())
    assert results.dataset.limit == 5 and set(primary(results).values()) == {1.0}
    again = run(tmp_path, tiny_build, lambda row, split: row["answer"], "again", "--limit", "5")
    assert again.metrics == results.metrics  # the same seeded sample
    out = str(tmp_path / "submission")
    assert main(["submit", str(tmp_path / "sample"), "--name", "x", "--hardware", "test", "--out", out]) == 2
    assert "a submission needs every row" in capsys.readouterr().err and not (tmp_path / "submission").exists()
    full = run(tmp_path, tiny_build, lambda row, split: row["answer"], "full")
    assert full.dataset.limit is None and "limit" not in json.loads((tmp_path / "full" / "results.json").read_text())


def test_results_schema_refuses_bad_files(tiny_build: Path, tmp_path: Path):
    with pytest.raises(ResultsError, match="first key is schema_version"):
        parse_results({"model": "x"})
    with pytest.raises(ResultsError, match="schema_version 99 is unknown"):
        parse_results({"schema_version": 99})
    with pytest.raises(ResultsError, match="older than this medforget's .*evaluate again"):
        parse_results({"schema_version": 1})
    good = to_json(run(tmp_path, tiny_build, lambda row, split: row["answer"], "good"))
    wrong = {**good, "metrics": [{**good["metrics"][0], "direction": "up"}, *good["metrics"][1:]]}
    with pytest.raises(ResultsError, match=r"results.metrics\[0\].direction must be one of 'higher', 'lower'"):
        parse_results(wrong)
    with pytest.raises(ResultsError, match=r"results.dataset has no 'splits'"):
        parse_results({**good, "dataset": {"manifest_sha256": "0" * 64}})
    with pytest.raises(ResultsError, match="missing or not JSON"):
        read_results(tmp_path / "nothing-here")


def test_before_gives_sibling_damage_and_utility_retained_on_the_same_rows(tiny_build: Path, tmp_path: Path):
    run(tmp_path, tiny_build, lambda row, split: row["answer"], "before")

    def after(answer, name: str) -> dict:
        results = run(tmp_path, tiny_build, answer, name, "--before", str(tmp_path / "before"))
        return {(m.name, m.split): m.value for m in results.metrics}

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
