"""The board built from submissions: board.json, the page, the Markdown table and the plots;
and, in a real browser, the page sorts, filters and shows every method."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from medforget.cli import main
from medforget.evaluators.table import cell
from medforget.leaderboard.build import column_key, markdown, overall, plot, render_html
from tests.leaderboard.conftest import FAKES, eval_runs, oracle


@pytest.fixture(scope="module")
def built(board: Path, tiny_build: Path) -> Path:
    assert main(["leaderboard", "build", "--board", str(board), "--dataset", f"tiny={tiny_build}"]) == 0
    return board


def test_the_board_holds_every_submission_at_every_level_with_recomputed_scores(built: Path):
    data = json.loads((built / "board.json").read_text())
    rows = {(r["submission"], r["level"]): r for r in data["rows"]}
    levels = ("institution", "patient", "study", "section")
    assert set(rows) == {(name, level) for name in FAKES for level in levels}
    for name in ("oracle", "at_retain"):  # the board's numbers are the evaluator's on the same predictions
        for level in levels:
            evaluated = json.loads((built / "runs" / name / level / "results.json").read_text())
            assert rows[(name, level)]["values"] == {
                column_key(c): cell(evaluated, c["name"], c["split"]) for c in data["schema"]["columns"]}
    oracle, target = rows[("oracle", "patient")]["values"], rows[("target", "patient")]["values"]
    assert oracle["primary/forget"] == 0.0 and oracle["forget_retain_gap/retain-forget"] == 1.0
    assert oracle["sibling_damage"] == 0.0
    assert target["forget_retain_gap/retain-forget"] == 0.0 and target["reconstruction_attack"] == 1.0
    assert target["sibling_damage"] == 0.0  # the target against itself
    assert rows[("oracle", "section")]["values"]["child_leak_rate"] is None  # a leaf has no children


def test_forget_quality_privleak_and_normalised_knowledge_against_the_retain_submission(built: Path):
    """Recomputed from the submitted log-probabilities: the retain model is the zero of every
    measure, the target is 1 (normalised) and under-unlearned (PrivLeak < 0), the oracle, which
    forgets past the retain model, over-forgets (below 0 normalised, PrivLeak > 0) and ranks
    behind ``at_retain``, which forgets down to the retain model."""
    rows = {(r["submission"], r["level"]): r for r in json.loads((built / "board.json").read_text())["rows"]}
    values = {name: rows[(name, "patient")]["values"] for name in FAKES}
    assert values["retain"]["privleak_loss/forget-vs-holdout"] == pytest.approx(0.0)
    assert values["retain"]["forget_quality/forget"] == pytest.approx(1.0)
    assert values["retain"]["normalised_forget/forget"] == pytest.approx(0.0)
    assert values["target"]["normalised_forget/forget"] == pytest.approx(1.0)
    assert values["target"]["privleak_loss/forget-vs-holdout"] == pytest.approx(-1.0)
    assert values["target"]["forget_quality/forget"] < 0.05
    assert values["oracle"]["normalised_forget/forget"] < 0 and values["oracle"]["privleak_loss/forget-vs-holdout"] > 0
    assert values["at_retain"]["normalised_forget/forget"] == pytest.approx(0.0)
    overall = {name: rows[(name, "patient")]["overall"] for name in FAKES}
    assert overall["at_retain"] == overall["retain"] == 1.0 > overall["oracle"] > overall["target"]


def test_a_submission_without_logprobs_has_those_cells_empty_and_marked(board: Path, tiny_build: Path,
                                                                       tmp_path: Path):
    from medforget.leaderboard.check import check

    runs = eval_runs(tiny_build, tmp_path / "runs", oracle, "blind")
    assert main(["submit", *map(str, runs), "--name", "blind", "--track", "tiny", "--hardware", "test",
                 "--out", str(tmp_path / "blind")]) == 0
    before = check(board / "submissions" / "target", tiny_build, tmp_path / "t").runs
    retain = check(board / "submissions" / "retain", tiny_build, tmp_path / "r", before).runs
    checked = check(tmp_path / "blind", tiny_build, tmp_path / "b", before, retain)
    found = {(m["name"], m["split"]) for m in checked.results["patient"]["metrics"]}
    assert ("forget_quality", "forget") not in found and ("privleak_loss", "forget-vs-holdout") not in found
    assert ("normalised_forget", "forget") in found  # from predictions alone
    row = {"values": {"forget_quality/forget": None}, "overall": None}
    assert "n/a" in markdown({"schema": {"columns": [{"name": "forget_quality", "split": "forget",
                                                      "display": "Forget quality"}]},
                              "rows": [{**row, "track": "tiny", "level": "patient", "method": "blind",
                                        "role": "unlearned"}]})[2]


def test_the_page_the_table_and_the_plots_are_generated(built: Path):
    page = (built / "index.html").read_text()
    assert "<script" in page and "http" not in page.split("<script", 1)[1]  # nothing to fetch: opens offline
    assert "Mean of five numbers" in page  # the overall score's definition is shown
    table = (built / "board.md").read_text().splitlines()
    assert table[0].startswith("| track | level | method | role | overall | Forget (normalised)")
    assert len(table) == 2 + 4 * len(FAKES)
    plots = sorted(p.name for p in (built / "plots").iterdir())
    assert plots == [f"tiny-{level}.png" for level in ("institution", "patient", "section", "study")]
    assert all((built / "plots" / p).read_bytes()[:4] == b"\x89PNG" for p in plots)


def test_the_board_renders_the_same_bytes_from_the_same_data(built: Path, tmp_path: Path):
    data = json.loads((built / "board.json").read_text())
    assert render_html(data) == (built / "index.html").read_text()
    assert "\n".join(markdown(data)) + "\n" == (built / "board.md").read_text()
    plot(data, tmp_path)
    assert (tmp_path / "tiny-patient.png").read_bytes() == (built / "plots" / "tiny-patient.png").read_bytes()


def test_overall_is_the_mean_of_five_clipped_numbers():
    values = {"normalised_forget/forget": 0.5, "normalised_child_leak": -0.25, "sibling_damage": -0.1,
              "utility_retained/retain_other": 1.2, "normalised_reconstruction": 1.5}
    assert overall(values) == pytest.approx((0.5 + 0.75 + 1.0 + 1.0 + 0.0) / 5)
    assert overall({**values, "normalised_child_leak": None}) == pytest.approx((0.5 + 1.0 + 1.0 + 1.0 + 0.0) / 5)
    assert overall({**values, "sibling_damage": None}) is None
    assert overall({**values, "normalised_forget/forget": None}) is None  # no retain submission


CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1']


@pytest.mark.browser
def test_the_page_sorts_filters_and_shows_every_method_in_a_browser(built: Path):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test-browser` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.goto((built / "index.html").as_uri())
        tables = page.locator("table")
        assert tables.count() == 4
        methods = set(page.locator("tbody tr td:nth-child(2)").all_inner_texts())
        assert methods == set(FAKES)
        page.select_option("#level", "patient")
        assert page.locator("table").count() == 1
        assert page.locator("table").get_attribute("data-level") == "patient"
        gap = page.locator("th[data-key='forget_retain_gap/retain-forget']")
        gap.click()  # higher is better: best first
        assert page.locator("tbody tr").first.locator("td").nth(1).inner_text() == "oracle"
        gap.click()  # again: the other way round
        assert page.locator("tbody tr").first.locator("td").nth(1).inner_text() == "target"
        page.locator("th[data-key='privleak_loss/forget-vs-holdout']").click()  # closest to 0 first
        assert page.locator("tbody tr").first.locator("td").nth(1).inner_text() in {"retain", "at_retain"}
        page.fill("#method", "orac")
        assert page.locator("tbody tr").all_inner_texts()[0].split("\t")[1] == "oracle"
        assert page.locator("tbody tr").count() == 1
        browser.close()


@pytest.mark.parametrize("schema", ['{"columns": []}', '{"overall": {"name": "o", "display": "O", "direction": "up"}, '
                                    '"columns": []}', "[1, 2]"])
def test_a_malformed_board_schema_is_refused_with_a_reason(schema: str, tmp_path: Path):
    from medforget.leaderboard.build import load_schema
    from medforget.leaderboard.submission import SubmissionError

    (tmp_path / "metrics.json").write_text(schema)
    with pytest.raises(SubmissionError, match="metrics.json"):
        load_schema(tmp_path)
