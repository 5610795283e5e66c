"""``medforget eval``: score a model (or submitted predictions) on one level's splits.

Writes ``RUN/predictions.jsonl`` (per sample: id, split, prediction, scores) and
``RUN/results.json`` (what was evaluated, with hashes, and every metric with its value,
bootstrap interval, n, direction and version), validated by :mod:`medforget.evaluators.results`.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import medforget
from medforget.evaluators.metrics import METRICS, SampleScore, score_rows
from medforget.evaluators.results import RESULTS_SCHEMA_VERSION, validate_results
from medforget.export import sha256_file
from medforget.hierarchy import LEVEL_SPLITS
from medforget.models.adapters import ModelAdapter, PredictionsFile

RETAIN = ("retain_sibling", "retain_other", "shared_ancestor")


def _aggregate(values: Sequence[float]) -> dict[str, float | int]:
    from medforget.evaluators import aggregate

    result = aggregate(list(values), seed=0)
    finite = result.n > 0  # an empty split has no value: null in JSON, never NaN
    return {"value": result.value if finite else None, "low": result.low if finite else None,
            "high": result.high if finite else None, "n": result.n}


def _metric(name: str, scores: Sequence[SampleScore], split: str, task: str) -> dict[str, Any]:
    info = METRICS.get(name)
    values = [s.values[name] for s in scores if name in s.values]
    return {"name": name, "split": split, "task": task, "direction": info.direction, "version": info.version,
            **_aggregate(values)}


def summarise(scores_by_split: Mapping[str, Sequence[SampleScore]]) -> list[dict[str, Any]]:
    """Every metric per split and task, the primary score per split, and the forget-retain gap."""
    out: list[dict[str, Any]] = []
    primary: dict[str, list[float]] = {}
    for split, scores in scores_by_split.items():
        by_task: dict[str, list[SampleScore]] = defaultdict(list)
        for score in scores:
            by_task[score.task].append(score)
        for task, task_scores in sorted(by_task.items()):
            names = sorted({n for s in task_scores for n in s.values})
            out += [_metric(name, task_scores, split, task) for name in names]
        primary[split] = [s.primary_value for s in scores]
        out.append({"name": "primary", "split": split, "task": "all", "direction": "higher", "version": "1.0.0",
                    **_aggregate(primary[split])})
    retain = [v for split in RETAIN for v in primary.get(split, [])]
    if retain and primary.get("forget"):
        gap = sum(retain) / len(retain) - sum(primary["forget"]) / len(primary["forget"])
        out.append({"name": "forget_retain_gap", "split": "retain-forget", "task": "all", "direction": "higher",
                    "version": "1.0.0", "value": gap, "low": None, "high": None, "n": len(retain) + len(primary["forget"])})
    return out


def _split_hashes(manifest: Mapping[str, Any], config: str) -> dict[str, str]:
    """Per split, the sha256 of its shards' sha256s in order: one hash per split."""
    import hashlib

    shards: dict[str, list[str]] = defaultdict(list)
    for shard in manifest["shards"]:
        if shard["config"] == config:
            shards[shard["split"]].append(shard["sha256"])
    return {split: hashlib.sha256("".join(shas).encode()).hexdigest() for split, shas in shards.items()}


def _commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(medforget.__file__).parent)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip() or None


def evaluate(dataset: Path, level: str, adapter: ModelAdapter, out: Path, method: str = "none",
             retain_adapter: ModelAdapter | None = None, before: Path | None = None,
             reconstruction: bool = True) -> dict[str, Any]:
    """Score ``adapter`` on ``level``'s splits of ``dataset`` and on ``utility``; write the run
    into ``out``. White-box probes run when the adapter gives log-probabilities (forget quality
    also needs ``retain_adapter``); sibling damage and utility retained need ``before``, the
    results of the model before unlearning."""
    from medforget.evaluators import probes
    from medforget.training.data import load_rows

    manifest = json.loads((dataset / "manifest.json").read_text(encoding="utf-8"))
    rows_by_split = {split: load_rows(dataset, level, split) for split in LEVEL_SPLITS}
    rows_by_split["utility"] = load_rows(dataset, "utility", "test")
    everything = [r for rows in rows_by_split.values() for r in rows]
    predictions = dict(zip((r["id"] for r in everything), adapter.generate(everything)))
    scores_by_split = {split: score_rows(rows, predictions) for split, rows in rows_by_split.items()}
    metrics = summarise(scores_by_split)
    metrics += probes.whitebox(adapter, {s: rows_by_split[s] for s in ("forget", "retain_sibling", "holdout")},
                               retain_adapter)
    leak = probes.child_leak(scores_by_split["forget"], rows_by_split["forget"], manifest["targets"][level])
    metrics += [leak] if leak else []
    if before is not None:
        metrics += probes.against_before(probes.primary_by_split(scores_by_split), _primary_of(before))
    if reconstruction and not isinstance(adapter, PredictionsFile):
        names = probes.context_names(load_rows(dataset, "train", "train"))
        metrics += probes.reconstruction_attack(adapter, rows_by_split["forget"], names)
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "medforget_version": medforget.__version__,
        "commit": _commit(),
        "dataset": {"manifest_sha256": sha256_file(dataset / "manifest.json"),
                    "splits": {**_split_hashes(manifest, level), **_split_hashes(manifest, "utility")}},
        "model": adapter.name,
        "method": method,
        "level": level,
        "metrics": metrics,
    }
    validate_results(results)
    _write(out, results, scores_by_split, predictions)
    return results


def _primary_of(run: Path) -> dict[str, float | None]:
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    validate_results(results)
    return {m["split"]: m["value"] for m in results["metrics"] if m["name"] == "primary"}


def _write(out: Path, results: Mapping[str, Any], scores_by_split: Mapping[str, Sequence[SampleScore]],
           predictions: Mapping[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as handle:
        for split, scores in scores_by_split.items():
            for score in scores:
                record = {"id": score.id, "split": split, "prediction": predictions[score.id], "scores": dict(score.values)}
                handle.write(json.dumps(record) + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
