"""``medforget eval``: score a model (or submitted predictions) on one level's splits.

Writes ``RUN/predictions.jsonl`` (per sample: id, split, prediction, scores) and
``RUN/results.json`` (what was evaluated, with hashes, and every metric with its value,
bootstrap interval, n, direction and version), validated by :mod:`medforget.evaluators.results`.

``predictions.jsonl`` is itself a valid ``--predictions`` file: it carries the answer
log-probabilities the white-box probes read, those of the truth ratio's paraphrased and
perturbed answers (records of their own, ``<id>#paraphrased`` and ``<id>#perturbed-<k>``,
log-probabilities only), and the reconstruction attack's answers under ``<id>#context-<levels>``
ids, so re-scoring it gives every number again. What the metrics mean: docs/benchmark.md
section 5.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import medforget
from medforget.dataset import Manifest
from medforget.errors import ConfigError
from medforget.evaluators.aggregation import aggregate, bootstrap
from medforget.evaluators.base import MetricInfo
from medforget.evaluators.hierarchy_metrics import FORGET_RETAIN_GAP
from medforget.evaluators.judge import Judge, judge_splits
from medforget.evaluators.metrics import METRICS, SampleScore, score_rows
from medforget.evaluators.results import (
    EvaluatedData,
    JudgeInfo,
    MetricEntry,
    References,
    Results,
    entry,
    read_reference,
    split_direction,
)
from medforget.hierarchy import LEVEL_SPLITS
from medforget.llm.data_use import LOOPBACK_ONLY, DataUse
from medforget.models.adapters import ModelAdapter, PredictionsFile
from medforget.outputs import sha256_file
from medforget.records import to_json
from medforget.reproducibility import code_commit

RETAIN = ("retain_sibling", "retain_other", "shared_ancestor")


#: the per-row primary score (each task's primary metric), aggregated over a split's tasks
PRIMARY_INFO = MetricInfo("primary", "2.0.0", "higher", "Mean of each row's primary metric over every task.")


def summarise(scores_by_split: Mapping[str, Sequence[SampleScore]]) -> list[MetricEntry]:
    """Every metric per split and task and the primary score per split, each with its direction
    on that split; the forget-retain gap pooled, per task (as MedForget reports it) and per
    retain split."""
    out: list[MetricEntry] = []
    for split, scores in scores_by_split.items():
        direction = split_direction(split)
        by_task: dict[str, list[SampleScore]] = defaultdict(list)
        for score in scores:
            by_task[score.task].append(score)
        for task, task_scores in sorted(by_task.items()):
            names = sorted({n for s in task_scores for n in s.values})
            out += [
                entry(
                    METRICS.get(name),
                    split,
                    aggregate([s.values[name] for s in task_scores if name in s.values]),
                    task=task,
                    direction=direction,
                )
                for name in names
            ]
        out.append(entry(PRIMARY_INFO, split, aggregate([s.primary_value for s in scores]), direction=direction))
    forget = scores_by_split.get("forget", [])

    def add(split: str, task: str, retain: Sequence[SampleScore], forgotten: Sequence[SampleScore]) -> None:
        result = bootstrap(
            lambda r, f: FORGET_RETAIN_GAP.compute(float(r.mean()), float(f.mean())),
            [s.primary_value for s in retain],
            [s.primary_value for s in forgotten],
        )
        if result.n:
            out.append(entry(FORGET_RETAIN_GAP, split, result, task=task))

    pooled = [s for split in RETAIN for s in scores_by_split.get(split, [])]
    add("retain-forget", "all", pooled, forget)
    for task in sorted({s.task for s in forget}):
        add("retain-forget", task, [s for s in pooled if s.task == task], [s for s in forget if s.task == task])
    for split in RETAIN:
        add(f"{split}-forget", "all", scores_by_split.get(split, []), forget)
    return out


def _split_hashes(manifest: Manifest, config: str) -> dict[str, str]:
    """Per split, the sha256 of its shards' sha256s in order: one hash per split."""
    import hashlib

    shards: dict[str, list[str]] = defaultdict(list)
    for shard in manifest.shards:
        if shard.config == config:
            shards[shard.split].append(shard.sha256)
    return {split: hashlib.sha256("".join(shas).encode()).hexdigest() for split, shas in shards.items()}


