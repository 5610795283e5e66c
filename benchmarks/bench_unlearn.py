"""Unlearning wall time: every method at every level of the tiny preset, on the tiny track's
model size and settings (``--track tiny``), and CHIP's cost relative to gradient ascent, both
measured in this process on the same model and data.

    make bench   # or: python benchmarks/bench_unlearn.py [--model DIR] [--methods ga,chip]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


def main() -> None:
    import torch
    from bench_eval import tiny_model

    from medforget.build.pipeline import build
    from medforget.config import preset
    from medforget.models.families import load_checkpoint
    from medforget.unlearning import METHODS
    from medforget.unlearning.data import load_unlearn_data
    from medforget.unlearning.run import method_for

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="a checkpoint (default: an untrained tiny LLaVA)")
    parser.add_argument("--methods", default=",".join(METHODS.names()))
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    names = args.methods.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        dataset = build(preset("tiny"), Path(tmp) / "medforget").out
        model_path = args.model or tiny_model(dataset, Path(tmp) / "model")  # time does not depend on training
        levels = list(load_unlearn_data(dataset, "patient").levels[1:])
        seconds: dict[tuple[str, str], float] = {}
        for level in levels:
            data = load_unlearn_data(dataset, level)
            for name in names:
                model, processor = load_checkpoint(model_path)
                torch.manual_seed(0)
                start = time.perf_counter()
                method_for(name, {}, track="tiny").run(model, processor, data, seed=0)
                seconds[(name, level)] = time.perf_counter() - start
    print("unlearning wall time (s), tiny track settings, 2 threads")
    print(f"{'method':<8}" + "".join(f"{level:>13}" for level in levels))
    for name in names:
        print(f"{name:<8}" + "".join(f"{seconds[(name, level)]:>13.2f}" for level in levels))
    if {"ga", "chip"} <= set(names):
        ratios = [seconds[("ga", level)] / seconds[("chip", level)] for level in levels]
        print(f"{'ga/chip':<8}" + "".join(f"{r:>12.1f}x" for r in ratios) + "   (goal: chip >= 10x cheaper)")


if __name__ == "__main__":
    main()
