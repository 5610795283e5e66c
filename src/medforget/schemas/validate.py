"""Validate a dataset folder: run every check, write the reports into the dataset folder."""

from __future__ import annotations

import json
from pathlib import Path

from medforget.errors import BuildError
from medforget.outputs import sha256_file
from medforget.schemas.checks import run_checks
from medforget.schemas.report import ValidationReport
from medforget.schemas.tables import DatasetTables, load_folder

HTML_REPORT, JSON_REPORT = "validation.html", "validation.json"


class LeakError(BuildError):
    """A build failed its leak checks; nothing was published."""


def validate_tables(tables: DatasetTables, name: str, manifest_sha256: str | None = None) -> ValidationReport:
    return ValidationReport(name, tuple(run_checks(tables)), manifest_sha256)


def validate_folder(folder: Path, write_reports: bool = True, name: str | None = None) -> ValidationReport:
    """Run every check on ``folder``; a self-contained HTML page and the JSON report are
    written into it (``validation.html``, ``validation.json``)."""
    report = validate_tables(load_folder(folder), name or str(folder), sha256_file(folder / "manifest.json"))
    if write_reports:
        (folder / HTML_REPORT).write_text(report.to_html(), encoding="utf-8")
        (folder / JSON_REPORT).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return report
