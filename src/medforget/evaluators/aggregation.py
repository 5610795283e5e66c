"""Aggregation of per-sample values: the mean with a seeded percentile-bootstrap 95% interval,
and the same interval for any statistic of one or more samples (:func:`bootstrap`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from medforget.evaluators.base import MetricInputError, as_finite_array
from medforget.evaluators.metrics import SampleScore

CONFIDENCE = 0.95
#: bootstrap resamples are drawn in blocks of at most this many indices, to bound memory
_BLOCK = 2_000_000


@dataclass(frozen=True)
class Aggregate:
    """A mean and its bootstrap interval.

    Attributes:
        value: the mean of the values; NaN when there were none.
        low: lower bound of the 95% percentile-bootstrap interval (NaN when n == 0).
        high: upper bound of that interval (NaN when n == 0).
        n: how many values were aggregated.
    """

    value: float
    low: float
    high: float
    n: int


#: the aggregate of no values
NO_DATA = Aggregate(value=math.nan, low=math.nan, high=math.nan, n=0)


@dataclass(frozen=True)
class ScoreSummary:
    """Aggregates of a list of :class:`SampleScore`: one per metric seen, plus the primary metric.

    Attributes:
        metrics: metric name -> aggregate over the rows that metric applies to.
        primary: aggregate of each row's primary metric (mixing tasks, as the headline numbers do).
        n: number of rows.
        n_unparseable: classification rows whose prediction named no option (scored 0).
    """

    metrics: dict[str, Aggregate]
    primary: Aggregate
    n: int
    n_unparseable: int


def aggregate(values: Iterable[float], seed: int = 0, n_boot: int = 1000) -> Aggregate:
    """Mean of ``values`` with a percentile-bootstrap 95% interval.

    Deterministic: the same values, seed and ``n_boot`` give the same interval. Empty input gives
    ``Aggregate(nan, nan, nan, 0)`` ("no data"), never an exception; NaN/inf values raise
    :class:`MetricInputError`. One value gives a zero-width interval.
    """
    if n_boot < 1:
        raise MetricInputError(f"n_boot must be at least 1, got {n_boot}")
    array = as_finite_array(values, "aggregate", allow_empty=True)
    if array.size == 0:
        return NO_DATA
    low, high = _interval(_bootstrap_means(array, np.random.default_rng(seed), n_boot))
    return Aggregate(value=float(array.mean()), low=low, high=high, n=int(array.size))


def bootstrap(
    statistic: Callable[..., float],
    *samples: Iterable[float],
    paired: bool | Sequence[Sequence[int]] = False,
    seed: int = 0,
    n_boot: int = 1000,
) -> Aggregate:
    """``statistic(*samples)`` with a percentile-bootstrap 95% interval.

    Each sample is resampled with replacement on its own (two populations, as forget against
    holdout), or, with ``paired``, all with the same indices (the same rows or questions seen by
    two models), or, with ``paired`` a list of groups of sample positions (``((0, 2), (1, 3))``),
    each group with its own indices (forget and holdout rows, each seen by two models). Paired
    samples must have equal lengths. Resamples whose statistic is not finite are left out of the
    interval. Any empty sample gives ``Aggregate(nan, nan, nan, 0)``. ``n`` is the number of
    values in all samples together, a group counting its rows once.
    """
    if n_boot < 1:
        raise MetricInputError(f"n_boot must be at least 1, got {n_boot}")
    arrays = [as_finite_array(sample, f"bootstrap sample {i}", allow_empty=True) for i, sample in enumerate(samples)]
    if not arrays or any(array.size == 0 for array in arrays):
        return NO_DATA
    groups = (
        [tuple(range(len(arrays)))]
        if paired is True
        else [(i,) for i in range(len(arrays))]
        if not paired
        else [tuple(group) for group in paired]
    )
    if sorted(i for group in groups for i in group) != list(range(len(arrays))):
        raise MetricInputError(f"paired groups {paired!r} must name each of the {len(arrays)} samples once")
    for group in groups:
        if len({arrays[i].size for i in group}) > 1:
            raise MetricInputError(
                f"paired bootstrap needs samples of one length, got {[arrays[i].size for i in group]}"
            )
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    resampled: list[np.ndarray] = list(arrays)
    for b in range(n_boot):
        for group in groups:
            size = arrays[group[0]].size
            index = rng.integers(0, size, size)
            for i in group:
                resampled[i] = arrays[i][index]
        stats[b] = statistic(*resampled)
    low, high = _interval(stats[np.isfinite(stats)])
    n = sum(arrays[group[0]].size for group in groups)
    return Aggregate(value=float(statistic(*arrays)), low=low, high=high, n=int(n))


def _interval(resampled: np.ndarray) -> tuple[float, float]:
    """The central :data:`CONFIDENCE` percentile interval of resampled statistics (NaN if none)."""
    if resampled.size == 0:
        return math.nan, math.nan
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return float(low), float(high)


def _bootstrap_means(array: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    block = max(1, _BLOCK // array.size)
    means = [
        array[rng.integers(0, array.size, size=(min(block, n_boot - start), array.size))].mean(axis=1)
        for start in range(0, n_boot, block)
    ]
    return np.concatenate(means)


def summarize(scores: Sequence[SampleScore], seed: int = 0, n_boot: int = 1000) -> ScoreSummary:
    """Aggregate every metric present in ``scores``, and the per-row primary metric."""
    names = sorted({name for score in scores for name in score.values})
    metrics = {
        name: aggregate([s.values[name] for s in scores if name in s.values], seed=seed, n_boot=n_boot)
        for name in names
    }
    return ScoreSummary(
        metrics=metrics,
        primary=aggregate([s.primary_value for s in scores], seed=seed, n_boot=n_boot),
        n=len(scores),
        n_unparseable=sum(s.unparseable for s in scores),
    )
