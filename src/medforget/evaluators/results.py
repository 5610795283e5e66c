"""The results schema: what ``RUN/results.json`` must hold, checked before it is written and
whenever one is read (the leaderboard recomputes from predictions, but reads these fields), and
:func:`entry`, the one way a metric's aggregate becomes an entry of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from medforget.errors import MedForgetError
from medforget.evaluators.aggregation import Aggregate
from medforget.evaluators.base import MetricInfo

RESULTS_SCHEMA_VERSION = 1
_TOP = {"schema_version": int, "medforget_version": str, "dataset": dict, "model": str, "method": str,
        "level": str, "metrics": list}
_METRIC = {"name": str, "split": str, "task": str, "direction": str, "version": str, "n": int}


class ResultsError(MedForgetError):
    """A results file does not follow the results schema."""


def entry(info: MetricInfo, split: str, result: Aggregate, name: str | None = None,
          direction: str | None = None, task: str = "all") -> dict[str, Any]:
    """A result entry for a registered metric: its version, and its direction unless the split
    turns it (an answer's probability should fall on forget and hold on retain). ``name`` names
    a variant (``mia_auc_loss``); NaN, meaning no data, becomes null."""
    def number(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    return {"name": name or info.name, "split": split, "task": task, "direction": direction or info.direction,
            "version": info.version, "value": number(result.value), "low": number(result.low),
            "high": number(result.high), "n": result.n}


def validate_results(results: Mapping[str, Any]) -> None:
    """Raise :class:`ResultsError` naming the first field that is missing or of the wrong type."""
    if not isinstance(results, Mapping) or next(iter(results), None) != "schema_version":
        raise ResultsError("results must be an object whose first key is schema_version")
    if results["schema_version"] != RESULTS_SCHEMA_VERSION:
        raise ResultsError(f"unknown results schema_version {results['schema_version']!r}; expected {RESULTS_SCHEMA_VERSION}")
    _fields(results, _TOP, "results")
    if not {"manifest_sha256", "splits"} <= set(results["dataset"]):
        raise ResultsError("results.dataset needs manifest_sha256 and splits (the hashes of what was evaluated)")
    for index, metric in enumerate(results["metrics"]):
        where = f"results.metrics[{index}]"
        _fields(metric, _METRIC, where)
        if metric["direction"] not in ("higher", "lower"):
            raise ResultsError(f"{where}.direction must be 'higher' or 'lower'")
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
