"""Evaluation beyond one answer per row: white-box probes (answer probability, truth ratio,
forget quality, membership inference), hierarchy probes (child leak, sibling damage, utility
retained) and the reconstruction attack (forget questions with hierarchy context prepended).

Every probe returns result entries with a bootstrap 95% interval and the version of the
registered metric it computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medforget.evaluators.aggregation import aggregate, bootstrap
from medforget.evaluators.hierarchy_metrics import (
    HIERARCHY_METRICS,
    child_leak_rate,
)
from medforget.evaluators.metrics import SampleScore, score_rows
from medforget.evaluators.results import entry
from medforget.evaluators.whitebox import (
    WHITEBOX_METRICS,
    TruthRatio,
    answer_probability,
    forget_quality,
    mia_auc,
    min_k_percent,
    truth_ratio,
)
from medforget.models.adapters import ModelAdapter

Row = Mapping[str, Any]
#: a generation answer counts as known when its ROUGE-L reaches this; other tasks need 1
KNOWN_ROUGE = 0.5
CONTEXT_LEVELS = ("institution", "patient", "study")
#: the splits whose answer log-probabilities the white-box probes read
WHITEBOX_SPLITS = ("forget", "retain_sibling", "holdout")


def known(score: SampleScore) -> bool:
    threshold = KNOWN_ROUGE if score.task == "generation" else 1.0
    return score.primary_value >= threshold


def answer_logprobs(adapter: ModelAdapter, rows_by_split: Mapping[str, Sequence[Row]]
                    ) -> dict[str, list[list[float]]] | None:
    """Per split of :data:`WHITEBOX_SPLITS`, each row's answer token log-probabilities; None
    for a black-box adapter."""
    out = {}
    for split in WHITEBOX_SPLITS:
        logprobs = adapter.answer_logprobs(rows_by_split.get(split, []))
        if logprobs is None:
            return None
        out[split] = logprobs
    return out


def whitebox(adapter: ModelAdapter, rows_by_split: Mapping[str, Sequence[Row]],
             logprobs: Mapping[str, Sequence[Sequence[float]]],
             retain_adapter: ModelAdapter | None = None) -> list[dict[str, Any]]:
    """Answer probability per split, MIA AUC of forget against holdout, truth ratio on forget,
    and forget quality against a retain model's truth ratios."""
    probability = WHITEBOX_METRICS.get("answer_probability")
    out = [entry(probability, split, aggregate([answer_probability(lp) for lp in lps]),
                 direction="lower" if "forget" in split else "higher") for split, lps in logprobs.items()]
    members, others = logprobs["forget"], logprobs["holdout"]
    for name, attack in (("mia_auc_loss", np.mean), ("mia_auc_min_k", min_k_percent)):
        result = bootstrap(mia_auc, [attack(lp) for lp in members], [attack(lp) for lp in others])
        out.append(entry(WHITEBOX_METRICS.get("mia_auc"), "forget-vs-holdout", result, name=name))
    ratios = truth_ratios(adapter, rows_by_split["forget"])
    if ratios:
        out.append(entry(WHITEBOX_METRICS.get("truth_ratio"), "forget", aggregate([r.forget_score for r in ratios])))
        reference = truth_ratios(retain_adapter, rows_by_split["forget"]) if retain_adapter else None
        if reference:
            result = bootstrap(forget_quality, [r.log_ratio for r in ratios], [r.log_ratio for r in reference],
                               paired=True)
            out.append(entry(WHITEBOX_METRICS.get("forget_quality"), "forget", result))
    return out


def _truth_ratio_items(rows: Sequence[Row]) -> list[tuple[Row, list[str]]]:
    """(generation image row, wrong answers) for each fact with a classification row: its
    distractors are the perturbed answers, as TOFU's perturbed set."""
    options = {r["fact_id"]: [o for o in r["options"] if o != r["options"]["ABCD".index(r["answer"])]]
               for r in rows if r["task"] == "classification" and r["rephrased_of"] is None}
    return [(r, options[r["fact_id"]]) for r in rows
            if r["task"] == "generation" and r["rephrased_of"] is None and r["fact_id"] in options]


