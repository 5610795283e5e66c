"""A Markdown table of evaluation runs, one row per run: the hierarchy-aware headline numbers
and, for an unlearned model, the method's wall time from its ``medforget_unlearning.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medforget.evaluators.results import ResultsError, validate_results
from medforget.hierarchy import DEFAULT_LEVELS

#: (column, metric name, split) read from results.json; split None: the metric's only entry
COLUMNS = (
    ("forget", "primary", "forget"),
    ("retain_sibling", "primary", "retain_sibling"),
    ("retain_other kept", "utility_retained", "retain_other"),
    ("utility kept", "utility_retained", "utility"),
    ("forget-retain gap", "forget_retain_gap", "retain-forget"),
    ("child leak", "child_leak_rate", None),
    ("sibling damage", "sibling_damage", None),
    ("reconstruction", "reconstruction_attack", None),
    ("forget (normalised)", "normalised_forget", "forget"),
    ("PrivLeak", "privleak_loss", None),
    ("forget quality", "forget_quality", None),
)


def read_run(run: Path) -> dict[str, Any]:
    path = run / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path} is missing or not JSON ({err}); pass the --out folder of `medforget eval`") from err
    validate_results(results)
    return results


def cell(results: dict[str, Any], name: str, split: str | None) -> float | None:
    found = [
        m
        for m in results["metrics"]
        if m["name"] == name and m["task"] == "all" and (split is None or m["split"] == split)
    ]
    return found[0]["value"] if found else None


def unlearning_seconds(results: dict[str, Any]) -> float | None:
    record = Path(results["model"]) / "medforget_unlearning.json"
    return json.loads(record.read_text(encoding="utf-8"))["seconds"] if record.is_file() else None


def markdown(runs: Sequence[Path]) -> list[str]:
    """The table's lines, runs sorted by level (outer first) then method."""
    rows = [read_run(run) for run in runs]
    known = {level: i for i, level in enumerate(DEFAULT_LEVELS)}
    rows.sort(key=lambda r: (known.get(r["level"], len(known)), r["level"], r["method"]))
    header = ["level", "method", *(c for c, _, _ in COLUMNS), "unlearning s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for results in rows:
        values = [cell(results, name, split) for _, name, split in COLUMNS] + [unlearning_seconds(results)]
        shown = ["" if v is None else f"{v:.1f}" if i == len(COLUMNS) else f"{v:.3f}" for i, v in enumerate(values)]
        lines.append("| " + " | ".join([results["level"], results["method"], *shown]) + " |")
    return lines
