"""Rows to train on: the ``train`` config, less a forget split (retain models), optionally a
seeded sample (smoke runs)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any


def load_rows(dataset: Path, config: str, split: str) -> list[dict[str, Any]]:
    """Rows of one split, images decoded, read straight from the shards (no cache)."""
    from datasets import Dataset, concatenate_datasets

    files = sorted((dataset / config).glob(f"{split}-*.parquet"))
    parts = [Dataset.from_parquet(str(f), keep_in_memory=True) for f in files]
    return list(concatenate_datasets(parts)) if parts else []


def training_rows(rows: list[dict[str, Any]], dataset: Path, without: tuple[str, str] | None,
                  max_rows: int | None, seed: int) -> list[dict[str, Any]]:
    """``rows`` less those of the ``without`` split, then at most ``max_rows`` of them."""
    if without is not None:
        excluded = {r["id"] for r in load_rows(dataset, *without)}
        rows = [r for r in rows if r["id"] not in excluded]
    if max_rows is not None and max_rows < len(rows):
        rows = random.Random(seed).sample(rows, max_rows)
    return rows
