"""``medforget eval``: score a model (or submitted predictions) on one level's splits.

Writes ``RUN/predictions.jsonl`` (per sample: id, split, prediction, scores) and
``RUN/results.json`` (what was evaluated, with hashes, and every metric with its value,
bootstrap interval, n, direction and version), validated by :mod:`medforget.evaluators.results`.

``predictions.jsonl`` is itself a valid ``--predictions`` file: it carries the answer
log-probabilities the white-box probes read, so re-scoring it gives the same numbers (less
those that need the model itself: truth ratio and forget quality). The reconstruction attack's
questions are written under ``<id>#context-<levels>`` ids, so it re-scores too.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import medforget
from medforget.errors import ConfigError
from medforget.evaluators.aggregation import aggregate, bootstrap
from medforget.evaluators.base import MetricInfo
from medforget.evaluators.hierarchy_metrics import HIERARCHY_METRICS, forget_retain_gap
from medforget.evaluators.judge import Judge, judge_splits
from medforget.evaluators.metrics import METRICS, SampleScore, score_rows
from medforget.evaluators.results import RESULTS_SCHEMA_VERSION, ResultsError, entry, validate_results
from medforget.export import sha256_file
from medforget.hierarchy import LEVEL_SPLITS
from medforget.models.adapters import ModelAdapter, PredictionsFile

RETAIN = ("retain_sibling", "retain_other", "shared_ancestor")


#: the per-row primary score (each task's primary metric), aggregated over a split's tasks
PRIMARY_INFO = MetricInfo("primary", "1.0.0", "higher", "Mean of each row's primary metric over every task.")


def summarise(scores_by_split: Mapping[str, Sequence[SampleScore]]) -> list[dict[str, Any]]:
    """Every metric per split and task, the primary score per split, and the forget-retain gap."""
    out: list[dict[str, Any]] = []
    for split, scores in scores_by_split.items():
        by_task: dict[str, list[SampleScore]] = defaultdict(list)
        for score in scores:
            by_task[score.task].append(score)
        for task, task_scores in sorted(by_task.items()):
            names = sorted({n for s in task_scores for n in s.values})
            out += [entry(METRICS.get(name), split, aggregate([s.values[name] for s in task_scores if name in s.values]),
                          task=task) for name in names]
        out.append(entry(PRIMARY_INFO, split, aggregate([s.primary_value for s in scores])))
    retain = [s.primary_value for split in RETAIN for s in scores_by_split.get(split, [])]
    forget = [s.primary_value for s in scores_by_split.get("forget", [])]
    gap = bootstrap(lambda r, f: forget_retain_gap(float(r.mean()), float(f.mean())), retain, forget)
    if gap.n:
        out.append(entry(HIERARCHY_METRICS.get("forget_retain_gap"), "retain-forget", gap))
    return out


def _split_hashes(manifest: Mapping[str, Any], config: str) -> dict[str, str]:
    """Per split, the sha256 of its shards' sha256s in order: one hash per split."""
    import hashlib

    shards: dict[str, list[str]] = defaultdict(list)
    for shard in manifest["shards"]:
        if shard["config"] == config:
            shards[shard["split"]].append(shard["sha256"])
    return {split: hashlib.sha256("".join(shas).encode()).hexdigest() for split, shas in shards.items()}


def code_commit() -> str | None:
    """The commit of the medforget code that ran, with ``-dirty`` when tracked files differ from
    it; None outside a git checkout (an installed wheel)."""
    here = Path(medforget.__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=here)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "."], capture_output=True, check=False, cwd=here)
    except (OSError, subprocess.CalledProcessError):
        return None
    commit = head.stdout.strip()
    return (commit + ("-dirty" if dirty.returncode == 1 else "")) if commit else None


