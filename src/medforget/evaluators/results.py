"""The results schema: what ``RUN/results.json`` holds, declared once as the :class:`Results`
record (with :class:`MetricEntry`, one per aggregate), written by the evaluation and read back
by :func:`read_results` with every field's type checked (the leaderboard recomputes from
predictions, but reads these fields); :func:`entry`, the one way a metric's aggregate becomes
an entry, with its direction on its split (:func:`split_direction`); and :class:`Reference`,
an earlier run read back as the metrics measured against it need it (the target before
unlearning, the level's retain model).

Schema versions: 1 had no direction per split and no retain-model metrics; 2 (this one) states
each entry's direction for its split and adds PrivLeak, TOFU's truth ratio and forget quality
from paraphrased and perturbed answers, and the normalised knowledge measures.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medforget.errors import MedForgetError
from medforget.evaluators.aggregation import Aggregate
from medforget.evaluators.base import Direction, MetricInfo
from medforget.records import from_json, optional

RESULTS_SCHEMA_VERSION = 2
#: splits whose rows the unlearned model should no longer know
FORGET_SIDE = ("forget", "forget_rephrased")


class ResultsError(MedForgetError):
    """A results file does not follow the results schema."""


@dataclass(frozen=True)
class MetricEntry:
    """One aggregate of one metric on one split (and task).

    Attributes:
        name: the metric, or a variant of it (``mia_auc_loss``, ``reconstruction:patient``).
        split: the split it was measured on (``forget``, ``retain-forget`` for a gap, ...).
        task: ``generation``, ``classification``, ``cloze`` or ``all``.
        direction: what is better for this entry (see :func:`split_direction`).
        version: the metric's version.
        value, low, high: the aggregate and its bootstrap interval; null where there is no data
            (or, for a p-value, no interval).
        n: how many rows (or facts) it aggregates.
        failed: judged metrics only: how many judgements failed (left out, never scored 0).
    """

    name: str
    split: str
    task: str
    direction: Direction
    version: str
    value: float | None
    low: float | None
    high: float | None
    n: int
    failed: int | None = optional()


@dataclass(frozen=True)
class EvaluatedData:
    """What was evaluated: the manifest's sha256, per split the hash of its shards' hashes, and
    ``limit``: at most that many rows of each split, a seeded sample (a smoke run; a submission
    refuses it), or absent: every row."""

    manifest_sha256: str
    splits: Mapping[str, str]
    limit: int | None = optional()


@dataclass(frozen=True)
class JudgeInfo:
    name: str
    version: str


@dataclass(frozen=True)
class References:
    """The runs this one was measured against: the model before unlearning and the retain model."""

    before: str | None = None
    retain: str | None = None


@dataclass(frozen=True, kw_only=True)
class Results:
    """``RUN/results.json``: what was evaluated, by which code (``commit``, when known) and
    against which runs, and every metric entry; the fields in the order the file has them."""

    schema_version: int = RESULTS_SCHEMA_VERSION
    medforget_version: str
    commit: str | None = None
    dataset: EvaluatedData
    model: str
    method: str
    judge: JudgeInfo | None = None
    level: str
    references: References = References()
    metrics: tuple[MetricEntry, ...]

    def find(self, name: str, split: str | None = None, task: str = "all") -> MetricEntry | None:
        """The first entry of ``name`` for ``task`` (on ``split``, when given), or None."""
        return next(
            (m for m in self.metrics if m.name == name and m.task == task and (split is None or m.split == split)),
            None,
        )

    def value(self, name: str, split: str | None = None, task: str = "all") -> float | None:
        found = self.find(name, split, task)
        return found.value if found is not None else None

    def values(self) -> dict[tuple[str, str, str], float | None]:
        """(name, split, task) -> value of every entry: how two runs' numbers are compared."""
        return {(m.name, m.split, m.task): m.value for m in self.metrics}


def split_direction(split: str) -> Direction:
    """What is better for a "how much is reproduced" score on ``split``: lower on the forget side
    (forget, its rephrasings, the reconstruction attack's prompts), the retain model's value on
    holdout (never trained on by anyone), higher everywhere else."""
    if split in FORGET_SIDE or split.startswith("reconstruction:"):
        return "lower"
    return "retain" if split == "holdout" else "higher"


