"""White-box metrics, from per-token log-probabilities the caller computes with the model.

Conventions: a *log-prob mean* is the mean of an answer's per-token natural-log probabilities
(length-normalised, so answers of different lengths compare); attack scores are "higher means
more likely a member" (seen in training).

Truth ratio and forget quality follow TOFU (Maini et al., 2024): see locuslab/tofu
``aggregate_eval_stat.py`` (``get_forget_quality``, ``get_model_utility``) and
locuslab/open-unlearning ``src/evals/metrics/memorization.py`` (``truth_ratio``); PrivLeak
follows MUSE (Shi et al., 2024) as open-unlearning's ``privacy.py`` computes it. Definitions and
every deliberate difference: docs/benchmark.md section 5.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from medforget.evaluators.base import Comparison, MetricInfo, MetricInputError, as_finite_array
from medforget.registry import Registry

#: log-probabilities above this are an error (a little slack for float rounding of log 1)
_LOGPROB_SLACK = 1e-6


class TokenScore(Protocol):
    """One answer's token log-probabilities -> a score."""

    def __call__(self, token_logprobs: Sequence[float], /) -> float: ...


class TwoSamples(Protocol):
    """Two samples of per-row values (members and non-members, unlearned and retain) -> a statistic."""

    def __call__(self, first: Sequence[float], second: Sequence[float], /) -> float: ...


class TruthRatioOf(Protocol):
    """Log-prob means of the paraphrased and of the perturbed answers -> a :class:`TruthRatio`."""

    def __call__(self, paraphrased: float | Sequence[float], perturbed: Sequence[float], /) -> TruthRatio: ...


F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class WhiteboxMetric(MetricInfo, Generic[F]):
    """A white-box metric record; ``compute`` is the function below of the same name."""

    compute: F


WHITEBOX_METRICS: Registry[WhiteboxMetric[Any]] = Registry("white-box metric")


def _logprobs(values: Sequence[float], what: str) -> np.ndarray:
    array = as_finite_array(values, what)
    if (array > _LOGPROB_SLACK).any():
        raise MetricInputError(f"{what}: log-probabilities must be <= 0, got max {array.max()!r}; pass log p, not p")
    return array


def answer_probability(token_logprobs: Sequence[float]) -> float:
    """exp(mean token log-prob): the geometric mean of the answer's token probabilities.

    Normalised by length, as in TOFU, so long answers are not penalised for being long.
    """
    return float(np.exp(_logprobs(token_logprobs, "answer_probability").mean()))


@dataclass(frozen=True)
class TruthRatio:
    """TOFU's truth ratio of one question.

    Attributes:
        ratio: R = P(perturbed) / P(paraphrased), each P the geometric mean over answers of the
            length-normalised probability exp(log-prob mean). R < 1: the model prefers the truth.
        log_ratio: log R (finite even when R over- or underflows).
        forget_score: min(R, 1/R) in (0, 1]: 1 when the model cannot tell true from false
            (TOFU's forget-split statistic; higher is better on forget).
        retain_score: max(0, 1 - R) in [0, 1): how strongly the truth is preferred
            (TOFU's retain-split statistic; higher is better on retain).
    """

    ratio: float
    log_ratio: float
    forget_score: float
    retain_score: float


def truth_ratio(
    paraphrased_logprob_means: float | Sequence[float], perturbed_logprob_means: Sequence[float]
) -> TruthRatio:
    """Truth ratio of one question from the log-prob means of its paraphrased (correct) answer(s)
    and of its perturbed (wrong) answers: R = exp(mean(perturbed) - mean(paraphrased)).

    Direction: perturbed over paraphrased, as in the TOFU paper and open-unlearning (TOFU's
    ``aggregate_eval_stat.py`` computes the inverse, but both statistics it reports,
    min(R, 1/R) and 1 - 1/R there, equal the ones here, and the KS test is invariant to 1/R).
    """
    if isinstance(paraphrased_logprob_means, (int, float)):
        paraphrased_logprob_means = [paraphrased_logprob_means]
    paraphrased = _logprobs(paraphrased_logprob_means, "truth_ratio paraphrased").mean()
    perturbed = _logprobs(perturbed_logprob_means, "truth_ratio perturbed").mean()
    log_ratio = float(perturbed - paraphrased)
    with np.errstate(over="ignore"):
        ratio = float(np.exp(log_ratio))
    return TruthRatio(
        ratio=ratio,
        log_ratio=log_ratio,
        forget_score=math.exp(-abs(log_ratio)),
        retain_score=-math.expm1(log_ratio) if log_ratio < 0 else 0.0,
    )


def forget_quality(unlearned_truth_ratios: Sequence[float], retain_truth_ratios: Sequence[float]) -> float:
    """TOFU's forget quality: the two-sample KS-test p-value between the unlearned model's truth
    ratios on the forget split and a retain model's (never trained on it) on the same questions.

    High (near 1) means indistinguishable from never having learned the data.
    """
    from scipy.stats import ks_2samp  # heavy import, needed only here

    unlearned = as_finite_array(unlearned_truth_ratios, "forget_quality unlearned_truth_ratios")
    retained = as_finite_array(retain_truth_ratios, "forget_quality retain_truth_ratios")
    return float(ks_2samp(unlearned, retained).pvalue)


