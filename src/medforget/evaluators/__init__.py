"""Evaluation metrics: per-sample scores, bootstrap aggregates, white-box and hierarchy-aware
headline metrics. Every metric is a frozen record with a name, version, direction and
one-sentence description, registered in one of :data:`REGISTRIES` (the leaderboard reads them)."""

from medforget.evaluators.aggregation import Aggregate, ScoreSummary, aggregate, bootstrap, summarize
from medforget.evaluators.base import Direction, MetricInfo, MetricInputError, MissingPredictionError
from medforget.evaluators.hierarchy_metrics import (
    HIERARCHY_METRICS,
    HierarchyMetric,
    WorstContext,
    child_leak_rate,
    forget_retain_gap,
    reconstruction_attack,
    sibling_damage,
    utility_retained,
)
from medforget.evaluators.judge import JUDGE_METRICS, EndpointJudge, Judge, medforget_score
from medforget.evaluators.metrics import (
    METRICS,
    PRIMARY,
    Metric,
    SampleScore,
    blank_content,
    metrics_for,
    normalize_answer,
    parse_option,
    rouge_l_f1,
    score_row,
    score_rows,
)
from medforget.evaluators.whitebox import (
    WHITEBOX_METRICS,
    TruthRatio,
    WhiteboxMetric,
    answer_probability,
    forget_quality,
    mia_auc,
    min_k_percent,
    truth_ratio,
)

#: every metric registry, per-sample first
REGISTRIES = (METRICS, WHITEBOX_METRICS, HIERARCHY_METRICS, JUDGE_METRICS)

__all__ = [
    "HIERARCHY_METRICS",
    "JUDGE_METRICS",
    "METRICS",
    "PRIMARY",
    "REGISTRIES",
    "WHITEBOX_METRICS",
    "Aggregate",
    "Direction",
    "EndpointJudge",
    "HierarchyMetric",
    "Judge",
    "Metric",
    "MetricInfo",
    "MetricInputError",
    "MissingPredictionError",
    "SampleScore",
    "ScoreSummary",
    "TruthRatio",
    "WhiteboxMetric",
    "WorstContext",
    "aggregate",
    "answer_probability",
    "blank_content",
    "bootstrap",
    "child_leak_rate",
    "forget_quality",
    "forget_retain_gap",
    "medforget_score",
    "metrics_for",
    "mia_auc",
    "min_k_percent",
    "normalize_answer",
    "parse_option",
    "reconstruction_attack",
    "rouge_l_f1",
    "score_row",
    "score_rows",
    "sibling_damage",
    "summarize",
    "truth_ratio",
    "utility_retained",
]
