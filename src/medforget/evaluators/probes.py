"""Evaluation beyond one answer per row: white-box probes (answer probability, TOFU's truth
ratio and forget quality, membership inference and MUSE's PrivLeak), hierarchy probes (child
leak, sibling damage, utility retained), the knowledge measures normalised between the retain
model and the target, and the reconstruction attack (forget questions with hierarchy context
prepended). Definitions: docs/benchmark.md section 5.

Every probe returns result entries with a bootstrap 95% interval (forget quality excepted: a
resampled p-value means little) and the version of the registered metric it computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from medforget.evaluators.aggregation import Aggregate, aggregate, bootstrap
from medforget.evaluators.hierarchy_metrics import (
    CHILD_LEAK_RATE,
    NORMALISED_KNOWLEDGE,
    RECONSTRUCTION_ATTACK,
    SIBLING_DAMAGE,
    UTILITY_RETAINED,
    child_leak_rate,
)
from medforget.evaluators.metrics import SampleScore, score_rows
from medforget.evaluators.results import MetricEntry, Reference, entry, split_direction
from medforget.evaluators.whitebox import (
    ANSWER_PROBABILITY,
    FORGET_QUALITY,
    KS_STATISTIC,
    MIA_AUC,
    PRIVLEAK,
    TRUTH_RATIO,
    TruthRatio,
    answer_probability,
    forget_quality,
    ks_statistic,
    mia_auc,
    min_k_percent,
    privleak,
    truth_ratio,
)
from medforget.models.adapters import ModelAdapter

Row = Mapping[str, Any]
#: a generation answer counts as known when its ROUGE-L reaches this; other tasks need 1
KNOWN_ROUGE = 0.5
CONTEXT_LEVELS = ("institution", "patient", "study")
#: the splits whose answer log-probabilities the white-box probes read
WHITEBOX_SPLITS = ("forget", "retain_sibling", "holdout")


def known(task: str, primary: float) -> bool:
    """Whether a row's answer counts as known: ROUGE-L at least :data:`KNOWN_ROUGE` for
    generation, a perfect score for the other tasks."""
    return primary >= (KNOWN_ROUGE if task == "generation" else 1.0)


def answer_logprobs(adapter: ModelAdapter, rows_by_split: Mapping[str, Sequence[Row]]) -> dict[str, list[float]] | None:
    """Row id -> answer token log-probabilities (the end-of-answer token last), for the rows of
    :data:`WHITEBOX_SPLITS` and their truth-ratio answers (:func:`truth_rows`); None for a
    black-box adapter. A predictions file without the truth-ratio answers gives the rows alone."""
    rows = [row for split in WHITEBOX_SPLITS for row in rows_by_split.get(split, [])]
    logprobs = adapter.answer_logprobs(rows)
    if logprobs is None:
        return None
    out = {row["id"]: list(lp) for row, lp in zip(rows, logprobs)}
    asked = truth_rows(rows)
    truth = adapter.answer_logprobs(asked) if asked else []
    out.update({row["id"]: list(lp) for row, lp in zip(asked, truth or [])})
    return out


def truth_rows(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """TOFU's truth-ratio questions: each generation row in its training wording, asked with its
    paraphrased answer (id ``<id>#paraphrased``) and each perturbed one (``<id>#perturbed-<k>``).
    Under their own ids, a predictions file cannot pass the reference answer's log-probabilities
    off as theirs."""
    out = []
    for row in rows:
        if (
            row["task"] == "generation"
            and row.get("rephrased_of") is None
            and row.get("paraphrased_answer")
            and row.get("perturbed_answers")
        ):
            out.append({**row, "id": f"{row['id']}#paraphrased", "answer": row["paraphrased_answer"]})
            out += [
                {**row, "id": f"{row['id']}#perturbed-{k}", "answer": wrong}
                for k, wrong in enumerate(row["perturbed_answers"])
            ]
    return out


def truth_ratios(rows: Sequence[Row], logprobs: Mapping[str, Sequence[float]]) -> dict[str, TruthRatio]:
    """Row id -> TOFU's truth ratio, for each row whose paraphrased and perturbed answers all
    have log-probabilities (each answer's length-normalised log-probability, as TOFU's)."""
    out = {}
    for row in rows:
        wrong = range(len(row.get("perturbed_answers") or ()))
        ids = [f"{row['id']}#paraphrased", *(f"{row['id']}#perturbed-{k}" for k in wrong)]
        if row["task"] == "generation" and wrong and all(i in logprobs for i in ids):
            means = [float(np.mean(logprobs[i])) for i in ids]
            out[row["id"]] = truth_ratio(means[0], means[1:])
    return out


def without_end(token_logprobs: Sequence[float]) -> Sequence[float]:
    """The answer's own tokens: the end-of-answer token (last) left out, as OpenUnlearning's
    min-k does; a one-token list is kept whole."""
    return token_logprobs[:-1] if len(token_logprobs) > 1 else token_logprobs


#: membership-inference attacks: name -> per-row score (higher: more member-like)
ATTACKS: Mapping[str, Callable[[Sequence[float]], float]] = {
    "loss": lambda lp: float(np.mean(lp)),
    "min_k_0.2": lambda lp: min_k_percent(without_end(lp), 0.2),
    "min_k_0.4": lambda lp: min_k_percent(without_end(lp), 0.4),
}


def whitebox(
    rows_by_split: Mapping[str, Sequence[Row]], logprobs: Mapping[str, Sequence[float]], retain: Reference | None = None
) -> list[MetricEntry]:
    """From a model's answer log-probabilities (and those of the level's retain model, when its
    run is given): answer probability per split; per attack, the MIA AUC of forget against
    holdout and MUSE's PrivLeak; TOFU's truth ratio on forget and retain_sibling, and forget
    quality (KS test against the retain model's truth ratios on the same forget questions)."""

    def rows(split: str) -> list[Row]:
        return [row for row in rows_by_split.get(split, []) if row["id"] in logprobs]

    probability = ANSWER_PROBABILITY
    out = [
        entry(
            probability,
            split,
            aggregate([answer_probability(logprobs[r["id"]]) for r in rows(split)]),
            direction=split_direction(split),
        )
        for split in WHITEBOX_SPLITS
        if rows(split)
    ]
    members, others = rows("forget"), rows("holdout")
    theirs = retain.logprobs if retain is not None else {}
    for attack, score in ATTACKS.items() if members and others else ():
        mine = [[score(logprobs[r["id"]]) for r in group] for group in (members, others)]
        out.append(
            entry(
                MIA_AUC,
                "forget-vs-holdout",
                bootstrap(mia_auc, *mine),
                name=f"mia_auc_{attack}",
            )
        )
        if all(r["id"] in theirs for r in members + others):
            reference = [[score(theirs[r["id"]]) for r in group] for group in (members, others)]
            leak = bootstrap(
                lambda m, o, rm, ro: privleak(mia_auc(m, o), mia_auc(rm, ro)),
                *mine,
                *reference,
                paired=((0, 2), (1, 3)),
            )
            out.append(entry(PRIVLEAK, "forget-vs-holdout", leak, name=f"privleak_{attack}"))
    ratios = {split: truth_ratios(rows_by_split.get(split, []), logprobs) for split in ("forget", "retain_sibling")}
    truth = TRUTH_RATIO
    for split, statistic in (("forget", "forget_score"), ("retain_sibling", "retain_score")):
        if ratios[split]:
            values = [getattr(r, statistic) for r in ratios[split].values()]
            out.append(entry(truth, split, aggregate(values), direction="higher"))
    reference_ratios = truth_ratios(rows_by_split.get("forget", []), theirs) if retain is not None else {}
    shared = [i for i in ratios["forget"] if i in reference_ratios]
    if shared:
        mine_log = [ratios["forget"][i].log_ratio for i in shared]
        their_log = [reference_ratios[i].log_ratio for i in shared]
        pvalue = Aggregate(forget_quality(mine_log, their_log), math.nan, math.nan, len(shared))  # no interval
        out.append(entry(FORGET_QUALITY, "forget", pvalue))
        out.append(
            entry(
                KS_STATISTIC,
                "forget",
                bootstrap(ks_statistic, mine_log, their_log, paired=True),
            )
        )
    return out


def child_leak(scores: Sequence[SampleScore], rows: Sequence[Row], targets: Sequence[str]) -> MetricEntry | None:
    """Share of the targets' descendant facts (forget rows not about a target itself) still known."""
    descendants = [float(known(s.task, s.primary_value)) for s, r in zip(scores, rows) if r["node_id"] not in targets]
    if not descendants:
        return None  # leaf targets have no descendants
    return entry(CHILD_LEAK_RATE, "forget", bootstrap(child_leak_rate, descendants))


def against_before(
    after: Mapping[str, Mapping[str, float]], before: Mapping[str, Mapping[str, float]]
) -> list[MetricEntry]:
    """Sibling damage (retain_sibling) and utility retained (retain_other, utility) relative to
    the model before unlearning, from per-row primary scores (``split -> id -> score``) of both
    runs, bootstrapped over the rows both runs scored."""
    out = []
    for split, metric in (
        ("retain_sibling", SIBLING_DAMAGE),
        ("retain_other", UTILITY_RETAINED),
        ("utility", UTILITY_RETAINED),
    ):
        ids = sorted(set(after.get(split, {})) & set(before.get(split, {})))
        if ids:
            result = bootstrap(
                lambda b, a, compute=metric.compute: compute(float(b.mean()), float(a.mean())),
                [before[split][i] for i in ids],
                [after[split][i] for i in ids],
                paired=True,
            )
            out.append(entry(metric, split, result))
    return out


def normalised(
    scores_by_split: Mapping[str, Sequence[SampleScore]], descendants: set[str], before: Reference, retain: Reference
) -> list[MetricEntry]:
    """The "how much is still known" numbers normalised between the level's retain model (0) and
    the target (1), on the rows all three runs scored, bootstrapped over them: the forget score
    per task and pooled (``normalised_forget``), the child leak rate over ``descendants``, per
    task and pooled (``normalised_child_leak``), and the reconstruction attack under the context
    where this model leaks most (``normalised_reconstruction``)."""
    metric = NORMALISED_KNOWLEDGE
    out: list[MetricEntry] = []

    def add(name: str, split: str, task: str, mine: Mapping[str, float], as_known: bool) -> None:
        def values(scores: Mapping[str, tuple[str, float]]) -> dict[str, float]:
            return {i: float(known(t, v)) if as_known else v for i, (t, v) in scores.items()}

        theirs = [values(reference.scores.get(split, {})) for reference in (before, retain)]
        ids = sorted(set(mine) & set(theirs[0]) & set(theirs[1]))
        if ids:
            result = bootstrap(
                lambda s, t, r: metric.compute(float(s.mean()), float(t.mean()), float(r.mean())),
                [mine[i] for i in ids],
                *([found[i] for i in ids] for found in theirs),
                paired=True,
            )
            out.append(entry(metric, split, result, name=name, task=task))

    forget = scores_by_split.get("forget", [])
    for task in [*sorted({s.task for s in forget}), "all"]:
        ours = [s for s in forget if task in ("all", s.task)]
        add("normalised_forget", "forget", task, {s.id: s.primary_value for s in ours}, as_known=False)
        add(
            "normalised_child_leak",
            "forget",
            task,
            {s.id: float(known(s.task, s.primary_value)) for s in ours if s.id in descendants},
            as_known=True,
        )
    contexts = {split: scores for split, scores in scores_by_split.items() if split.startswith("reconstruction:")}
    if contexts:
        worst = max(contexts, key=lambda split: np.mean([known(s.task, s.primary_value) for s in contexts[split]]))
        add(
            "normalised_reconstruction",
            worst,
            "all",
            {s.id: float(known(s.task, s.primary_value)) for s in contexts[worst]},
            as_known=True,
        )
    return out


def context_names(rows: Sequence[Row]) -> dict[str, str]:
    """node id -> how a prompt names it: institutions and patients by name, studies by date."""
    wanted = {("institution", "name"), ("patient", "name"), ("study", "date")}
    return {
        r["node_id"]: r["answer"]
        for r in rows
        if (r["level"], r["attribute"]) in wanted and r["task"] == "generation" and r["rephrased_of"] is None
    }


def reconstruction_attack(
    adapter: ModelAdapter, forget: Sequence[Row], names: Mapping[str, str]
) -> tuple[list[MetricEntry], dict[str, list[SampleScore]], dict[str, str]]:
    """Forget accuracy when questions carry more and more hierarchy context; the worst case.

    Each context's questions are asked under their own ids (``<id>#context-<levels>``) and
    returned with their scores and predictions, per ``reconstruction:<levels>`` split, so a
    predictions file that carries them re-scores the attack without the model."""
    metric = RECONSTRUCTION_ATTACK
    out, by_context, scores = [], {}, {}
    predictions: dict[str, str] = {}
    for context, asked in reconstruction_rows(forget, names).items():
        predictions.update(zip((r["id"] for r in asked), adapter.generate(asked)))
        scores[f"reconstruction:{context}"] = score_rows(asked, predictions)
        by_context[context] = aggregate(
            [float(known(s.task, s.primary_value)) for s in scores[f"reconstruction:{context}"]]
        )
        out.append(entry(metric, "forget", by_context[context], name=f"reconstruction:{context}"))
    measured = {context: result for context, result in by_context.items() if result.n}
    if measured:
        worst = metric.compute({context: result.value for context, result in measured.items()}).context
        out.append(entry(metric, f"forget ({worst})", measured[worst]))
    return out, scores, predictions


def reconstruction_rows(forget: Sequence[Row], names: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Per context (``institution``, ``institution+patient``, ...), the forget rows asked with it."""
    out = {}
    for depth in range(1, len(CONTEXT_LEVELS) + 1):
        context = "+".join(CONTEXT_LEVELS[:depth])
        out[context] = [
            {**r, "id": f"{r['id']}#context-{context}", "question": _with_context(r, CONTEXT_LEVELS[:depth], names)}
            for r in forget
        ]
    return out


def _with_context(row: Row, levels: Sequence[str], names: Mapping[str, str]) -> str:
    labels = {"institution": "Hospital", "patient": "Patient", "study": "Study date"}
    parts = [f"{labels[lv]}: {names[row[f'{lv}_id']]}." for lv in levels if names.get(row.get(f"{lv}_id") or "")]
    return " ".join([*parts, row["question"]])
