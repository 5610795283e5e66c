"""CI re-derives part of the committed board from nothing: the tiny benchmark and the base
corpus built, the base trained, the target and ``retain-patient`` fine-tuned from it, then one
gradient method and CHIP at the patient level, each evaluated, submitted and put on a board by
the same commands `make leaderboard` runs. Their rows must equal the committed board's within
the reproducibility tolerance. Marked slow (`make test-slow`, which CI runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.cli import main
from medforget.reproducibility import SCORE_TOLERANCE, disagreements

BOARD = Path(__file__).parents[2] / "leaderboard"
LEVEL = "patient"
METHODS = ("ga", "chip")


@pytest.mark.slow
def test_the_board_slice_is_rederived_from_nothing(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the paths `make leaderboard` uses, relative to a fresh folder
    steps = [
        ["build", "--preset", "tiny", "--out", "medforget-tiny"],
        ["build", "--preset", "base", "--option", "exclude=medforget-tiny", "--out", "medforget-base"],
        ["train", "--dataset", "medforget-base", "--out", "models/tiny/base"],
        ["train", "--dataset", "medforget-tiny", "--base", "models/tiny/base", "--out", "models/tiny/target"],
        ["train", "--dataset", "medforget-tiny", "--base", "models/tiny/base", "--without", LEVEL]
        + ["--out", f"models/tiny/retain-{LEVEL}"],
        ["sweep", "--dataset", "medforget-tiny", "--target", "models/tiny/target"]
        + ["--retain", "models/tiny/retain-{level}", "--methods", *METHODS, "--levels", LEVEL]
        + ["--models", "models/tiny", "--runs", "runs/tiny", "--track", "tiny", "--threads", "2"],
    ]
    for name in ("target", "retain", *METHODS):
        role = name if name in ("target", "retain") else "unlearned"
        steps.append(
            ["submit", f"runs/tiny/{name}/{LEVEL}", "--name", f"tiny-{name}", "--track", "tiny", "--role", role]
            + ["--hardware", "CPU, 2 threads", "--out", f"board/submissions/tiny-{name}"]
        )
    for step in steps:
        assert main(step) == 0, step
    for name in ("metrics.json", "tracks.json"):
        (tmp_path / "board" / name).write_bytes((BOARD / name).read_bytes())
    assert (
        main(["leaderboard", "build", "--board", "board", "--dataset", "tiny=medforget-tiny", "--levels", LEVEL]) == 0
    )

    def rows(board: Path) -> dict[str, dict]:
        data = json.loads((board / "board.json").read_text(encoding="utf-8"))
        return {r["submission"]: r for r in data["rows"] if r["level"] == LEVEL}

    committed, rebuilt = rows(BOARD), rows(tmp_path / "board")
    assert sorted(rebuilt) == sorted(f"tiny-{name}" for name in ("target", "retain", *METHODS))
    moved = {
        name: disagreements(
            {**committed[name]["values"], "overall": committed[name]["overall"]},
            {**row["values"], "overall": row["overall"]},
            SCORE_TOLERANCE,
        )
        for name, row in rebuilt.items()
    }
    assert moved == {name: [] for name in rebuilt}
