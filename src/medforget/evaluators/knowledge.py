"""Does a reference model know its data? Its scores on the rows it was trained on, on the rows it
was kept from (retain models) and on held-out patients, per fact level and task.

This is the precondition of every unlearning number: forgetting what was never learned is
free. A target model must reach :data:`BAR` on the rows it saw; on held-out patients, facts it
could not have learned, classification should sit near chance (0.25).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medforget.evaluators.metrics import score_rows
from medforget.hierarchy import DEFAULT_LEVELS
from medforget.models.adapters import ModelAdapter

#: the primary score a target model must reach on the rows it was trained on, per task
BAR: Mapping[str, float] = {"classification": 0.95, "generation": 0.8}
TASKS = ("classification", "generation", "cloze")
Row = Mapping[str, Any]


def knowledge(adapter: ModelAdapter, dataset: Path, without: tuple[str, str] | None = None) -> dict[str, Any]:
    """Mean primary score per row group (``seen``, ``left_out`` when ``without`` is given,
    ``holdout``), fact level and task, with row counts."""
    from medforget.dataset import load_rows, read_manifest
    from medforget.training.data import training_rows

    train = load_rows(dataset, "train", "train")
    groups = {"seen": training_rows(train, dataset, without, None, 0)}
    if without is not None:
        groups["left_out"] = load_rows(dataset, *without)
    level = next(iter(read_manifest(dataset).targets))
    groups["holdout"] = load_rows(dataset, level, "holdout")  # the same held-out patients in every level config
    return {name: _by_level_and_task(adapter, rows) for name, rows in groups.items()}


def _by_level_and_task(adapter: ModelAdapter, rows: Sequence[Row]) -> dict[str, dict[str, dict[str, float | int]]]:
    predictions = dict(zip((r["id"] for r in rows), adapter.generate(rows)))
    cells: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row, score in zip(rows, score_rows(rows, predictions)):
        cells[row["level"]][row["task"]].append(score.primary_value)
        cells["all"][row["task"]].append(score.primary_value)
    order = ["all", *DEFAULT_LEVELS]
    levels = sorted(cells, key=lambda level: (order.index(level) if level in order else len(order), level))
    return {
        level: {
            task: {"value": float(np.mean(cells[level][task])), "n": len(cells[level][task])}
            for task in TASKS
            if task in cells[level]
        }
        for level in levels
    }


def shortfalls(report: Mapping[str, Any]) -> list[str]:
    """Where the ``seen`` rows miss :data:`BAR`, one line each; empty when the model knows its data."""
    seen = report["seen"]
    return [
        f"{level} {task}: {cells[task]['value']:.3f} < {bar}"
        for level, cells in seen.items()
        for task, bar in BAR.items()
        if task in cells and cells[task]["value"] < bar
    ]


def table(report: Mapping[str, Any]) -> list[str]:
    """The report as aligned text lines: one per row group and fact level."""
    lines = [f"{'rows':<10}{'level':<13}" + "".join(f"{task:>16}" for task in TASKS) + f"{'n':>7}"]
    for group, levels in report.items():
        for level, cells in levels.items():
            values = "".join(f"{cells[t]['value']:>16.3f}" if t in cells else f"{'':>16}" for t in TASKS)
            lines.append(f"{group:<10}{level:<13}{values}{sum(c['n'] for c in cells.values()):>7}")
    return lines


def record_knowledge(
    checkpoint: Path, dataset: Path, without: tuple[str, str] | None = None, batch_size: int = 64
) -> dict[str, Any]:
    """Measure a trained checkpoint's :func:`knowledge` and add it to its training record."""
    from medforget.models.adapters import TransformersAdapter

    report = knowledge(TransformersAdapter(checkpoint, batch_size=batch_size), dataset, without)
    path = checkpoint / "medforget_training.json"
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    path.write_text(json.dumps({**record, "knowledge": report}, indent=2) + "\n", encoding="utf-8")
    return report
