"""The export step: Parquet shards per config and split, with Hugging Face feature types.

Shards carry the ``datasets`` features in their Arrow schema metadata (as ``datasets`` itself
writes them), so ``load_dataset`` decodes the ``image`` column to PIL. Rows are ordered by
image and written with Parquet dictionary encoding: an image shared by many rows is stored
once per row group instead of once per row. Memory stays bounded by writing one row group at
a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medforget.dataset import Shard, features
from medforget.hierarchy import Image, QAItem
from medforget.outputs import sha256_file

EXPORT_VERSION = "1.1.0"
ROW_GROUP_SIZE = 1_000


class ShardWriter:
    """Writes the rows of each (config, split) as ``<config>/<split>-NNNNN-of-NNNNN.parquet``.

    Every row is converted to Arrow once (without its image); the unique images form one
    array. A row group is then two ``take``s, whichever configs and splits a row lands in.
    """

    def __init__(self, root: Path, items: Sequence[QAItem], images: Sequence[Image], max_rows_per_shard: int):
        self.root = root
        self.max_rows = max_rows_per_shard
        self.features = features()
        self.schema = self.features.arrow_schema
        image_index = {image.id: n for n, image in enumerate(images)}
        self._row_of = {item.id: n for n, item in enumerate(items)}
        self._image_of = [image_index[item.image_id] if item.image_id else None for item in items]
        self._sort_key = {item.id: (item.image_id or "\uffff", item.id) for item in items}
        self._image_column = self.schema.get_field_index("image")
        without_image = self.schema.remove(self._image_column)
        self._rows = pa.Table.from_pylist([self._row(item) for item in items], schema=without_image)
        self._images = pa.array(
            [{"bytes": image.png, "path": f"{image.id}.png"} for image in images], type=self.schema.field("image").type
        )

    @staticmethod
    def _row(item: QAItem) -> dict[str, object]:
        row = asdict(item)
        row["options"] = list(item.options)
        row["perturbed_answers"] = list(item.perturbed_answers)
        return row

    def write(self, config: str, split: str, ids: Sequence[str]) -> list[Shard]:
        ordered = sorted(ids, key=self._sort_key.__getitem__)
        n_shards = max(1, -(-len(ordered) // self.max_rows))
        shards = []
        for index in range(n_shards):
            chunk = ordered[index * self.max_rows : (index + 1) * self.max_rows]
            relative = f"{config}/{split}-{index:05d}-of-{n_shards:05d}.parquet"
            shards.append(self._write_shard(config, split, relative, chunk))
        return shards

    def _write_shard(self, config: str, split: str, relative: str, ids: Sequence[str]) -> Shard:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(
            path, self.schema, compression="zstd", use_dictionary=True, dictionary_pagesize_limit=1 << 26
        ) as writer:
            for batch in self._batches(ids):
                writer.write_table(batch, row_group_size=ROW_GROUP_SIZE)
        return Shard(config, split, relative, len(ids), path.stat().st_size, sha256_file(path))

    def _batches(self, ids: Sequence[str]) -> Iterator[pa.Table]:
        """Row groups of the shard; an empty split gets a shard with no row group at all, which
        ``datasets`` reads as an empty split (a zero-row row group makes it fail)."""
        for start in range(0, len(ids), ROW_GROUP_SIZE):
            rows = [self._row_of[i] for i in ids[start : start + ROW_GROUP_SIZE]]
            table = self._rows.take(pa.array(rows, pa.int64()))
            images = self._images.take(pa.array([self._image_of[r] for r in rows], pa.int64()))
            yield table.add_column(self._image_column, self.schema.field("image"), images)
