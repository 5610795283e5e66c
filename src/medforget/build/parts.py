"""A build split into independent jobs: ``medforget build --shard i/n --out PART`` makes the images
of part i of n (the build's heavy, per-item work: decoding, windowing, rendering, hashing), and
``medforget merge PART... --out DIR`` writes the dataset from every part's images. Each part reads
the source's index itself (cheap next to the pixels), so parts run anywhere, in any order: a
cluster's array job. The merged dataset is the one an unsharded build writes, byte for byte.

A part folder holds ``part.json`` (the full config, the shard, the source's fingerprint) and
``images.parquet``; it is written beside its destination and moved into place when complete.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medforget.build.pipeline import BuildResult, build, image_plans, ingest
from medforget.builders import BUILDERS
from medforget.builders.base import SkipLog
from medforget.config import BuildConfig
from medforget.errors import BuildError
from medforget.hierarchy import Image
from medforget.images.make import make_images, utility_profiles
from medforget.llm.data_use import LOOPBACK_ONLY, DataUse
from medforget.outputs import check_replaceable, folder_in_place, write_json
from medforget.workers import ShardSpec

PART_FORMAT = "medforget-part"
PART_VERSION = 1
IMAGE_COLUMNS = ("id", "owner_id", "png", "sha256", "phash", "width", "height", "origin")


class PartError(BuildError):
    """Parts that do not make one build: missing, repeated, from other configs or other data."""


def build_part(config: BuildConfig, out: Path, shard: ShardSpec, policy: str = "skip", num_proc: int = 1) -> int:
    """Make the images of part ``shard`` into ``out``; returns how many."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_replaceable(out)  # before the work, not only when it is done
    skips = SkipLog(policy)
    builder, data = ingest(config, skips, {}, num_proc)
    plans = [p for p in image_plans(data, utility_profiles(config, data.spare_findings)) if shard.owns(p.study_id)]
    images = make_images(plans, config, builder.name, num_proc)
    with folder_in_place(out) as tmp:
        columns = {name: [getattr(image, name) for image in images] for name in IMAGE_COLUMNS}
        pq.write_table(pa.table(columns), tmp / "images.parquet")
        write_json(
            tmp / "part.json",
            {
                "format": PART_FORMAT,
                "version": PART_VERSION,
                "shard": str(shard),
                "config": config.to_mapping(),  # local paths kept: a part is a working file, never published
                "policy": policy,
                "source": builder.name,
                "fingerprint": builder.fingerprint(),
                "images": len(images),
            },
        )
    return len(images)


def read_part(folder: Path) -> tuple[dict[str, Any], dict[str, Image]]:
    """A part's record and its images by owner id."""
    import pyarrow.parquet as pq

    try:
        record = json.loads((folder / "part.json").read_text(encoding="utf-8"))
        rows = pq.read_table(folder / "images.parquet").to_pylist()
    except (OSError, ValueError) as err:
        raise PartError(f"{folder} is not a complete build part ({err}); rerun its `medforget build --shard`") from err
    if record.get("format") != PART_FORMAT or record.get("version") != PART_VERSION or len(rows) != record["images"]:
        raise PartError(f"{folder}: not a {PART_FORMAT} v{PART_VERSION} folder, or its images are incomplete")
    return record, {row["owner_id"]: Image(**row) for row in rows}


def merge_parts(parts: Sequence[Path], out: Path, num_proc: int = 1, data_use: DataUse = LOOPBACK_ONLY) -> BuildResult:
    """The dataset of every part's images: all n parts of one config, each once (``data_use``:
    what :func:`medforget.build.pipeline.prepare` says)."""
    if not parts:
        raise PartError("merge needs the part folders of every `medforget build --shard i/n` job")
    records, made = [], {}
    for folder in parts:
        record, images = read_part(folder)
        records.append((folder, record))
        made.update(images)
    first = records[0][1]
    for folder, record in records[1:]:
        for key in ("config", "policy", "fingerprint"):
            if record[key] != first[key]:
                raise PartError(
                    f"{folder} was built with another {key} than {records[0][0]}: parts of different "
                    "builds cannot be merged"
                )
    shards = sorted((spec.count, spec.index) for spec in (ShardSpec.parse(r["shard"]) for _, r in records))
    count = shards[0][0]
    if shards != [(count, i) for i in range(count)]:
        have = ", ".join(f"{i}/{n}" for n, i in shards)
        raise PartError(f"merge needs parts 0/{count} to {count - 1}/{count}, each once; got {have}")
    config = BuildConfig.from_mapping(first["config"])
    if BUILDERS.get(config.source)(config, SkipLog(first["policy"])).fingerprint() != first["fingerprint"]:
        raise PartError(f"the {config.source} source changed since the parts were built: build them again")
    return build(config, out, first["policy"], num_proc, made=made, data_use=data_use)