def evaluate(
    dataset: Path,
    level: str,
    adapter: ModelAdapter,
    out: Path,
    method: str = "none",
    before: Path | None = None,
    retain: Path | None = None,
    reconstruction: bool = True,
    judge: Judge | None = None,
    data_use: DataUse = LOOPBACK_ONLY,
    limit: int | None = None,
) -> Results:
    """Score ``adapter`` on ``level``'s splits of ``dataset`` and on ``utility``; write the run
    into ``out``. White-box probes run when the adapter gives log-probabilities. Two earlier
    runs on the same dataset and level are references: ``before``, the model before unlearning
    (sibling damage, utility retained), and ``retain``, the level's retain model (PrivLeak,
    forget quality); with both, every "how much is still known" number is also normalised
    between them. LLM factuality and MedForget's combined score need a ``judge``. An adapter or
    judge behind an endpoint (its ``endpoint_url``) must be local when a source's licence keeps
    its text on this machine, unless ``data_use`` allows it (:mod:`medforget.llm.data_use`).
    ``limit`` scores at most that many rows of each split (a seeded sample, recorded in the
    results): a quick look at a large model, never a submission."""
    from medforget.dataset import load_rows, read_manifest, sample_rows
    from medforget.evaluators import probes

    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1 row per split, not {limit}")
    manifest = read_manifest(dataset)
    for part, what in ((adapter, "its questions and images to the model"), (judge, "its answers to the judge")):
        url = getattr(part, "endpoint_url", None)
        if url is not None:
            data_use.check(url, manifest.local_only(), f"{dataset.name}'s rows ({what})")
    described = dataclasses.replace(dataset_record(dataset, manifest, level), limit=limit)
    before_run = read_reference(before, described, level, "--before") if before is not None else None
    retain_run = read_reference(retain, described, level, "--retain") if retain is not None else None
    pixels = not isinstance(adapter, PredictionsFile)  # predictions are scored on text alone
    places = {**{split: (level, split) for split in LEVEL_SPLITS}, "utility": ("utility", "test")}
    rows_by_split = {split: sample_rows(load_rows(dataset, *place, pixels), limit) for split, place in places.items()}
    everything = [r for rows in rows_by_split.values() for r in rows]
    predictions = dict(zip((r["id"] for r in everything), adapter.generate(everything)))
    scores_by_split = {split: score_rows(rows, predictions) for split, rows in rows_by_split.items()}
    metrics = summarise(scores_by_split)
    logprobs = probes.answer_logprobs(adapter, rows_by_split)
    if logprobs is not None:
        metrics += probes.whitebox(rows_by_split, logprobs, retain_run)
    targets = manifest.targets[level]
    leak = probes.child_leak(scores_by_split["forget"], rows_by_split["forget"], targets)
    metrics += [leak] if leak else []
    if before_run is not None:
        after = {split: {s.id: s.primary_value for s in scores} for split, scores in scores_by_split.items()}
        metrics += probes.against_before(after, {split: before_run.primary(split) for split in before_run.scores})
    written = dict(scores_by_split)
    if reconstruction:
        names = probes.context_names(load_rows(dataset, "train", "train", images=False))
        asked = [r for rows in probes.reconstruction_rows(rows_by_split["forget"], names).values() for r in rows]
        if not isinstance(adapter, PredictionsFile) or adapter.covers(asked):
            attack, attack_scores, attack_predictions = probes.reconstruction_attack(
                adapter, rows_by_split["forget"], names
            )
            metrics += attack
            written.update(attack_scores)
            predictions.update(attack_predictions)
    if before_run is not None and retain_run is not None:
        descendants = {r["id"] for r in rows_by_split["forget"] if r["node_id"] not in targets}
        metrics += probes.normalised(written, descendants, before_run, retain_run)
    factuality: dict[str, float | None] = {}
    if judge is not None:
        judged, factuality = judge_splits(judge, rows_by_split, scores_by_split, predictions)
        metrics += judged
    results = Results(
        medforget_version=medforget.__version__,
        commit=code_commit(),
        dataset=described,
        model=adapter.name,
        method=method,
        judge=JudgeInfo(judge.name, judge.version) if judge is not None else None,
        level=level,
        references=References(*(str(run) if run is not None else None for run in (before, retain))),
        metrics=tuple(metrics),
    )
    extra: dict[str, dict[str, Any]] = {row_id: {"logprobs": lp} for row_id, lp in (logprobs or {}).items()}
    for row_id, value in factuality.items():
        extra.setdefault(row_id, {})["judge_factuality"] = value
    _write(out, results, written, predictions, extra)
    return results


def dataset_record(dataset: Path, manifest: Manifest, level: str) -> EvaluatedData:
    if level not in manifest.targets:
        raise ConfigError(f"{dataset} has no level {level!r}; its levels are {', '.join(manifest.targets)}")
    return EvaluatedData(
        manifest_sha256=sha256_file(dataset / "manifest.json"),
        splits={**_split_hashes(manifest, level), **_split_hashes(manifest, "utility")},
    )


def _write(
    out: Path,
    results: Results,
    scores_by_split: Mapping[str, Sequence[SampleScore]],
    predictions: Mapping[str, str],
    extra: Mapping[str, Mapping[str, Any]],
) -> None:
    """predictions.jsonl (one record per scored row, with its log-probabilities and judgement
    where measured), then results.json."""
    out.mkdir(parents=True, exist_ok=True)
    scored = {score.id for scores in scores_by_split.values() for score in scores}
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as handle:
        for split, scores in scores_by_split.items():
            for score in scores:
                record = {
                    "id": score.id,
                    "split": split,
                    "task": score.task,
                    "prediction": predictions[score.id],
                    "primary": score.primary_value,
                    "scores": dict(score.values),
                    **extra.get(score.id, {}),
                }
                handle.write(json.dumps(record) + "\n")
        for row_id, values in extra.items():  # the truth ratio's answers: log-probabilities, no prediction
            if row_id not in scored:
                handle.write(json.dumps({"id": row_id, "split": "truth_ratio", **values}) + "\n")
    (out / "results.json").write_text(json.dumps(to_json(results), indent=2) + "\n", encoding="utf-8")