def mia_auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """ROC AUC of a membership-inference attack: P(member score > non-member score), ties 1/2.

    Computed with the Mann-Whitney U rank formula (average ranks for ties). Members are the
    forget rows, non-members the holdout rows; 0.5 is the target after unlearning, above 0.5 the
    forget data still looks seen, below 0.5 it looks *less* seen than never-seen data.
    """
    members = as_finite_array(member_scores, "mia_auc member_scores")
    nonmembers = as_finite_array(nonmember_scores, "mia_auc nonmember_scores")
    _, inverse, counts = np.unique(np.concatenate([members, nonmembers]), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0  # 1-based mean rank of each distinct value
    m, n = members.size, nonmembers.size
    u = average_rank[inverse[:m]].sum() - m * (m + 1) / 2.0
    return float(u / (m * n))


def privleak(auc_unlearned: float, auc_retain: float) -> float:
    """MUSE's PrivLeak (Shi et al., 2024), as a fraction: the relative gap between the MIA AUC of
    the unlearned model and that of the retain model, on the same forget and holdout rows.

    Computed on MUSE's AUC, 1 - ours (MUSE ranks members by low loss the other way round), as
    OpenUnlearning's ``privleak`` does: ((1 - AUC_u) - (1 - AUC_r)) / (1 - AUC_r). 0 is ideal;
    below 0 the forget rows look more seen than to a model that never saw them (under-unlearned),
    above 0 less (over-unlearned: itself a tell). MUSE and OpenUnlearning print it x 100. NaN when
    the retain model's AUC is 1 (nothing to compare against).
    """
    for value, what in ((auc_unlearned, "auc_unlearned"), (auc_retain, "auc_retain")):
        if not 0.0 <= value <= 1.0:
            raise MetricInputError(f"privleak: {what} must be an AUC in [0, 1], got {value!r}")
    reference = 1.0 - auc_retain
    return ((1.0 - auc_unlearned) - reference) / reference if reference > 0 else math.nan


def ks_statistic(unlearned_truth_ratios: Sequence[float], retain_truth_ratios: Sequence[float]) -> float:
    """The two-sample KS statistic D behind :func:`forget_quality` (0: the same distribution).
    Its bootstrap interval is meaningful where a p-value's is not."""
    from scipy.stats import ks_2samp

    unlearned = as_finite_array(unlearned_truth_ratios, "ks_statistic unlearned_truth_ratios")
    retained = as_finite_array(retain_truth_ratios, "ks_statistic retain_truth_ratios")
    return float(ks_2samp(unlearned, retained).statistic)


def min_k_percent(token_logprobs: Sequence[float], k: float = 0.2) -> float:
    """Min-K% Prob (Shi et al., 2024): the mean of the lowest ``k`` share of token log-probs.

    Uses floor(k * n) tokens, at least one. Returned as a log-prob mean, so higher means more
    member-like (the paper's code negates it).
    """
    if not 0.0 < k <= 1.0:
        raise MetricInputError(f"min_k_percent: k must be in (0, 1], got {k!r}")
    array = np.sort(_logprobs(token_logprobs, "min_k_percent"))
    return float(array[: max(1, int(k * array.size))].mean())


M = TypeVar("M", bound=WhiteboxMetric[Any])


def _register(metric: M) -> M:
    WHITEBOX_METRICS.register(metric)
    return metric


ANSWER_PROBABILITY: WhiteboxMetric[TokenScore] = _register(
    WhiteboxMetric(
        "answer_probability",
        "1.0.0",
        "higher",
        "Length-normalised probability the model gives the reference answer.",
        answer_probability,
    )
)
TRUTH_RATIO: WhiteboxMetric[TruthRatioOf] = _register(
    WhiteboxMetric(
        "truth_ratio",
        "2.0.0",
        "higher",
        "TOFU truth ratio of the paraphrased answer against perturbed ones: min(R, 1/R) on forget, "
        "max(0, 1 - R) on retain.",
        truth_ratio,
    )
)
FORGET_QUALITY: WhiteboxMetric[TwoSamples] = _register(
    WhiteboxMetric(
        "forget_quality",
        "2.0.0",
        "higher",
        "TOFU forget quality: KS-test p-value of forget truth ratios against the retain model's "
        "(no interval: a resampled p-value means little).",
        forget_quality,
    )
)
KS_STATISTIC: WhiteboxMetric[TwoSamples] = _register(
    WhiteboxMetric(
        "ks_statistic",
        "1.0.0",
        "lower",
        "KS statistic D between the forget truth ratios and the retain model's (0: indistinguishable).",
        ks_statistic,
    )
)
MIA_AUC: WhiteboxMetric[TwoSamples] = _register(
    WhiteboxMetric(
        "mia_auc",
        "2.0.0",
        "retain",
        "Membership-inference ROC AUC of forget against holdout rows; the retain model's is the "
        "target (raw: a low AUC is as telling as a high one).",
        mia_auc,
    )
)
PRIVLEAK: WhiteboxMetric[Comparison] = _register(
    WhiteboxMetric(
        "privleak",
        "1.0.0",
        "zero",
        "MUSE PrivLeak: relative gap of the MIA AUC to the retain model's on the same rows; 0 is "
        "ideal, below 0 under-unlearned, above 0 over-unlearned.",
        privleak,
    )
)
MIN_K_PERCENT: WhiteboxMetric[TokenScore] = _register(
    WhiteboxMetric(
        "min_k_percent",
        "2.0.0",
        "retain",
        "Min-K% Prob attack score: mean of the lowest k share of token log-probs, end token left out.",
        min_k_percent,
    )
)
