"""A validation run's report: one line per check, JSON, and a self-contained HTML page."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from typing import Any

from medforget.schemas.checks import CheckResult

REPORT_SCHEMA_VERSION = 2


@dataclass(frozen=True)
class ValidationReport:
    dataset: str
    results: tuple[CheckResult, ...]
    #: sha256 of the manifest.json the checks read (None for tables checked in memory): which
    #: build the report is about (``medforget publish`` runs the checks itself and uploads its own)
    manifest_sha256: str | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def lines(self) -> list[str]:
        out = []
        for r in self.results:
            figures = ", ".join(f"{k}={v}" for k, v in r.figures.items())
            out.append(f"{'PASS' if r.passed else 'FAIL'} {r.name:<19} {r.seconds:6.2f}s  {figures}")
            for f in r.findings:
                more = f" (+{f.total - len(f.ids)} more)" if f.total > len(f.ids) else ""
                ids = f": {f.total}: {', '.join(f.ids)}{more}" if f.ids else ""
                out.append(f"     {f.where}: {f.detail}{ids}")
            if not r.passed:
                out.append(f"     fix: {r.fix}")
        verdict = "all checks pass" if self.passed else f"{sum(not r.passed for r in self.results)} checks fail"
        return [*out, f"{verdict} ({self.dataset})"]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "dataset": self.dataset,
            "passed": self.passed,
            "manifest_sha256": self.manifest_sha256,
            "checks": [{**asdict(r), "findings": [asdict(f) for f in r.findings]} for r in self.results],
        }

    def to_html(self) -> str:
        rows = "\n".join(_html_row(r) for r in self.results)
        verdict = "All checks pass" if self.passed else "Some checks fail"
        return _PAGE.format(
            dataset=html.escape(self.dataset),
            verdict=verdict,
            rows=rows,
            data=html.escape(json.dumps(self.to_json(), indent=1)),
        )


def _html_row(result: CheckResult) -> str:
    figures = "<br>".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in result.figures.items())
    findings = "".join(
        f"<li><b>{html.escape(f.where)}</b>: {html.escape(f.detail)}"
        + (f" ({f.total}): <code>{html.escape(', '.join(f.ids))}</code>" if f.ids else "")
        + "</li>"
        for f in result.findings
    )
    detail = f"<ul>{findings}</ul><p>Fix: {html.escape(result.fix)}</p>" if findings else ""
    status = "pass" if result.passed else "fail"
    return (
        f'<tr class="{status}"><td>{status.upper()}</td><td><code>{result.name}</code><br>{html.escape(result.title)}'
        f"{detail}</td><td>{figures}</td><td>{result.seconds:.2f}s</td></tr>"
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MedForget validation: {dataset}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: .4rem .6rem; vertical-align: top; text-align: left; }}
tr.pass td:first-child {{ background: #dff5df; }} tr.fail td:first-child {{ background: #f8d7d7; }}
code {{ font-size: .85em; }} details pre {{ font-size: .75em; }}
</style></head><body>
<h1>MedForget validation</h1>
<p>Dataset: <code>{dataset}</code>. <b>{verdict}.</b></p>
<table><tr><th>result</th><th>check</th><th>figures</th><th>time</th></tr>
{rows}
</table>
<details><summary>Machine-readable report</summary><pre>{data}</pre></details>
</body></html>
"""
