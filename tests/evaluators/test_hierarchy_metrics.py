"""Headline metrics: definitions at the edges (zero before, no data, ties)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from medforget.evaluators import (
    MetricInputError,
    WorstContext,
    child_leak_rate,
    forget_retain_gap,
    reconstruction_attack,
    sibling_damage,
    utility_retained,
)


def test_definitions() -> None:
    assert forget_retain_gap(0.9, 0.2) == pytest.approx(0.7)
    assert child_leak_rate([True, False, False, True]) == 0.5
    assert sibling_damage(0.8, 0.6) == pytest.approx(0.25)
    assert utility_retained(0.8, 0.6) == pytest.approx(0.75)
    assert sibling_damage(0.5, 0.6) == pytest.approx(-0.2)  # siblings improved


def test_zero_before_means_nothing_to_lose() -> None:
    assert utility_retained(0.0, 0.0) == 1.0 and sibling_damage(0.0, 0.3) == 0.0


def test_no_data_gives_nan() -> None:
    assert math.isnan(child_leak_rate([]))
    assert math.isnan(forget_retain_gap(math.nan, 0.1))
    assert math.isnan(utility_retained(0.5, math.nan))


@pytest.mark.parametrize(
    "call",
    [
        lambda: forget_retain_gap(1.5, 0.0),
        lambda: utility_retained(-0.1, 0.5),
        lambda: child_leak_rate([2]),
        lambda: reconstruction_attack({}),
    ],
)
def test_out_of_range_raises(call: Callable[[], object]) -> None:
    with pytest.raises(MetricInputError):
        call()


def test_reconstruction_attack_reports_the_worst_context() -> None:
    scores = {"none": 0.1, "institution": 0.3, "patient": 0.6, "study": 0.6}
    assert reconstruction_attack(scores) == WorstContext("patient", 0.6)  # ties: first listed
    assert reconstruction_attack({"none": math.nan, "study": 0.2}) == ("study", 0.2)
