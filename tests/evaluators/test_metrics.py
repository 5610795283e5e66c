"""Per-sample metrics. The cases are data (metric_cases.json): add a case, no code needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.evaluators import (
    METRICS,
    PRIMARY,
    MetricInputError,
    MissingPredictionError,
    parse_option,
    score_rows,
)

CASES = json.loads((Path(__file__).parent / "metric_cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[f"{c['metric']}:{c.get('note', i)}" for i, c in enumerate(CASES)])
def test_metric_case(case: dict) -> None:
    metric = METRICS.get(case["metric"])
    assert case["row"]["task"] in metric.tasks, "the case's row task must be one the metric applies to"
    assert metric.score(case["prediction"], case["row"]) == pytest.approx(case["expected"], abs=case["tolerance"])


def test_cases_cover_every_per_sample_metric() -> None:
    assert {case["metric"] for case in CASES} == set(METRICS.names())


def test_primary_metric_of_each_task_applies_to_it() -> None:
    for task, name in PRIMARY.items():
        assert task in METRICS.get(name).tasks


def _row(id: str, task: str, answer: str) -> dict:
    options = ["alpha", "beta", "gamma", "delta"] if task == "classification" else []
    return {"id": id, "task": task, "question": "q", "answer": answer, "options": options}


def test_score_rows_applies_the_task_metrics_and_flags_unparseable() -> None:
    rows = [_row("g", "generation", "small effusion"), _row("c", "classification", "C"), _row("z", "cloze", "left")]
    scores = score_rows(rows, {"g": "small effusion", "c": "no idea", "z": "left"})
    assert [sorted(s.values) for s in scores] == [
        ["exact_match", "rouge_l"], ["option_accuracy", "rouge_l_is_one"], ["cloze_exact_match", "rouge_l"]
    ]
    assert [s.primary_value for s in scores] == [1.0, 0.0, 1.0]
    assert [s.unparseable for s in scores] == [False, True, False]


def test_missing_predictions_raise_and_name_at_most_20_ids() -> None:
    rows = [_row(f"id{i:02d}", "generation", "x") for i in range(25)]
    with pytest.raises(MissingPredictionError) as error:
        score_rows(rows, {"id00": "x"})
    message = str(error.value)
    assert "24 of 25" in message and "id19" in message and "id24" not in message


@pytest.mark.parametrize(
    ("row", "prediction"),
    [
        (_row("c", "classification", "E"), "A"),  # answer is not a letter
        (_row("t", "translation", "x"), "x"),  # unknown task
        (_row("g", "generation", "x"), None),  # prediction not a string
    ],
)
def test_malformed_input_raises_a_typed_error(row: dict, prediction: object) -> None:
    with pytest.raises(MetricInputError):
        score_rows([row], {row["id"]: prediction})


def test_options_may_be_any_sequence() -> None:
    assert parse_option("gamma", ("alpha", "beta", "gamma", "delta")) == "C"