def truth_ratios(adapter: ModelAdapter, rows: Sequence[Row]) -> list[TruthRatio] | None:
    """The truth ratio of each question, or None when the adapter gives no log-probabilities.

    Perturbed answers are asked under their own ids (``<id>#perturbed-<k>``), so a predictions
    file, which holds log-probabilities of the reference answers only, cannot pass them off as
    log-probabilities of wrong answers."""
    items = _truth_ratio_items(rows)
    asked = [row for row, _ in items] + [{**row, "id": f"{row['id']}#perturbed-{k}", "answer": wrong}
                                         for row, wrongs in items for k, wrong in enumerate(wrongs)]
    logprobs = adapter.answer_logprobs(asked) if asked else []
    if logprobs is None:
        return None
    means = [float(np.mean(lp)) for lp in logprobs]
    true, false = means[: len(items)], iter(means[len(items) :])
    return [truth_ratio(t, [next(false) for _ in wrongs]) for t, (_, wrongs) in zip(true, items)]


def child_leak(scores: Sequence[SampleScore], rows: Sequence[Row], targets: Sequence[str]) -> dict[str, Any] | None:
    """Share of the targets' descendant facts (forget rows not about a target itself) still known."""
    descendants = [float(known(s)) for s, r in zip(scores, rows) if r["node_id"] not in targets]
    if not descendants:
        return None  # leaf targets have no descendants
    return entry(HIERARCHY_METRICS.get("child_leak_rate"), "forget", bootstrap(child_leak_rate, descendants))


def against_before(after: Mapping[str, Mapping[str, float]], before: Mapping[str, Mapping[str, float]]
                   ) -> list[dict[str, Any]]:
    """Sibling damage (retain_sibling) and utility retained (retain_other, utility) relative to
    the model before unlearning, from per-row primary scores (``split -> id -> score``) of both
    runs, bootstrapped over the rows both runs scored."""
    out = []
    for split, name in (("retain_sibling", "sibling_damage"), ("retain_other", "utility_retained"),
                        ("utility", "utility_retained")):
        ids = sorted(set(after.get(split, {})) & set(before.get(split, {})))
        if ids:
            metric = HIERARCHY_METRICS.get(name)
            result = bootstrap(lambda b, a, compute=metric.compute: compute(float(b.mean()), float(a.mean())),
                               [before[split][i] for i in ids], [after[split][i] for i in ids], paired=True)
            out.append(entry(metric, split, result))
    return out


def context_names(rows: Sequence[Row]) -> dict[str, str]:
    """node id -> how a prompt names it: institutions and patients by name, studies by date."""
    wanted = {("institution", "name"), ("patient", "name"), ("study", "date")}
    return {r["node_id"]: r["answer"] for r in rows
            if (r["level"], r["attribute"]) in wanted and r["task"] == "generation" and r["rephrased_of"] is None}


def reconstruction_attack(adapter: ModelAdapter, forget: Sequence[Row], names: Mapping[str, str]
                          ) -> tuple[list[dict[str, Any]], dict[str, list[SampleScore]], dict[str, str]]:
    """Forget accuracy when questions carry more and more hierarchy context; the worst case.

    Each context's questions are asked under their own ids (``<id>#context-<levels>``) and
    returned with their scores and predictions, per ``reconstruction:<levels>`` split, so a
    predictions file that carries them re-scores the attack without the model."""
    metric = HIERARCHY_METRICS.get("reconstruction_attack")
    out, by_context, scores, predictions = [], {}, {}, {}
    for context, asked in reconstruction_rows(forget, names).items():
        predictions.update(zip((r["id"] for r in asked), adapter.generate(asked)))
        scores[f"reconstruction:{context}"] = score_rows(asked, predictions)
        by_context[context] = aggregate([float(known(s)) for s in scores[f"reconstruction:{context}"]])
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
        out[context] = [{**r, "id": f"{r['id']}#context-{context}",
                         "question": _with_context(r, CONTEXT_LEVELS[:depth], names)} for r in forget]
    return out


def _with_context(row: Row, levels: Sequence[str], names: Mapping[str, str]) -> str:
    labels = {"institution": "Hospital", "patient": "Patient", "study": "Study date"}
    parts = [f"{labels[lv]}: {names[row[f'{lv}_id']]}." for lv in levels if names.get(row.get(f"{lv}_id") or "")]
    return " ".join([*parts, row["question"]])
