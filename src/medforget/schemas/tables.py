"""What the leak checks read: every split of every config as an Arrow table, images as keys.

Images are identified by content (sha256 of their bytes), not by the ``image_id`` a row
claims, so a row whose image was swapped is seen for what it shows. Shards are read with the
image bytes dictionary-encoded, so an image shared by many rows is hashed once per row group
and held once in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from medforget.errors import MedForgetError

TEXT_COLUMNS = (
    "id",
    "image_id",
    "question",
    "answer",
    "options",
    "task",
    "modality",
    "level",
    "node_id",
    "network_id",
    "institution_id",
    "patient_id",
    "study_id",
    "section",
    "fact_id",
    "attribute",
    "rephrased_of",
    "paraphrased_answer",
    "perturbed_answers",
)
LIST_COLUMNS = ("options", "perturbed_answers")
LINEAGE_COLUMNS = ("network_id", "institution_id", "patient_id", "study_id", "node_id")
NO_IMAGE = -1


class ValidationInputError(MedForgetError):
    """The folder is not a dataset the checks can read (no manifest, unreadable shard)."""


class ImageRegistry:
    """Distinct images by content. Keys are small ints; perceptual hashes come from the
    manifest's image index when the bytes match it, and are computed otherwise."""

    def __init__(self, known_phashes: Mapping[str, str] | None = None):
        self.known_phashes = dict(known_phashes or {})
        self.sha256: list[str] = []
        self._key_of: dict[str, int] = {}
        self._data: list[tuple[pa.Array, int] | None] = []
        self._phash: dict[int, str | None] = {}

    def __len__(self) -> int:
        return len(self.sha256)

    def add_values(self, values: pa.Array) -> np.ndarray:
        """Keys of the binary values, registering new images."""
        keys = np.empty(len(values), dtype=np.int64)
        for index in range(len(values)):
            buffer = values[index].as_buffer()
            keys[index] = self._register(hashlib.sha256(buffer).hexdigest(), (values, index))
        return keys

    def key_for_sha(self, sha: str) -> int:
        """The key of an image known only by its hash (e.g. listed in the manifest)."""
        return self._register(sha, None)

    def _register(self, sha: str, source: tuple[pa.Array, int] | None) -> int:
        key = self._key_of.get(sha)
        if key is None:
            key = self._key_of[sha] = len(self.sha256)
            self.sha256.append(sha)
            self._data.append(source)
        elif self._data[key] is None and source is not None:
            self._data[key] = source
        return key

    def data(self, key: int) -> bytes | None:
        source = self._data[key]
        return None if source is None else source[0][source[1]].as_py()

    def phash(self, key: int) -> str | None:
        """The 256-bit perceptual hash (hex) of an image; None if it can be neither looked up
        nor computed (no bytes seen)."""
        if key not in self._phash:
            known = self.known_phashes.get(self.sha256[key])
            data = None if known else self.data(key)
            self._phash[key] = known or (_compute_phash(data) if data is not None else None)
        return self._phash[key]

    def computed(self) -> int:
        """How many perceptual hashes had to be computed from pixels."""
        return sum(1 for k in self._phash if self.sha256[k] not in self.known_phashes)


def _compute_phash(data: bytes) -> str | None:
    from PIL import Image, UnidentifiedImageError

    from medforget.images.make import perceptual_hash

    try:
        with Image.open(io.BytesIO(data)) as picture:
            return perceptual_hash(picture.convert("L"))
    except (OSError, UnidentifiedImageError):
        return None


