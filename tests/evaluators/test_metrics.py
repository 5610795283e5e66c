"""Per-sample metrics and the computations behind the aggregate ones. The cases are data
(metric_cases.json): a per-sample case names a metric, a prediction and a row; a function case
names one of :data:`FUNCTIONS` and its arguments. Cases with a ``defect`` are the golden cases
of the metric defects fixed in the issue "Metrics that mean what the field means" (its list's
numbers): each failed before the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.evaluators import (
    METRICS,
    PRIMARY,
    MetricInputError,
    MissingPredictionError,
    SampleScore,
    parse_option,
    score_rows,
)
from medforget.evaluators.hierarchy_metrics import normalised_knowledge
from medforget.evaluators.judge import parse_score
from medforget.evaluators.probes import ATTACKS, truth_ratios
from medforget.evaluators.results import split_direction
from medforget.evaluators.run import summarise
from medforget.evaluators.whitebox import ks_statistic, privleak

ALL_CASES = json.loads((Path(__file__).parent / "metric_cases.json").read_text(encoding="utf-8"))
CASES = [case for case in ALL_CASES if "metric" in case]
FUNCTION_CASES = [case for case in ALL_CASES if "function" in case]


def _gap(primary_by_split: dict[str, list[list]]) -> dict[str, float]:
    scores = {
        split: [
            SampleScore(f"{split}{i}", task, {PRIMARY[task]: value}, PRIMARY[task])
            for i, (task, value) in enumerate(rows)
        ]
        for split, rows in primary_by_split.items()
    }
    return {f"{e.split}/{e.task}": e.value for e in summarise(scores) if e.name == "forget_retain_gap"}


def _forget_scores(rows: list[dict], logprobs: dict[str, list[float]]) -> float:
    (ratio,) = truth_ratios(rows, logprobs).values()
    return ratio.forget_score


#: the computations function cases may name
FUNCTIONS = {
    "privleak": privleak,
    "normalised_knowledge": normalised_knowledge,
    "ks_statistic": ks_statistic,
    "truth_ratio_forget_score": _forget_scores,
    "gap": _gap,
    "split_direction": split_direction,
    "min_k_0.2": ATTACKS["min_k_0.2"],
    "min_k_0.4": ATTACKS["min_k_0.4"],
    "judge_score": parse_score,
}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['metric']}:{c.get('note', i)}" for i, c in enumerate(CASES)])
def test_metric_case(case: dict) -> None:
    metric = METRICS.get(case["metric"])
    assert case["row"]["task"] in metric.tasks, "the case's row task must be one the metric applies to"
    assert metric.score(case["prediction"], case["row"]) == pytest.approx(case["expected"], abs=case["tolerance"])


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=[f"{c['function']}:{c['note']}" for c in FUNCTION_CASES])
def test_function_case(case: dict) -> None:
    found = FUNCTIONS[case["function"]](*case["args"])
    if isinstance(case["expected"], (int, float, dict)) and not isinstance(case["expected"], bool):
        assert found == pytest.approx(case["expected"], abs=case["tolerance"])
    else:
        assert found == case["expected"]


def test_cases_cover_every_per_sample_metric() -> None:
    assert {case["metric"] for case in CASES} == set(METRICS.names())


def test_every_defect_has_a_golden_case() -> None:
    assert {case["defect"] for case in ALL_CASES if "defect" in case} == set(range(1, 11))


def test_primary_metric_of_each_task_applies_to_it() -> None:
    for task, name in PRIMARY.items():
        assert task in METRICS.get(name).tasks


def _row(id: str, task: str, answer: str) -> dict:
    options = ["alpha", "beta", "gamma", "delta"] if task == "classification" else []
    return {"id": id, "task": task, "question": "q", "answer": answer, "options": options}


def test_score_rows_applies_the_task_metrics_and_flags_unparseable() -> None:
    rows = [_row("g", "generation", "small effusion"), _row("c", "classification", "C"), _row("z", "cloze", "left")]
    scores = score_rows(rows, {"g": "small effusion", "c": "no idea", "z": "left"})
    applies = [sorted(n for n in METRICS.names() if r["task"] in METRICS.get(n).tasks) for r in rows]
    assert [sorted(s.values) for s in scores] == applies  # every registered metric of the row's task
    assert applies[1] == ["option_accuracy", "rouge_l_is_one"]
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
