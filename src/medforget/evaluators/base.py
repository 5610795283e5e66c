"""What every metric record shares (name, version, direction, description), the metric errors,
and the kinds of metric function: each record type is generic in the Protocol its ``compute``
follows (:class:`Comparison` here; the others beside their metrics), so a caller of
``FORGET_RETAIN_GAP.compute`` is type-checked against what it computes."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from medforget.errors import MedForgetError

#: what is better: higher, lower, closer to 0, or closer to the retain model's value
Direction = Literal["higher", "lower", "zero", "retain"]
DIRECTIONS: tuple[str, ...] = ("higher", "lower", "zero", "retain")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


class MetricInputError(MedForgetError, ValueError):
    """A metric was given input it cannot score (empty, NaN, out of range, malformed row)."""


class MissingPredictionError(MetricInputError):
    """Rows were given to score without a prediction; they are never silently scored 0."""


@dataclass(frozen=True)
class MetricInfo:
    """The leaderboard-facing facts of one metric.

    Attributes:
        name: registry name, also the column name in results.
        version: semantic version; bump it whenever the metric's values could change.
        direction: what is better: ``"higher"``, ``"lower"``, ``"zero"`` (closer to 0) or
            ``"retain"`` (closer to the level's retain model, which never saw the forget split).
        description: one sentence, shown on the leaderboard.
    """

    name: str
    version: str
    direction: Direction
    description: str

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise MedForgetError(f"metric {self.name!r}: direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if not _VERSION.match(self.version):
            raise MedForgetError(f"metric {self.name!r}: version must look like '1.0.0', got {self.version!r}")
        if not self.description.strip():
            raise MedForgetError(f"metric {self.name!r}: description is empty; write one sentence for the leaderboard")


class Comparison(Protocol):
    """Two scores compared: retain and forget, before and after unlearning, or the unlearned and
    the retain model's AUC -> one number."""

    def __call__(self, first: float, second: float, /) -> float: ...


def as_finite_array(values: Iterable[float], what: str, *, allow_empty: bool = False) -> np.ndarray:
    """``values`` as a 1-D float array; raise :class:`MetricInputError` on NaN/inf or (unless allowed) emptiness."""
    array = np.asarray(list(values), dtype=float).reshape(-1)
    if array.size == 0 and not allow_empty:
        raise MetricInputError(f"{what}: got no values; expected at least one")
    bad = ~np.isfinite(array)
    if bad.any():
        raise MetricInputError(
            f"{what}: expected finite numbers, found {int(bad.sum())} NaN/inf (first at index {int(np.argmax(bad))})"
        )
    return array


def check_unit(value: float, what: str) -> float:
    """``value`` as a float in [0, 1]; NaN passes through (it means "no data", see ``aggregate``)."""
    value = float(value)
    if not math.isnan(value) and not 0.0 <= value <= 1.0:
        raise MetricInputError(f"{what}: expected a score in [0, 1], got {value!r}")
    return value
