"""CI re-derives part of the committed board from nothing: the tiny benchmark and the base
corpus built, the base trained, the target and ``retain-patient`` fine-tuned from it, then one
gradient method and CHIP at the patient level, each evaluated, submitted and put on a board by
the same commands `make leaderboard` runs. Their rows must equal the committed board's within
the reproducibility tolerance, or the spread over its seeds where larger. Marked slow (`make
test-slow`, which CI runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.cli import main
from medforget.leaderboard.build import compare

BOARD = Path(__file__).parents[2] / "leaderboard"
LEVEL = "patient"
METHODS = ("ga", "chip")
#: the committed board's thread count (`make leaderboard SEEDS="0 1 2" JOBS=3 THREADS=1`): another
#: one sums floats in another order, and over the base's, the fine-tune's and the method's steps
#: that grows into another model, as another seed would (measured: seed 0's GA forget at the
#: patient level 0.773 at 1 thread, 0.670 at 2), further than three seeds' spread allows
THREADS = "1"


@pytest.mark.slow
def test_the_board_slice_is_rederived_from_nothing(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the paths `make leaderboard` uses, relative to a fresh folder
    steps = [
        ["build", "--preset", "tiny", "--out", "medforget-tiny"],
        ["build", "--preset", "base", "--option", "exclude=medforget-tiny", "--out", "medforget-base"],
        ["train", "--dataset", "medforget-base", "--threads", THREADS, "--out", "models/tiny/base"],
        ["train", "--dataset", "medforget-tiny", "--base", "models/tiny/base", "--threads", THREADS]
        + ["--out", "models/tiny/target"],
        ["train", "--dataset", "medforget-tiny", "--base", "models/tiny/base", "--threads", THREADS]
        + ["--without", LEVEL, "--out", f"models/tiny/retain-{LEVEL}"],
        ["sweep", "--dataset", "medforget-tiny", "--target", "models/tiny/target"]
        + ["--retain", "models/tiny/retain-{level}", "--methods", *METHODS, "--levels", LEVEL]
        + ["--models", "models/tiny", "--runs", "runs/tiny", "--track", "tiny", "--threads", THREADS],
    ]
    for name in ("target", "retain", *METHODS):
        role = name if name in ("target", "retain") else "unlearned"
        steps.append(
            ["submit", f"runs/tiny/{name}/{LEVEL}", "--name", f"tiny-{name}", "--track", "tiny", "--role", role]
            + ["--hardware", f"CPU, {THREADS} threads", "--out", f"board/submissions/tiny-{name}"]
        )
    for step in steps:
        assert main(step) == 0, step
    (tmp_path / "board" / "metrics.json").write_bytes((BOARD / "metrics.json").read_bytes())
    # seed 0's references (the committed board may hold more seeds)
    assert (
        main(
            [
                "leaderboard",
                "tracks",
                "--board",
                "board",
                "--track",
                "tiny",
                "--seed",
                "0",
                "tiny-target",
                "tiny-retain",
            ]
        )
        == 0
    )
    assert (
        main(["leaderboard", "build", "--board", "board", "--dataset", "tiny=medforget-tiny", "--levels", LEVEL]) == 0
    )

    def board(folder: Path) -> dict:
        data = json.loads((folder / "board.json").read_text(encoding="utf-8"))
        return {**data, "rows": [r for r in data["rows"] if r["level"] == LEVEL and r["submission"] in rebuilt]}

    rebuilt = [f"tiny-{name}" for name in ("target", "retain", *METHODS)]
    # within the reproducibility tolerance, or 3 of a value's standard deviations over the
    # committed board's seeds where it has several and that is larger
    assert compare(board(BOARD), board(tmp_path / "board")) == []
