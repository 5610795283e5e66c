"""Reading a built dataset for training and evaluation: its manifest, the rows of a split, and
the rows to train on (the ``train`` config, less a forget split for retain models, optionally a
seeded sample for smoke runs)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from medforget.errors import MedForgetError


class DatasetError(MedForgetError):
    """A dataset folder is missing, incomplete, or not a MedForget build."""


def read_manifest(dataset: Path) -> dict[str, Any]:
    path = dataset / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path} is missing or not JSON ({err}); is {dataset} a MedForget build? "
                           f"Build one with `medforget build --out {dataset}`") from err


def load_rows(dataset: Path, config: str, split: str, images: bool = True) -> list[dict[str, Any]]:
    """Rows of one split, read straight from the shards (no cache), images decoded to PIL (or
    left as ``{"bytes", "path"}`` when ``images`` is False: scoring text needs no pixels). A
    build never writes an empty split, so a split without shards is an error.

    The shards are read with pyarrow and only the image columns decoded, with the features the
    shards declare: the same rows ``datasets`` gives, without its per-row formatting (3x faster)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Features, Image

    files = sorted((dataset / config).glob(f"{split}-*.parquet"))
    if not files:
        raise DatasetError(f"{dataset} has no shards {config}/{split}-*.parquet; is it a complete MedForget build?")
    try:
        tables = [pq.read_table(f) for f in files]
    except (OSError, pa.ArrowException) as err:
        raise DatasetError(f"{dataset}/{config}/{split}: a shard is unreadable ({err}); rebuild the dataset") from err
    rows = [row for table in tables for row in table.to_pylist()]
    if images:
        features = Features.from_arrow_schema(tables[0].schema)
        columns = [(name, feature) for name, feature in features.items() if isinstance(feature, Image)]
        for row in rows:
            for name, feature in columns:
                if row[name] is not None:
                    row[name] = feature.decode_example(row[name])
    return rows


def training_rows(rows: list[dict[str, Any]], dataset: Path, without: tuple[str, str] | None,
                  max_rows: int | None, seed: int) -> list[dict[str, Any]]:
    """``rows`` less those of the ``without`` split, then at most ``max_rows`` of them."""
    if without is not None:
        excluded = {r["id"] for r in load_rows(dataset, *without, images=False)}
        rows = [r for r in rows if r["id"] not in excluded]
    if max_rows is not None and max_rows < len(rows):
        rows = random.Random(seed).sample(rows, max_rows)
    return rows
