"""The knowledge report of a reference model, with fake models of known behaviour."""

from __future__ import annotations

import json
from pathlib import Path

from medforget.evaluators.knowledge import BAR, knowledge, shortfalls, table


class Fake:
    """Right on every row it was 'trained' on (ids in ``seen``), "A" elsewhere."""

    name = "fake"

    def __init__(self, seen: set[str]):
        self.seen = seen

    def generate(self, rows):
        return [r["answer"] if r["id"] in self.seen else "A" for r in rows]

    def answer_logprobs(self, rows):
        return None


def _train_ids(dataset: Path) -> set[str]:
    from medforget.dataset import load_rows

    return {r["id"] for r in load_rows(dataset, "train", "train", images=False)}


def test_a_model_that_knows_its_data_meets_the_bar_and_holdout_sits_at_the_option_prior(tiny_build: Path):
    report = knowledge(Fake(_train_ids(tiny_build)), tiny_build)
    assert set(report) == {"seen", "holdout"}
    assert all(cell["value"] == 1.0 for cells in report["seen"].values() for cell in cells.values())
    assert shortfalls(report) == []
    levels = set(report["seen"]) - {"all"}
    assert levels == {"network", "institution", "patient", "study", "section"}
    holdout = report["holdout"]["all"]["classification"]
    assert 0.0 < holdout["value"] < 0.6 and holdout["n"] > 0  # "A" is right only where A is the answer
    lines = table(report)
    assert lines[0].split()[:2] == ["rows", "level"] and any(line.startswith("holdout") for line in lines)


def test_a_retain_model_is_scored_on_the_split_it_never_saw(tiny_build: Path):
    from medforget.dataset import load_rows

    left_out = {r["id"] for r in load_rows(tiny_build, "patient", "forget")}
    report = knowledge(Fake(_train_ids(tiny_build) - left_out), tiny_build, without=("patient", "forget"))
    assert report["left_out"]["all"]["generation"]["value"] == 0.0
    assert report["seen"]["all"]["generation"]["value"] == 1.0
    assert sum(c["n"] for c in report["left_out"]["all"].values()) == len(left_out)


def test_a_model_below_the_bar_is_named_per_level_and_task(tiny_build: Path):
    report = knowledge(Fake(set()), tiny_build)
    missed = shortfalls(report)
    assert any(line.startswith("patient generation: 0.000 < ") for line in missed)
    assert len(missed) == len(report["seen"]) * len(BAR)
    assert json.dumps(report)
