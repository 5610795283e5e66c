"""Submissions made from fake models given as predictions: a target that knows everything and
an oracle that forgets exactly the forget split, each evaluated at every level by the real
evaluator, then packaged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from medforget.cli import main
from medforget.evaluators import probes
from medforget.hierarchy import LEVEL_SPLITS
from medforget.training.data import load_rows, read_manifest

Answer = Callable[[dict, str], str]


def right(row: dict, split: str) -> str:
    return row["answer"]


def oracle(row: dict, split: str) -> str:
    return "" if "forget" in split or split.startswith("reconstruction") else row["answer"]


def write_predictions(path: Path, dataset: Path, level: str, answer: Answer) -> Path:
    """A prediction for every id a level's submission needs, reconstruction prompts included."""
    places = [(split, load_rows(dataset, level, split, images=False)) for split in LEVEL_SPLITS]
    places.append(("utility", load_rows(dataset, "utility", "test", images=False)))
    names = probes.context_names(load_rows(dataset, "train", "train", images=False))
    for context, rows in probes.reconstruction_rows(load_rows(dataset, level, "forget", images=False), names).items():
        places.append((f"reconstruction:{context}", rows))
    with path.open("w") as handle:
        for split, rows in places:
            for row in rows:
                handle.write(json.dumps({"id": row["id"], "prediction": answer(row, split)}) + "\n")
    return path


def eval_runs(dataset: Path, out: Path, answer: Answer, method: str, before: Path | None = None) -> list[Path]:
    runs = []
    out.mkdir(parents=True, exist_ok=True)
    for level in read_manifest(dataset)["targets"]:
        predictions = write_predictions(out / f"{level}.jsonl", dataset, level, answer)
        extra = ["--before", str(before / level)] if before else []
        assert main(["eval", "--predictions", str(predictions), "--dataset", str(dataset), "--level", level,
                     "--method", method, "--out", str(out / level), *extra]) == 0
        runs.append(out / level)
    return runs


@pytest.fixture(scope="session")
def board(tiny_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A board folder with two submissions (target, oracle) and the metrics schema."""
    import shutil

    root = tmp_path_factory.mktemp("board")
    shutil.copyfile(Path(__file__).parents[2] / "leaderboard" / "metrics.json", root / "metrics.json")
    target = eval_runs(tiny_build, root / "runs" / "target", right, "target")
    for name, answer, role in (("target", right, "target"), ("oracle", oracle, "unlearned")):
        runs = target if name == "target" else eval_runs(tiny_build, root / "runs" / name, answer, name,
                                                         root / "runs" / "target")
        assert main(["submit", *map(str, runs), "--name", name, "--track", "tiny", "--role", role, "--hardware",
                     "test", "--out", str(root / "submissions" / name)]) == 0
    return root