def entry(
    info: MetricInfo,
    split: str,
    result: Aggregate,
    name: str | None = None,
    direction: Direction | None = None,
    task: str = "all",
    failed: int | None = None,
) -> MetricEntry:
    """A result entry for a registered metric: its version, and its direction (the metric's own
    unless given: a score's direction depends on its split, see :func:`split_direction`).
    ``name`` names a variant (``mia_auc_loss``); NaN, meaning no data, becomes null."""

    def number(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    return MetricEntry(
        name=name or info.name,
        split=split,
        task=task,
        direction=direction or info.direction,
        version=info.version,
        value=number(result.value),
        low=number(result.low),
        high=number(result.high),
        n=result.n,
        failed=failed,
    )


def parse_results(data: object, where: str = "results") -> Results:
    """Parsed JSON as :class:`Results`, or :class:`ResultsError` naming the first field that is
    missing or of the wrong type; another schema version is refused saying what to do."""
    if not isinstance(data, Mapping) or next(iter(data), None) != "schema_version":
        raise ResultsError(f"{where} must be an object whose first key is schema_version")
    version = data["schema_version"]
    if version != RESULTS_SCHEMA_VERSION:
        older = isinstance(version, int) and version < RESULTS_SCHEMA_VERSION
        raise ResultsError(
            f"{where} schema_version {version!r} is "
            + (
                f"older than this medforget's ({RESULTS_SCHEMA_VERSION}): its metrics changed meaning (directions "
                "per split, PrivLeak, TOFU truth ratio); evaluate again with this version"
                if older
                else f"unknown; expected {RESULTS_SCHEMA_VERSION}"
            )
        )
    return from_json(Results, data, where, ResultsError)


def read_results(run: Path) -> Results:
    """``run/results.json`` as :class:`Results` (a missing or malformed file is a ResultsError)."""
    path = run / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path} is missing or not JSON ({err}); pass the --out folder of `medforget eval`") from err
    return parse_results(data, str(path))


@dataclass(frozen=True)
class Reference:
    """An earlier evaluation run of another model on the same data and level.

    Attributes:
        path: its folder.
        scores: split -> row id -> (task, primary score), as its predictions.jsonl recorded.
        logprobs: row id -> answer token log-probabilities (rows and truth-ratio answers).
    """

    path: Path
    scores: Mapping[str, Mapping[str, tuple[str, float]]]
    logprobs: Mapping[str, list[float]]

    def primary(self, split: str) -> dict[str, float]:
        return {row_id: value for row_id, (_, value) in self.scores.get(split, {}).items()}


def read_reference(run: Path, dataset: EvaluatedData, level: str, role: str) -> Reference:
    """The run in ``run``, which must have evaluated the same data at the same level (numbers
    from different data are never compared); ``role`` names it in errors (``--before``)."""
    if not (run / "results.json").is_file() or not (run / "predictions.jsonl").is_file():
        raise ResultsError(
            f"{run} is not an evaluation run (no results.json and predictions.jsonl); "
            f"{role} takes the --out folder of `medforget eval`"
        )
    results = read_results(run)
    if results.dataset != dataset or results.level != level:
        raise ResultsError(
            f"{run} evaluated other data (level {results.level!r}, manifest "
            f"{results.dataset.manifest_sha256[:12]}) than this run (level {level!r}, "
            f"manifest {dataset.manifest_sha256[:12]}); {role} must be the same dataset and level"
        )
    scores: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)
    logprobs: dict[str, list[float]] = {}
    for number, line in enumerate((run / "predictions.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        record = json.loads(line)
        if isinstance(record.get("logprobs"), list):
            logprobs[record["id"]] = [float(x) for x in record["logprobs"]]
        if "prediction" not in record:  # a truth-ratio answer: log-probabilities only
            continue
        if not isinstance(record.get("primary"), (int, float)):
            raise ResultsError(f"{run / 'predictions.jsonl'}:{number} has no primary score; re-run its evaluation")
        scores[record["split"]][record["id"]] = (str(record["task"]), float(record["primary"]))
    return Reference(run, dict(scores), logprobs)