@dataclass
class DatasetTables:
    """A dataset as the checks see it."""

    manifest: dict[str, Any]
    splits: dict[tuple[str, str], pa.Table]
    images: ImageRegistry
    #: parquet files found on disk: relative path -> (sha256, bytes); empty for in-memory data
    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: shards whose Arrow schema differs from the MedForget features: path -> what differs
    schema_problems: dict[str, str] = field(default_factory=dict)

    @property
    def level_configs(self) -> list[str]:
        return list(self.manifest.get("targets", {}))

    def configs(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for config, split in self.splits:
            out.setdefault(config, []).append(split)
        return out

    def table(self, config: str, split: str) -> pa.Table:
        return self.splits.get((config, split), EMPTY_TABLE)

    def rows(self, pairs: Iterable[tuple[str, str]]) -> pa.Table:
        tables = [self.splits[p] for p in pairs if p in self.splits]
        return pa.concat_tables(tables) if tables else EMPTY_TABLE


def _empty_schema() -> pa.Schema:
    fields = [pa.field(name, pa.list_(pa.string()) if name in LIST_COLUMNS else pa.string()) for name in TEXT_COLUMNS]
    return pa.schema([*fields, pa.field("image_key", pa.int64())])


EMPTY_TABLE = _empty_schema().empty_table()


def image_keys(column: pa.ChunkedArray, registry: ImageRegistry) -> pa.Array:
    """Per row, the registry key of its image (``NO_IMAGE`` for rows without one)."""
    parts = []
    for chunk in column.chunks:
        data = chunk.field("bytes")
        if isinstance(data, pa.DictionaryArray):
            by_index = registry.add_values(data.dictionary)
            indices = data.indices.fill_null(0).to_numpy(zero_copy_only=False)
            keys = by_index[indices] if len(by_index) else np.full(len(chunk), NO_IMAGE)
        else:
            keys = registry.add_values(data.fill_null(b""))
        missing = pc.or_(chunk.is_null(), data.is_null()).to_numpy(zero_copy_only=False)
        parts.append(np.where(missing, NO_IMAGE, keys))
    return pa.array(np.concatenate(parts) if parts else np.empty(0, np.int64), pa.int64())


def read_split(paths: Iterable[Path], registry: ImageRegistry) -> pa.Table:
    tables = []
    for path in paths:
        try:
            table = pq.read_table(path, columns=[*TEXT_COLUMNS, "image"], read_dictionary=["image.bytes"])
        except (OSError, pa.ArrowException) as err:
            raise ValidationInputError(f"cannot read shard {path}: {err}") from err
        keys = image_keys(table.column("image"), registry)
        tables.append(table.drop_columns(["image"]).append_column("image_key", keys))
    return pa.concat_tables(tables) if tables else EMPTY_TABLE


def load_folder(folder: Path) -> DatasetTables:
    """Read a built dataset folder: its manifest and every ``<config>/<split>-*.parquet``.

    A shard whose columns differ from the MedForget features is not read (its rows cannot be
    checked); it is listed in ``schema_problems`` and reported by the manifest check."""
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValidationInputError(
            f"{manifest_path} is missing or not JSON ({err}); is {folder} a MedForget build?"
        ) from err
    images = manifest.get("images") if isinstance(manifest, dict) else None
    if not isinstance(images, dict):
        raise ValidationInputError(
            f"{manifest_path} has no image index; rebuild {folder} with this version of medforget"
        )
    index = images.get("index", [])
    registry = ImageRegistry({entry["sha256"]: entry["phash"] for entry in index})
    by_split: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(folder.glob("*/*.parquet")):
        split = path.name.split("-")[0]
        by_split.setdefault((path.parent.name, split), []).append(path)
    files = {str(p.relative_to(folder)): _file_digest(p) for paths in by_split.values() for p in paths}
    problems = {
        str(p.relative_to(folder)): problem
        for paths in by_split.values()
        for p in paths
        if (problem := _schema_problem(p))
    }
    readable = {
        key: [p for p in paths if str(p.relative_to(folder)) not in problems] for key, paths in by_split.items()
    }
    splits = {key: read_split(paths, registry) for key, paths in readable.items()}
    return DatasetTables(manifest, splits, registry, files, problems)


def _schema_problem(path: Path) -> str | None:
    """How a shard's columns differ from the features every MedForget config has, if they do."""
    from medforget.dataset import features

    expected = features().arrow_schema
    try:
        actual = pq.read_schema(path)
    except (OSError, pa.ArrowException) as err:
        return f"unreadable ({err})"
    if actual.equals(expected, check_metadata=False):
        return None
    missing = sorted(set(expected.names) - set(actual.names))
    changed = [
        f"{f.name}: {actual.field(f.name).type}"
        for f in expected
        if f.name in actual.names and actual.field(f.name).type != f.type
    ]
    return f"missing {missing}, changed {changed}, extra {sorted(set(actual.names) - set(expected.names))}"


def _file_digest(path: Path) -> tuple[str, int]:
    from medforget.outputs import sha256_file

    return sha256_file(path), path.stat().st_size


def column_set(table: pa.Table, column: str) -> set[Any]:
    return set(pc.unique(table.column(column)).to_pylist()) - {None}
