"""Bootstrap aggregation: deterministic, an interval around the mean, NaN for no data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medforget.evaluators import MetricInputError, aggregate, score_rows, summarize


def test_bootstrap_is_deterministic_and_contains_the_mean() -> None:
    values = np.random.default_rng(3).random(50)
    first, again = aggregate(values, seed=7), aggregate(values, seed=7)
    assert first == again
    assert first.low <= first.value <= first.high
    assert first.value == pytest.approx(values.mean()) and first.n == 50
    assert aggregate(values, seed=8) != first  # the seed matters
    assert first.high - first.low < 0.4


def test_degenerate_inputs() -> None:
    empty = aggregate([])
    assert math.isnan(empty.value) and math.isnan(empty.low) and empty.n == 0
    single = aggregate([0.3])
    assert (single.value, single.low, single.high, single.n) == pytest.approx((0.3, 0.3, 0.3, 1))
    with pytest.raises(MetricInputError):
        aggregate([0.1, math.nan])
    with pytest.raises(MetricInputError):
        aggregate([0.1], n_boot=0)


def test_summarize_counts_unparseable_rows() -> None:
    rows = [{"id": str(i), "task": "classification", "answer": "A", "options": ["w", "x", "y", "z"]} for i in range(4)]
    summary = summarize(score_rows(rows, {"0": "A", "1": "B", "2": "???", "3": ""}), n_boot=50)
    assert summary.n == 4 and summary.n_unparseable == 2
    assert summary.metrics["option_accuracy"].value == 0.25 == summary.primary.value


def test_bootstrap_gives_the_statistic_and_a_seeded_interval():
    from medforget.evaluators import bootstrap

    a, b = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]

    def difference(x, y):
        return float(x.mean() - y.mean())

    result = bootstrap(difference, a, b, seed=3)
    assert result.value == pytest.approx(4 / 6 - 1 / 4) and result.n == 10
    assert result.low < result.value < result.high
    assert bootstrap(difference, a, b, seed=3) == result and bootstrap(difference, a, b, seed=4) != result
    paired = bootstrap(difference, a, a, paired=True)  # the same rows twice: no spread at all
    assert (paired.value, paired.low, paired.high, paired.n) == (0.0, 0.0, 0.0, 6)
    assert bootstrap(difference, a, []).n == 0
    with pytest.raises(MetricInputError, match="one length"):
        bootstrap(difference, a, b, paired=True)
