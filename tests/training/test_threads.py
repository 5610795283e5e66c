"""Scores reproduce across thread counts and CPU kernels within the stated tolerances
(:mod:`medforget.reproducibility`): one tiny model trained and evaluated here with 1 thread,
and again in a fresh process with 2 threads on kernels capped at AVX2 (another reduction order
and other BLAS kernels: the closest stand-in for another CPU that one machine can run).

Marked slow: `make test-slow` (and CI) runs it. Run as a module, it trains and evaluates once:
``python -m tests.training.test_threads DATASET OUT THREADS``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medforget.models.tiny import TinySpec
from medforget.reproducibility import FLIP_TOLERANCE, LOGPROB_TOLERANCE, SCORE_TOLERANCE, disagreements
from medforget.training.tiny_track import TrainConfig

SPEC = TinySpec(vision_hidden=32, vision_layers=1, text_hidden=32, text_layers=1, heads=2, vocab_size=600)
#: 570 steps: the model learns (its answers are the dataset's values, not one letter everywhere), and
#: rounding differences have grown until a few near-tie answers flip; 12 s a run here
RECIPE = TrainConfig(epochs=15, batch_size=8, learning_rate=3e-3, warmup_steps=5, max_rows=300, spec=SPEC)
#: environment variables that cap torch's, MKL's and oneDNN's kernels at AVX2 (no-ops on a CPU without AVX-512)
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
ROOT = Path(__file__).parents[2]


def train_and_evaluate(dataset: Path, out: Path, threads: int) -> None:
    import torch

    from medforget.evaluators.run import evaluate
    from medforget.models.adapters import TransformersAdapter
    from medforget.training.tiny_track import train_tiny

    train_tiny(dataset, out / "model", dataclasses.replace(RECIPE, threads=threads))
    evaluate(
        dataset, "section", TransformersAdapter(out / "model", max_new_tokens=8), out / "run", reconstruction=False
    )
    ran = {"threads": torch.get_num_threads(), "kernels": torch.backends.cpu.get_cpu_capability()}
    (out / "ran.json").write_text(json.dumps(ran))


def scores(run: Path) -> dict[str, float | None]:
    metrics = json.loads((run / "results.json").read_text())["metrics"]
    return {f"{m['name']}/{m['split']}/{m.get('task')}": m["value"] for m in metrics}


def predictions(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]


@pytest.mark.slow  # 31 s alone, 106 s with one core busy (2 threads wait on it): `make test-slow`, run by CI
def test_one_and_two_threads_give_the_same_scores_within_the_stated_tolerance(tiny_build: Path, tmp_path: Path):
    train_and_evaluate(tiny_build, tmp_path / "one", threads=1)
    env = {**os.environ, **AVX2, "OMP_NUM_THREADS": "2"}
    subprocess.run(
        [sys.executable, "-m", "tests.training.test_threads", str(tiny_build), str(tmp_path / "two"), "2"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    ran = json.loads((tmp_path / "two" / "ran.json").read_text())
    assert ran["threads"] == 2 and ran["kernels"] != "AVX512"

    one, two = scores(tmp_path / "one" / "run"), scores(tmp_path / "two" / "run")
    records = list(zip(predictions(tmp_path / "one" / "run"), predictions(tmp_path / "two" / "run"), strict=True))
    rows = [(a, b) for a, b in records if "prediction" in a]  # not the truth ratio's answers: log-probabilities only
    assert len(one) > 50 and len({a["prediction"] for a, _ in rows}) > 20  # it learned
    assert disagreements(one, two, SCORE_TOLERANCE) == []
    scored = [(a["logprobs"], b["logprobs"]) for a, b in records if "logprobs" in a]
    assert len(scored) > 100
    drift = max(abs(x - y) for a, b in scored for x, y in zip(a, b, strict=True))
    assert drift <= LOGPROB_TOLERANCE
    flipped = sum(a["prediction"] != b["prediction"] for a, b in rows)
    assert flipped <= FLIP_TOLERANCE * len(rows)  # a greedy answer flips only on a near-tie of its two best tokens


if __name__ == "__main__":
    train_and_evaluate(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
