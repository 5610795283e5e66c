"""White-box metrics on synthetic log-probabilities and score distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medforget.evaluators import (
    MetricInputError,
    answer_probability,
    forget_quality,
    mia_auc,
    min_k_percent,
    truth_ratio,
)


def test_answer_probability_is_the_geometric_mean_of_token_probabilities() -> None:
    assert answer_probability([math.log(0.5), math.log(0.125)]) == pytest.approx(0.25)
    assert answer_probability([0.0, 0.0]) == 1.0


@pytest.mark.parametrize("bad", [[], [math.nan], [0.5]])
def test_answer_probability_rejects_bad_logprobs(bad: list[float]) -> None:
    with pytest.raises(MetricInputError):
        answer_probability(bad)


def test_truth_ratio_is_perturbed_over_paraphrased() -> None:
    tr = truth_ratio(math.log(0.5), [math.log(0.25), math.log(0.0625)])  # geometric mean of wrong: 0.125
    assert tr.ratio == pytest.approx(0.25)
    assert tr.forget_score == pytest.approx(0.25)
    assert tr.retain_score == pytest.approx(0.75)
    indifferent = truth_ratio([-1.0], [-1.0, -1.0])
    assert (indifferent.ratio, indifferent.forget_score, indifferent.retain_score) == (1.0, 1.0, 0.0)
    assert truth_ratio(-5.0, [-1.0]).forget_score == truth_ratio(-1.0, [-5.0]).forget_score


def test_truth_ratio_survives_extreme_values() -> None:
    tr = truth_ratio(-1000.0, [-1.0])
    assert tr.ratio == math.inf and tr.forget_score == 0.0 and tr.retain_score == 0.0


def test_forget_quality_high_for_identical_low_for_shifted_distributions() -> None:
    rng = np.random.default_rng(0)
    retain = rng.lognormal(0.0, 0.5, 200)
    assert forget_quality(rng.lognormal(0.0, 0.5, 200), retain) > 0.05
    assert forget_quality(retain, retain) == pytest.approx(1.0)
    assert forget_quality(rng.lognormal(1.0, 0.5, 200), retain) < 1e-6


def test_forget_quality_rejects_empty_input() -> None:
    with pytest.raises(MetricInputError):
        forget_quality([], [1.0])


@pytest.mark.parametrize(
    ("members", "nonmembers", "expected"),
    [
        ([3, 4, 5], [0, 1, 2], 1.0),  # perfectly separated
        ([0, 1, 2], [3, 4, 5], 0.0),  # reversed
        ([1, 2, 3], [1, 2, 3], 0.5),  # identical
        ([1, 1], [1, 1, 1], 0.5),  # all tied
        ([1, 2], [1, 0], (1.5 + 2) / 4),  # one tie counts a half: pairs (1,1)=.5 (1,0)=1 (2,1)=1 (2,0)=1
    ],
)
def test_mia_auc(members: list[float], nonmembers: list[float], expected: float) -> None:
    assert mia_auc(members, nonmembers) == pytest.approx(expected)


def test_mia_auc_matches_pairwise_count_on_random_ties() -> None:
    rng = np.random.default_rng(1)
    members, nonmembers = rng.integers(0, 5, 40), rng.integers(0, 5, 30)
    diff = members[:, None] - nonmembers[None, :]
    expected = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    assert mia_auc(members, nonmembers) == pytest.approx(expected)


def test_min_k_percent_averages_the_lowest_tokens() -> None:
    logprobs = [-0.1, -5.0, -0.2, -3.0, -0.3, -0.1, -0.1, -0.1, -0.1, -0.1]
    assert min_k_percent(logprobs, k=0.2) == pytest.approx(-4.0)
    assert min_k_percent([-1.0, -2.0], k=0.2) == -2.0  # at least one token
    with pytest.raises(MetricInputError):
        min_k_percent(logprobs, k=0.0)
