"""``scripts/gpu-board.sh``, the board a GPU machine runs, run here on CPU end to end: a tiny
random LLaVA fine-tuned with LoRA under ``accelerate launch`` into a target and a retain model,
two methods (one gradient, CHIP) at the study level, evaluated, submitted and built into a
board (slow; CI runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).parents[2] / "scripts" / "gpu-board.sh"


def test_the_gpu_board_script_builds_a_board(checkpoint: Path, cut_build: Path, tmp_path: Path):
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "BIN": str(bin_dir),
        "LAUNCH": f"{bin_dir / 'accelerate'} launch --cpu --num_processes 1 --num_machines 1 "
        "--mixed_precision no --dynamo_backend no",
        "DATASET": str(cut_build),
        "LEVELS": "study",
        "METHODS": "ga chip",
        "EPOCHS": "1",
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), str(checkpoint), "cpu"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "the cpu board: leaderboard-cpu/index.html" in done.stdout
    for model in ("target", "retain-study", "ga-study"):
        assert (tmp_path / "models" / "cpu" / model / "adapter_config.json").is_file()  # LoRA all the way
    board = json.loads((tmp_path / "leaderboard-cpu" / "board.json").read_text())
    text = json.dumps(board)
    assert all(f"cpu-{name}" in text for name in ("ga", "chip", "target", "retain"))
    assert sorted(p.name for p in (tmp_path / "leaderboard-cpu" / "submissions").iterdir()) == [
        "cpu-chip",
        "cpu-ga",
        "cpu-retain",
        "cpu-target",
    ]
