"""The results schema: what ``RUN/results.json`` must hold, checked before it is written and
whenever one is read (the leaderboard recomputes from predictions, but reads these fields);
:func:`entry`, the one way a metric's aggregate becomes an entry of it, with its direction on
its split (:func:`split_direction`); and :class:`Reference`, an earlier run read back as the
metrics measured against it need it (the target before unlearning, the level's retain model).

Schema versions: 1 had no direction per split and no retain-model metrics; 2 (this one) states
each entry's direction for its split and adds PrivLeak, TOFU's truth ratio and forget quality
from paraphrased and perturbed answers, and the normalised knowledge measures.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medforget.errors import MedForgetError
from medforget.evaluators.aggregation import Aggregate
from medforget.evaluators.base import DIRECTIONS, MetricInfo

RESULTS_SCHEMA_VERSION = 2
#: splits whose rows the unlearned model should no longer know
FORGET_SIDE = ("forget", "forget_rephrased")
_TOP = {
    "schema_version": int,
    "medforget_version": str,
    "dataset": dict,
    "model": str,
    "method": str,
    "level": str,
    "metrics": list,
}
_METRIC = {"name": str, "split": str, "task": str, "direction": str, "version": str, "n": int}


class ResultsError(MedForgetError):
    """A results file does not follow the results schema."""


def split_direction(split: str) -> str:
    """What is better for a "how much is reproduced" score on ``split``: lower on the forget side
    (forget, its rephrasings, the reconstruction attack's prompts), the retain model's value on
    holdout (never trained on by anyone), higher everywhere else."""
    if split in FORGET_SIDE or split.startswith("reconstruction:"):
        return "lower"
    return "retain" if split == "holdout" else "higher"


def entry(
    info: MetricInfo,
    split: str,
    result: Aggregate,
    name: str | None = None,
    direction: str | None = None,
    task: str = "all",
) -> dict[str, Any]:
    """A result entry for a registered metric: its version, and its direction (the metric's own
    unless given: a score's direction depends on its split, see :func:`split_direction`).
    ``name`` names a variant (``mia_auc_loss``); NaN, meaning no data, becomes null."""

    def number(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    return {
        "name": name or info.name,
        "split": split,
        "task": task,
        "direction": direction or info.direction,
        "version": info.version,
        "value": number(result.value),
        "low": number(result.low),
        "high": number(result.high),
        "n": result.n,
    }


def validate_results(results: Mapping[str, Any]) -> None:
    """Raise :class:`ResultsError` naming the first field that is missing or of the wrong type."""
    if not isinstance(results, Mapping) or next(iter(results), None) != "schema_version":
        raise ResultsError("results must be an object whose first key is schema_version")
    if results["schema_version"] != RESULTS_SCHEMA_VERSION:
        older = isinstance(results["schema_version"], int) and results["schema_version"] < RESULTS_SCHEMA_VERSION
        raise ResultsError(
            f"results schema_version {results['schema_version']!r} is "
            + (
                f"older than this medforget's ({RESULTS_SCHEMA_VERSION}): its metrics changed meaning (directions "
                "per split, PrivLeak, TOFU truth ratio); evaluate again with this version"
                if older
                else f"unknown; expected {RESULTS_SCHEMA_VERSION}"
            )
        )
    _fields(results, _TOP, "results")
    if not {"manifest_sha256", "splits"} <= set(results["dataset"]):
        raise ResultsError("results.dataset needs manifest_sha256 and splits (the hashes of what was evaluated)")
    for index, metric in enumerate(results["metrics"]):
        where = f"results.metrics[{index}]"
        _fields(metric, _METRIC, where)
        if metric["direction"] not in DIRECTIONS:
            raise ResultsError(f"{where}.direction must be one of {', '.join(DIRECTIONS)}")
        for key in ("value", "low", "high"):
            value = metric.get(key)
            if value is not None and not isinstance(value, (int, float)):
                raise ResultsError(f"{where}.{key} must be a number or null")


def _fields(record: Mapping[str, Any], spec: Mapping[str, type], where: str) -> None:
    for key, kind in spec.items():
        if key not in record:
            raise ResultsError(f"{where} has no {key!r}")
        if not isinstance(record[key], kind):
            raise ResultsError(f"{where}.{key} must be {kind.__name__}, found {type(record[key]).__name__}")


@dataclass(frozen=True)
class Reference:
    """An earlier evaluation run of another model on the same data and level.

    Attributes:
        path: its folder.
        scores: split -> row id -> (task, primary score), as its predictions.jsonl recorded.
        logprobs: row id -> answer token log-probabilities (rows and truth-ratio answers).
    """

    path: Path
    scores: Mapping[str, Mapping[str, tuple[str, float]]]
    logprobs: Mapping[str, list[float]]

    def primary(self, split: str) -> dict[str, float]:
        return {row_id: value for row_id, (_, value) in self.scores.get(split, {}).items()}


def read_reference(run: Path, dataset: Mapping[str, Any], level: str, role: str) -> Reference:
    """The run in ``run``, which must have evaluated the same data at the same level (numbers
    from different data are never compared); ``role`` names it in errors (``--before``)."""
    if not (run / "results.json").is_file() or not (run / "predictions.jsonl").is_file():
        raise ResultsError(
            f"{run} is not an evaluation run (no results.json and predictions.jsonl); "
            f"{role} takes the --out folder of `medforget eval`"
        )
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    validate_results(results)
    if results["dataset"] != dataset or results["level"] != level:
        raise ResultsError(
            f"{run} evaluated other data (level {results['level']!r}, manifest "
            f"{results['dataset']['manifest_sha256'][:12]}) than this run (level {level!r}, "
            f"manifest {dataset['manifest_sha256'][:12]}); {role} must be the same dataset and level"
        )
    scores: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)
    logprobs: dict[str, list[float]] = {}
    for number, line in enumerate((run / "predictions.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        record = json.loads(line)
        if isinstance(record.get("logprobs"), list):
            logprobs[record["id"]] = [float(x) for x in record["logprobs"]]
        if "prediction" not in record:  # a truth-ratio answer: log-probabilities only
            continue
        if not isinstance(record.get("primary"), (int, float)):
            raise ResultsError(f"{run / 'predictions.jsonl'}:{number} has no primary score; re-run its evaluation")
        scores[record["split"]][record["id"]] = (str(record["task"]), float(record["primary"]))
    return Reference(run, dict(scores), logprobs)
