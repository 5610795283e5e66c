"""Submissions made from fake models given as predictions and log-probabilities, each evaluated
at every level by the real evaluator, then packaged: a target that knows everything; a retain
model that never saw the forget split (answers A on it, a 1-in-4 guess on classification, and
finds its answers as unlikely as held-out ones); an oracle that forgets the forget split past
that (answers nothing, finds it less likely still: over-forgetting); and ``at_retain``, which
forgets exactly down to the retain model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from medforget.cli import main
from medforget.dataset import load_rows, read_manifest
from medforget.evaluators import probes
from medforget.hierarchy import LEVEL_SPLITS

Answer = Callable[[dict, str], str]


def right(row: dict, split: str) -> str:
    return row["answer"]


def _forgotten(split: str) -> bool:
    return "forget" in split or split.startswith("reconstruction")


def oracle(row: dict, split: str) -> str:
    return "" if _forgotten(split) else row["answer"]


def guess(row: dict, split: str) -> str:
    return "A" if _forgotten(split) else row["answer"]


#: fake answer log-probabilities: (split, truth-ratio answer or None) -> per-token log-probs
Logprobs = Callable[[str, str | None], list[float]]


def knows_all(split: str, answer: str | None) -> list[float]:
    """Confident on what it was trained on, prefers the true answer; unsure on holdout."""
    if split == "holdout":
        return [-3.0, -3.0]
    return {None: [-0.1, -0.1], "paraphrased": [-0.5], "perturbed": [-3.0]}[answer]


def never_saw_forget(split: str, answer: str | None) -> list[float]:
    """On forget: as unlikely as held-out rows, no preference for the true answer."""
    if split == "forget":
        return [-3.0, -3.0] if answer is None else [-3.0]
    return knows_all(split, answer)


def over_forgets(split: str, answer: str | None) -> list[float]:
    return [-9.0, -9.0] if split == "forget" else knows_all(split, answer)


def write_predictions(path: Path, dataset: Path, level: str, answer: Answer, logprobs: Logprobs | None = None) -> Path:
    """A prediction for every id a level's submission needs, reconstruction prompts included;
    with ``logprobs``, those of the white-box splits' rows and of their truth-ratio answers."""
    places = [(split, load_rows(dataset, level, split, images=False)) for split in LEVEL_SPLITS]
    places.append(("utility", load_rows(dataset, "utility", "test", images=False)))
    names = probes.context_names(load_rows(dataset, "train", "train", images=False))
    for context, rows in probes.reconstruction_rows(load_rows(dataset, level, "forget", images=False), names).items():
        places.append((f"reconstruction:{context}", rows))
    with path.open("w") as handle:
        for split, rows in places:
            white = logprobs is not None and split in probes.WHITEBOX_SPLITS
            for row in rows:
                record = {"id": row["id"], "prediction": answer(row, split)}
                handle.write(json.dumps({**record, **({"logprobs": logprobs(split, None)} if white else {})}) + "\n")
            for asked in probes.truth_rows(rows) if white else []:
                kind = "paraphrased" if asked["id"].endswith("#paraphrased") else "perturbed"
                handle.write(json.dumps({"id": asked["id"], "logprobs": logprobs(split, kind)}) + "\n")
    return path


def eval_runs(
    dataset: Path,
    out: Path,
    answer: Answer,
    method: str,
    before: Path | None = None,
    logprobs: Logprobs | None = None,
    retain: Path | None = None,
) -> list[Path]:
    runs = []
    out.mkdir(parents=True, exist_ok=True)
    for level in read_manifest(dataset).targets:
        predictions = write_predictions(out / f"{level}.jsonl", dataset, level, answer, logprobs)
        extra = [
            *(["--before", str(before / level)] if before else []),
            *(["--retain", str(retain / level)] if retain else []),
        ]
        assert (
            main(
                [
                    "eval",
                    "--predictions",
                    str(predictions),
                    "--dataset",
                    str(dataset),
                    "--level",
                    level,
                    "--method",
                    method,
                    "--out",
                    str(out / level),
                    *extra,
                ]
            )
            == 0
        )
        runs.append(out / level)
    return runs


#: name -> (answers, log-probabilities, role) of the board's submissions
FAKES = {
    "target": (right, knows_all, "target"),
    "retain": (guess, never_saw_forget, "retain"),
    "oracle": (oracle, over_forgets, "unlearned"),
    "at_retain": (guess, never_saw_forget, "unlearned"),
}


@pytest.fixture(scope="session")
def board(tiny_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A board folder with the :data:`FAKES` submissions and the metrics schema; the runs of the
    unlearned ones measured against the target's and the retain model's."""
    import shutil

    root = tmp_path_factory.mktemp("board")
    shutil.copyfile(Path(__file__).parents[2] / "leaderboard" / "metrics.json", root / "metrics.json")
    (root / "tracks.json").write_text(json.dumps({"tracks": {"tiny": {"target": "target", "retain": "retain"}}}))
    runs = root / "runs"
    made = {"target": eval_runs(tiny_build, runs / "target", right, "target", logprobs=knows_all)}
    made["retain"] = eval_runs(tiny_build, runs / "retain", guess, "retain", runs / "target", never_saw_forget)
    for name in ("oracle", "at_retain"):
        answer, logprobs, _ = FAKES[name]
        made[name] = eval_runs(tiny_build, runs / name, answer, name, runs / "target", logprobs, runs / "retain")
    for name, (_, _, role) in FAKES.items():
        assert (
            main(
                [
                    "submit",
                    *map(str, made[name]),
                    "--name",
                    name,
                    "--track",
                    "tiny",
                    "--role",
                    role,
                    "--hardware",
                    "test",
                    "--out",
                    str(root / "submissions" / name),
                ]
            )
            == 0
        )
    return root
