"""Reading a split: the rows ``datasets`` gives for the same shards, images decoded only when
asked, and a typed error for a missing or unreadable shard."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from medforget.dataset import DatasetError, load_rows


def test_rows_are_those_datasets_reads_from_the_same_shards(tiny_build: Path):
    from datasets import Dataset

    files = sorted((tiny_build / "study").glob("forget-*.parquet"))
    expected = list(Dataset.from_parquet([str(f) for f in files], keep_in_memory=True))
    rows = load_rows(tiny_build, "study", "forget")
    assert [{k: v for k, v in r.items() if k != "image"} for r in rows] == [
        {k: v for k, v in r.items() if k != "image"} for r in expected
    ]
    pairs = [(r["image"], e["image"]) for r, e in zip(rows, expected, strict=True)]
    assert any(a is not None for a, _ in pairs)
    assert all((a is None and b is None) or np.array_equal(np.asarray(a), np.asarray(b)) for a, b in pairs)
    text = load_rows(tiny_build, "study", "forget", images=False)
    assert all(r["image"] is None or set(r["image"]) == {"bytes", "path"} for r in text)


def test_a_missing_or_unreadable_shard_is_a_typed_error(tiny_build: Path, tmp_path: Path):
    with pytest.raises(DatasetError, match="no shards study/ward"):
        load_rows(tiny_build, "study", "ward")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_build, broken)
    next((broken / "study").glob("forget-*.parquet")).write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match="a shard is unreadable"):
        load_rows(broken, "study", "forget")