def evaluate(dataset: Path, level: str, adapter: ModelAdapter, out: Path, method: str = "none",
             retain_adapter: ModelAdapter | None = None, before: Path | None = None,
             reconstruction: bool = True, judge: Judge | None = None) -> dict[str, Any]:
    """Score ``adapter`` on ``level``'s splits of ``dataset`` and on ``utility``; write the run
    into ``out``. White-box probes run when the adapter gives log-probabilities (forget quality
    also needs ``retain_adapter``); sibling damage and utility retained need ``before``, the run
    of the model before unlearning on the same dataset and level; LLM factuality and
    MedForget's combined score need a ``judge``."""
    from medforget.evaluators import probes
    from medforget.training.data import load_rows, read_manifest

    manifest = read_manifest(dataset)
    described = dataset_record(dataset, manifest, level)
    before_scores = _primary_scores(before, described, level) if before is not None else None
    pixels = not isinstance(adapter, PredictionsFile)  # predictions are scored on text alone
    rows_by_split = {split: load_rows(dataset, level, split, pixels) for split in LEVEL_SPLITS}
    rows_by_split["utility"] = load_rows(dataset, "utility", "test", pixels)
    everything = [r for rows in rows_by_split.values() for r in rows]
    predictions = dict(zip((r["id"] for r in everything), adapter.generate(everything)))
    scores_by_split = {split: score_rows(rows, predictions) for split, rows in rows_by_split.items()}
    metrics = summarise(scores_by_split)
    logprobs = probes.answer_logprobs(adapter, rows_by_split)
    if logprobs is not None:
        metrics += probes.whitebox(adapter, rows_by_split, logprobs, retain_adapter)
    leak = probes.child_leak(scores_by_split["forget"], rows_by_split["forget"], manifest["targets"][level])
    metrics += [leak] if leak else []
    if before_scores is not None:
        after = {split: {s.id: s.primary_value for s in scores} for split, scores in scores_by_split.items()}
        metrics += probes.against_before(after, before_scores)
    written = dict(scores_by_split)
    if reconstruction:
        names = probes.context_names(load_rows(dataset, "train", "train", images=False))
        asked = [r for rows in probes.reconstruction_rows(rows_by_split["forget"], names).values() for r in rows]
        if not isinstance(adapter, PredictionsFile) or adapter.covers(asked):
            attack, attack_scores, attack_predictions = probes.reconstruction_attack(
                adapter, rows_by_split["forget"], names)
            metrics += attack
            written.update(attack_scores)
            predictions.update(attack_predictions)
    factuality: dict[str, float | None] = {}
    if judge is not None:
        judged, factuality = judge_splits(judge, rows_by_split, scores_by_split, predictions)
        metrics += judged
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "medforget_version": medforget.__version__,
        "commit": code_commit(),
        "dataset": described,
        "model": adapter.name,
        "method": method,
        "judge": {"name": judge.name, "version": judge.version} if judge is not None else None,
        "level": level,
        "metrics": metrics,
    }
    validate_results(results)
    extra = {row["id"]: {"logprobs": list(lp)} for split, lps in (logprobs or {}).items()
             for row, lp in zip(rows_by_split[split], lps)}
    for row_id, value in factuality.items():
        extra.setdefault(row_id, {})["judge_factuality"] = value
    _write(out, results, written, predictions, extra)
    return results


def dataset_record(dataset: Path, manifest: Mapping[str, Any], level: str) -> dict[str, Any]:
    if level not in manifest["targets"]:
        raise ConfigError(f"{dataset} has no level {level!r}; its levels are {', '.join(manifest['targets'])}")
    return {"manifest_sha256": sha256_file(dataset / "manifest.json"),
            "splits": {**_split_hashes(manifest, level), **_split_hashes(manifest, "utility")}}


def _primary_scores(run: Path, dataset: Mapping[str, Any], level: str) -> dict[str, dict[str, float]]:
    """Per split, row id -> primary score of an earlier run, which must have evaluated the same
    data at the same level (numbers from different data are never compared)."""
    if not (run / "results.json").is_file() or not (run / "predictions.jsonl").is_file():
        raise ResultsError(f"{run} is not an evaluation run (no results.json and predictions.jsonl); "
                           "--before takes the --out folder of `medforget eval` on the model before unlearning")
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    validate_results(results)
    if results["dataset"] != dataset or results["level"] != level:
        raise ResultsError(f"{run} evaluated other data (level {results['level']!r}, manifest "
                           f"{results['dataset']['manifest_sha256'][:12]}) than this run (level {level!r}, "
                           f"manifest {dataset['manifest_sha256'][:12]}); --before must be the same dataset and level")
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    for number, line in enumerate((run / "predictions.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        record = json.loads(line)
        if not isinstance(record.get("primary"), (int, float)):
            raise ResultsError(f"{run / 'predictions.jsonl'}:{number} has no primary score; re-run its evaluation")
        scores[record["split"]][record["id"]] = float(record["primary"])
    return dict(scores)


def _write(out: Path, results: Mapping[str, Any], scores_by_split: Mapping[str, Sequence[SampleScore]],
           predictions: Mapping[str, str], extra: Mapping[str, Mapping[str, Any]]) -> None:
    """predictions.jsonl (one record per scored row, with its log-probabilities and judgement
    where measured), then results.json."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as handle:
        for split, scores in scores_by_split.items():
            for score in scores:
                record = {"id": score.id, "split": split, "task": score.task, "prediction": predictions[score.id],
                          "primary": score.primary_value, "scores": dict(score.values), **extra.get(score.id, {})}
                handle.write(json.dumps(record) + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
