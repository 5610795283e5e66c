"""A Markdown table of evaluation runs, one row per run: the hierarchy-aware headline numbers
and, for an unlearned model, the method's wall time from its ``medforget_unlearning.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from medforget.evaluators.results import Results, read_results
from medforget.hierarchy import DEFAULT_LEVELS

#: (column, metric name, split) read from results.json; split None: the metric's only entry
COLUMNS = (
    ("forget", "primary", "forget"),
    ("retain_sibling", "primary", "retain_sibling"),
    ("retain_other kept", "utility_retained", "retain_other"),
    ("utility kept", "utility_retained", "utility"),
    ("utility", "primary", "utility"),
    ("forget-retain gap", "forget_retain_gap", "retain-forget"),
    ("child leak", "child_leak_rate", None),
    ("sibling damage", "sibling_damage", None),
    ("reconstruction", "reconstruction_attack", None),
    ("forget (normalised)", "normalised_forget", "forget"),
    ("PrivLeak", "privleak_loss", None),
    ("forget quality", "forget_quality", None),
)


def unlearning_seconds(results: Results) -> float | None:
    record = Path(results.model) / "medforget_unlearning.json"
    return json.loads(record.read_text(encoding="utf-8"))["seconds"] if record.is_file() else None


def markdown(runs: Sequence[Path]) -> list[str]:
    """The table's lines, runs sorted by level (outer first) then method."""
    rows = [read_results(run) for run in runs]
    known = {level: i for i, level in enumerate(DEFAULT_LEVELS)}
    rows.sort(key=lambda r: (known.get(r.level, len(known)), r.level, r.method))
    header = ["level", "method", *(c for c, _, _ in COLUMNS), "unlearning s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for results in rows:
        values = [results.value(name, split) for _, name, split in COLUMNS] + [unlearning_seconds(results)]
        shown = ["" if v is None else f"{v:.1f}" if i == len(COLUMNS) else f"{v:.3f}" for i, v in enumerate(values)]
        lines.append("| " + " | ".join([results.level, results.method, *shown]) + " |")
    return lines
