"""Work spread out gives the same dataset: images over processes (--num-proc), and a build split
into parts (--shard i/n) merged by `medforget merge`, byte for byte; parts that do not make one
build are refused, naming why."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from medforget.build.parts import PartError, build_part, merge_parts, read_part
from medforget.build.pipeline import build
from medforget.cli import main
from medforget.config import BuildConfig
from medforget.errors import ConfigError
from medforget.workers import ShardSpec, pmap


def contents(folder: Path) -> dict[str, object]:
    """Every file of a build; of the validation reports, what they found (not how long each check
    took, nor the folder's own name)."""
    files: dict[str, object] = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("validation.html", ".medforget-written.json")
    }
    report = json.loads(files.pop("validation.json"))
    files["validation.json"] = {
        **report,
        "dataset": None,
        "checks": [{k: v for k, v in c.items() if k != "seconds"} for c in report["checks"]],
    }
    return files


@pytest.fixture
def whole(small_config: BuildConfig, tmp_path: Path) -> Path:
    out = tmp_path / "whole" / "medforget"
    build(small_config, out)
    return out


def _square(n: int) -> int:
    return n * n


def test_pmap_keeps_order_over_processes_and_raises_worker_errors():
    assert pmap(_square, list(range(40)), num_proc=2) == [n * n for n in range(40)]
    with pytest.raises(TypeError):
        pmap(_square, [1, "x"], num_proc=2)
    with pytest.raises(ConfigError, match="num-proc"):
        pmap(_square, [1], num_proc=0)


def test_shards_parse_and_split_items_into_disjoint_balanced_parts():
    assert ShardSpec.parse("2/5") == ShardSpec(2, 5)
    for bad in ("5/5", "1", "a/b", "-1/3"):
        with pytest.raises(ConfigError, match="shard"):
            ShardSpec.parse(bad)
    keys = [f"stu-{n}" for n in range(300)]
    owners = [[k for k in keys if ShardSpec(i, 3).owns(k)] for i in range(3)]
    assert sorted(k for part in owners for k in part) == sorted(keys) and all(70 < len(part) < 130 for part in owners)


def test_num_proc_2_writes_the_same_bytes(small_config: BuildConfig, whole: Path, tmp_path: Path):
    out = tmp_path / "two" / "medforget"
    build(small_config, out, num_proc=2)
    assert contents(out) == contents(whole)


def test_a_sharded_build_merges_into_the_unsharded_build(small_config: BuildConfig, whole: Path, tmp_path: Path):
    parts = [tmp_path / f"part-{i}" for i in range(3)]
    made = [build_part(small_config, part, ShardSpec(i, 3)) for i, part in enumerate(parts)]
    manifest = json.loads((whole / "manifest.json").read_text())
    assert all(made) and sum(made) == manifest["images"]["count"]
    out = tmp_path / "merged" / "medforget"
    assert main(["merge", *map(str, reversed(parts)), "--out", str(out), "--num-proc", "2"]) == 0  # any order
    assert contents(out) == contents(whole)


def test_parts_that_do_not_make_one_build_are_refused(small_config: BuildConfig, tmp_path: Path):
    parts = [tmp_path / f"part-{i}" for i in range(2)]
    for i, part in enumerate(parts):
        build_part(small_config, part, ShardSpec(i, 2))
    out = tmp_path / "out"
    with pytest.raises(PartError, match="parts 0/2 to 1/2, each once; got 0/2"):
        merge_parts(parts[:1], out)
    with pytest.raises(PartError, match="each once; got 0/2, 0/2"):
        merge_parts([parts[0], parts[0]], out)
    other = tmp_path / "other"
    build_part(dataclasses.replace(small_config, seed=7), other, ShardSpec(1, 2))
    with pytest.raises(PartError, match="another config"):
        merge_parts([parts[0], other], out)
    (parts[1] / "images.parquet").write_bytes(b"torn")
    with pytest.raises(PartError, match="not a complete build part"):
        read_part(parts[1])
    shutil.rmtree(parts[1])
    build_part(small_config, parts[1], ShardSpec(1, 2))
    small_config.source_options["reports_archive"].write_bytes(b"changed")  # the source changed since
    with pytest.raises(PartError, match="source changed"):
        merge_parts(parts, out)
    assert not out.exists()
