"""Validate a dataset folder: run every check, write the reports into the dataset folder."""

from __future__ import annotations

import json
from pathlib import Path

from medforget.errors import BuildError
from medforget.schemas.checks import run_checks
from medforget.schemas.report import ValidationReport
from medforget.schemas.tables import DatasetTables, load_folder

HTML_REPORT, JSON_REPORT = "validation.html", "validation.json"


class LeakError(BuildError):
    """A build failed its leak checks; nothing was published."""


def validate_tables(tables: DatasetTables, name: str) -> ValidationReport:
    return ValidationReport(dataset=name, results=tuple(run_checks(tables)))


def validate_folder(folder: Path, write_reports: bool = True, name: str | None = None) -> ValidationReport:
    """Run every check on ``folder``; a self-contained HTML page and the JSON report are
    written into it (``validation.html``, ``validation.json``)."""
    report = validate_tables(load_folder(folder), name or str(folder))
    if write_reports:
        (folder / HTML_REPORT).write_text(report.to_html(), encoding="utf-8")
        (folder / JSON_REPORT).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return report
