"""Fake models with known behaviour prove metric directions and ranges.

Thirty hand-made rows (two splits x three tasks x five rows); a fake model maps a row to a
prediction. Every registered metric must rank a better-behaved model better in its direction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from medforget.evaluators import (
    HIERARCHY_METRICS,
    JUDGE_METRICS,
    METRICS,
    REGISTRIES,
    WHITEBOX_METRICS,
    SampleScore,
    aggregate,
    medforget_score,
    score_rows,
    truth_ratio,
)
from medforget.evaluators.base import DIRECTIONS
from medforget.registry import Registry

GENERATION = [
    "small left pleural effusion",
    "mild cardiomegaly",
    "right lower lobe pneumonia",
    "healed rib fracture",
    "no acute disease",
]
CLOZE = ["Northwind Health", "Dover", "Mercy Hospital", "Lena Park", "portable"]
OPTIONS = ["Northwind Health", "Southwind Care", "Eastgate Clinics", "Westbrook Medical"]
LETTERS = ["A", "B", "C", "D", "A"]  # two of five classification rows per split answer A


def _rows() -> list[dict]:
    rows = []
    for split in ("forget", "retain"):
        for i in range(5):
            base = {"split": split, "level": "patient", "modality": "text", "rephrased_of": None}
            rows.append(
                {
                    **base,
                    "id": f"{split}-g{i}",
                    "task": "generation",
                    "question": "Findings?",
                    "answer": GENERATION[i],
                    "options": [],
                }
            )
            rows.append(
                {
                    **base,
                    "id": f"{split}-c{i}",
                    "task": "classification",
                    "question": "Network?",
                    "answer": LETTERS[i],
                    "options": OPTIONS,
                }
            )
            rows.append(
                {
                    **base,
                    "id": f"{split}-z{i}",
                    "task": "cloze",
                    "question": "It is [blank].",
                    "answer": CLOZE[i],
                    "options": [],
                }
            )
    return rows


ROWS = _rows()
Model = Callable[[dict], str]


def always_right(row: dict) -> str:
    return row["answer"]


def always_wrong(row: dict) -> str:
    return "I do not know"


def always_a(row: dict) -> str:
    return "A"


def wrong_on_forget(row: dict) -> str:
    return always_wrong(row) if row["split"] == "forget" else always_right(row)


def _scores(model: Model, split: str | None = None) -> list[SampleScore]:
    rows = [row for row in ROWS if split is None or row["split"] == split]
    return score_rows(rows, {row["id"]: model(row) for row in rows})


def _mean(scores: Sequence[SampleScore], metric: str | None = None) -> float:
    values = [
        s.primary_value if metric is None else s.values[metric] for s in scores if metric is None or metric in s.values
    ]
    return aggregate(values, n_boot=10).value


def _better(direction: str, good: float, bad: float, retain: float | None = None) -> bool:
    """Whether ``good`` beats ``bad`` in ``direction`` (``retain``: the retain model's value)."""
    if direction == "zero":
        return abs(good) < abs(bad)
    if direction == "retain":
        assert retain is not None, "a direction 'retain' scenario needs the retain model's value"
        return abs(good - retain) < abs(bad - retain)
    return good > bad if direction == "higher" else good < bad


def guess_on_forget(row: dict) -> str:
    """A model that never saw the forget rows: answers the rest, guesses A on forget."""
    return always_a(row) if row["split"] == "forget" else always_right(row)


@pytest.mark.parametrize("model", [always_right, always_wrong, always_a, wrong_on_forget])
def test_every_per_sample_value_is_in_unit_interval(model: Model) -> None:
    assert all(0.0 <= v <= 1.0 for s in _scores(model) for v in s.values.values())


def test_always_right_scores_one_everywhere() -> None:
    assert all(v == 1.0 for s in _scores(always_right) for v in s.values.values())


def test_always_a_gets_the_share_of_a_answers() -> None:
    scores = _scores(always_a)
    share_a = np.mean([row["answer"] == "A" for row in ROWS if row["task"] == "classification"])
    assert _mean(scores, "option_accuracy") == pytest.approx(share_a)
    assert _mean(scores, "rouge_l") < 0.2 and _mean(scores, "exact_match") == 0.0
    assert _mean(scores, "cloze_exact_match") == 0.0
    assert not any(s.unparseable for s in scores)


def test_wrong_on_forget_opens_the_forget_retain_gap() -> None:
    forget, retain = _mean(_scores(wrong_on_forget, "forget")), _mean(_scores(wrong_on_forget, "retain"))
    assert forget == pytest.approx(0.0, abs=0.05) and retain == 1.0
    assert HIERARCHY_METRICS.get("forget_retain_gap").compute(retain, forget) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("name", METRICS.names())
def test_per_sample_direction(name: str) -> None:
    metric = METRICS.get(name)
    assert _better(metric.direction, _mean(_scores(always_right), name), _mean(_scores(always_wrong), name))


def _hierarchy_scenarios() -> dict[str, tuple[float, float]]:
    """name -> (value for good unlearning, value for a bad or harmful model)."""
    good, kept, harmful = wrong_on_forget, always_right, always_wrong
    before = _mean(_scores(always_right, "retain"))

    def score(model: Model, split: str) -> float:
        return _mean(_scores(model, split))

    def worst(model_under_patient_context: Model) -> float:
        contexts = {"none": score(good, "forget"), "patient": score(model_under_patient_context, "forget")}
        return HIERARCHY_METRICS.get("reconstruction_attack").compute(contexts).score

    gap, leak = HIERARCHY_METRICS.get("forget_retain_gap").compute, HIERARCHY_METRICS.get("child_leak_rate").compute
    sibling = HIERARCHY_METRICS.get("sibling_damage").compute
    utility = HIERARCHY_METRICS.get("utility_retained").compute
    forget_correct = {m: [s.primary_value == 1.0 for s in _scores(m, "forget")] for m in (good, kept)}
    normalised = HIERARCHY_METRICS.get("normalised_knowledge").compute
    target, retain_model = score(kept, "forget"), score(guess_on_forget, "forget")
    return {
        "normalised_knowledge": (
            normalised(score(guess_on_forget, "forget"), target, retain_model),
            normalised(score(kept, "forget"), target, retain_model),
        ),
        "forget_retain_gap": (
            gap(score(good, "retain"), score(good, "forget")),
            gap(score(kept, "retain"), score(kept, "forget")),
        ),
        "child_leak_rate": (leak(forget_correct[good]), leak(forget_correct[kept])),
        "sibling_damage": (sibling(before, score(good, "retain")), sibling(before, score(harmful, "retain"))),
        "utility_retained": (utility(before, score(good, "retain")), utility(before, score(harmful, "retain"))),
        "reconstruction_attack": (worst(good), worst(kept)),
    }


def _whitebox_scenarios() -> dict[str, tuple[float, float]]:
    """Synthetic log-probs: the good model is unsure on forget, the bad one still confident."""
    rng = np.random.default_rng(0)
    confident, unsure = rng.normal(-0.2, 0.05, (40, 8)).clip(max=0), rng.normal(-3.0, 0.5, (40, 8)).clip(max=0)
    holdout = rng.normal(-3.0, 0.5, (40, 8)).clip(max=0)
    wb = {name: WHITEBOX_METRICS.get(name).compute for name in WHITEBOX_METRICS.names()}

    def ratios(para: float) -> list[float]:
        return [
            truth_ratio(min(0.0, para + rng.normal(0, 0.3)), rng.normal(-3.0, 0.3, 3).clip(max=0)).ratio
            for _ in range(60)
        ]

    retain_model = ratios(-3.0)

    def auc(forget: np.ndarray, attack: Callable = wb["min_k_percent"]) -> float:
        return wb["mia_auc"]([attack(t) for t in forget], [attack(t) for t in holdout])

    like_holdout = rng.normal(-3.0, 0.5, (40, 8)).clip(max=0)  # a retain model: forget looks unseen
    return {
        "answer_probability": (
            np.mean([wb["answer_probability"](t) for t in confident]),
            np.mean([wb["answer_probability"](t) for t in unsure]),
        ),
        "truth_ratio": (
            np.mean([wb["truth_ratio"](-3.0, [-3.0]).forget_score]),
            np.mean([wb["truth_ratio"](-0.2, [-3.0]).forget_score]),
        ),
        "forget_quality": (
            wb["forget_quality"](ratios(-3.0), retain_model),
            wb["forget_quality"](ratios(-0.5), retain_model),
        ),
        "ks_statistic": (
            wb["ks_statistic"](ratios(-3.0), retain_model),
            wb["ks_statistic"](ratios(-0.5), retain_model),
        ),
        "mia_auc": (auc(unsure), auc(confident), auc(like_holdout)),
        "privleak": (wb["privleak"](auc(unsure), auc(like_holdout)), wb["privleak"](auc(confident), auc(like_holdout))),
        "min_k_percent": (
            np.mean([wb["min_k_percent"](t) for t in unsure]),
            np.mean([wb["min_k_percent"](t) for t in confident]),
            np.mean([wb["min_k_percent"](t) for t in like_holdout]),
        ),
    }


def test_over_forgetting_shows_below_zero_and_does_not_rank_first() -> None:
    """An unlearned model that knows less than one never trained on the data (it answers
    nothing where the retain model still guesses 1 in 4, its forget rows look less seen than
    held-out ones) is over-forgetting: normalised knowledge below 0, PrivLeak above 0, and it
    ranks behind the model that forgets down to the retain model's level, on each measure and
    on the board's overall score."""
    from medforget.leaderboard.build import load_schema, overall

    normalised = HIERARCHY_METRICS.get("normalised_knowledge").compute
    target, retain_model = _mean(_scores(always_right, "forget")), _mean(_scores(guess_on_forget, "forget"))
    at_retain = normalised(_mean(_scores(guess_on_forget, "forget")), target, retain_model)
    over = normalised(_mean(_scores(always_wrong, "forget")), target, retain_model)
    assert over < 0 and at_retain == pytest.approx(0.0)
    assert _better("zero", at_retain, over)
    privleak = WHITEBOX_METRICS.get("privleak").compute
    assert privleak(0.1, 0.5) > 0 and _better("zero", privleak(0.52, 0.5), privleak(0.1, 0.5))
    common = {"sibling_damage": 0.0, "utility_retained/retain_other": 1.0, "normalised_child_leak": None}
    scored = {
        name: overall(
            {**common, "normalised_forget/forget": value, "normalised_reconstruction": value},
            load_schema(Path(__file__).parents[2] / "leaderboard"),
        )
        for name, value in (("at_retain", at_retain), ("over", over), ("target", 1.0))
    }
    assert max(scored, key=scored.__getitem__) == "at_retain"


def _judge_scenarios() -> dict[str, tuple[float, float]]:
    """A judge that gives 10 to a right answer and 1 to anything else."""

    def judged(model: Model) -> tuple[float, float]:
        rows = [row for row in ROWS if row["task"] == "generation"]
        scores = {s.id: s for s in score_rows(rows, {row["id"]: model(row) for row in rows})}
        factuality = [10.0 if scores[row["id"]].values["exact_match"] == 1.0 else 1.0 for row in rows]
        combined = [medforget_score(scores[row["id"]].values["rouge_l"], f) for row, f in zip(rows, factuality)]
        return float(np.mean(factuality)) / 10, float(np.mean(combined))

    (right_f, right_c), (wrong_f, wrong_c) = judged(always_right), judged(always_wrong)
    return {"llm_factuality": (right_f, wrong_f), "medforget_score": (right_c, wrong_c)}


def test_every_registered_metric_has_a_direction_scenario() -> None:
    covered = set(METRICS.names()) | set(_hierarchy_scenarios()) | set(_whitebox_scenarios()) | set(_judge_scenarios())
    assert covered == {name for registry in REGISTRIES for name in registry.names()}


@pytest.mark.parametrize(
    ("registry", "scenarios"),
    [
        (HIERARCHY_METRICS, _hierarchy_scenarios),
        (WHITEBOX_METRICS, _whitebox_scenarios),
        (JUDGE_METRICS, _judge_scenarios),
    ],
)
def test_summary_metric_directions(registry: Registry, scenarios: Callable[[], dict[str, tuple[float, float]]]) -> None:
    for name, values in scenarios().items():
        assert _better(registry.get(name).direction, *values), (name, values)


def test_unit_range_metrics_stay_in_range() -> None:
    scenarios = {**_hierarchy_scenarios(), **_whitebox_scenarios(), **_judge_scenarios()}
    for name in (
        "child_leak_rate",
        "reconstruction_attack",
        "utility_retained",
        "answer_probability",
        "truth_ratio",
        "forget_quality",
        "mia_auc",
        "llm_factuality",
        "medforget_score",
    ):
        assert all(0.0 <= value <= 1.0 for value in scenarios[name]), name
    assert all(-1.0 <= value <= 1.0 for value in scenarios["forget_retain_gap"])
    assert all(value <= 1.0 for value in scenarios["sibling_damage"])
    assert all(value <= 0.0 for value in scenarios["min_k_percent"])


def test_every_record_is_complete() -> None:
    for registry in REGISTRIES:
        for name in registry.names():
            record = registry.get(name)
            assert record.name == name and record.direction in DIRECTIONS
            assert record.description.endswith(".") and record.description.count(". ") == 0
            assert re.fullmatch(r"\d+\.\d+\.\d+", record.version)
