"""Build benchmark: the default preset end to end, against writing the same rows with
``datasets`` alone, both measured in this process. Prints seconds, bytes and ratios.

    make bench            # or: python benchmarks/bench_build.py --preset tiny
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def build_with_medforget(preset: str, out: Path) -> tuple[float, dict[str, float]]:
    from medforget.build.pipeline import build
    from medforget.config import preset as get_preset

    start = time.perf_counter()
    result = build(get_preset(preset), out)
    return time.perf_counter() - start, result.timings


def write_with_datasets(preset: str, out: Path) -> float:
    """The same rows, written split by split with ``Dataset.from_list(...).to_parquet``."""
    from dataclasses import asdict

    from datasets import Dataset

    from medforget.build.pipeline import prepare
    from medforget.config import preset as get_preset
    from medforget.dataset import features

    prepared = prepare(get_preset(preset))
    feats = features()
    items = {item.id: item for item in prepared.items}
    images = {image.id: image for image in prepared.images}
    start = time.perf_counter()
    for config, splits in prepared.configs.items():
        for split, ids in splits.items():
            rows = []
            for i in ids:
                row = {k: v for k, v in asdict(items[i]).items() if k in feats}
                image = images.get(items[i].image_id or "")
                row["image"] = {"bytes": image.png, "path": None} if image else None
                row["options"] = list(row["options"])
                rows.append(row)
            if rows:
                (out / config).mkdir(parents=True, exist_ok=True)
                Dataset.from_list(rows, features=feats).to_parquet(str(out / config / f"{split}.parquet"))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ours_dir, theirs_dir = Path(tmp) / "medforget", Path(tmp) / "datasets-only"
        write_with_datasets(args.preset, theirs_dir)  # warm imports and caches for both runs
        theirs = write_with_datasets(args.preset, theirs_dir)
        ours, steps = build_with_medforget(args.preset, ours_dir)
        print(f"preset: {args.preset}")
        print("steps: " + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in steps.items()))
        print(f"medforget build, end to end          : {ours:7.2f} s   {folder_bytes(ours_dir) / 1e6:8.1f} MB")
        print(f"datasets alone, writing the same rows : {theirs:7.2f} s   {folder_bytes(theirs_dir) / 1e6:8.1f} MB")
        print(f"ratio build / datasets-only write     : {ours / theirs:7.2f} x")
        print(f"ratio export step / datasets-only     : {steps['export'] / theirs:7.2f} x")
        print(f"ratio bytes medforget / datasets-only : {folder_bytes(ours_dir) / folder_bytes(theirs_dir):7.3f} x")


if __name__ == "__main__":
    main()
