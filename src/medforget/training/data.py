"""The rows to train on: the ``train`` config, less a forget split for retain models,
optionally a seeded sample for smoke runs (reading a build is :mod:`medforget.dataset`'s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medforget.dataset import load_rows, sample_rows


def training_rows(
    rows: list[dict[str, Any]], dataset: Path, without: tuple[str, str] | None, max_rows: int | None, seed: int
) -> list[dict[str, Any]]:
    """``rows`` less those of the ``without`` split, then at most ``max_rows`` of them."""
    if without is not None:
        excluded = {r["id"] for r in load_rows(dataset, *without, images=False)}
        rows = [r for r in rows if r["id"] not in excluded]
    return sample_rows(rows, max_rows, seed)
