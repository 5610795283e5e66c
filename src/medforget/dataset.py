"""A built dataset: the columns of its shards (:func:`features`), its manifest (a typed
:class:`Manifest`) and the rows of a split, for the build, training, evaluation, unlearning,
the leaderboard and publish alike (``load_dataset`` reads the same shards).

The leak checks (:mod:`medforget.schemas`) read ``manifest.json`` as it is, not through
:class:`Manifest`: they report each fault of a dataset handed to them as a finding, so they
must read whatever is there."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from medforget.errors import MedForgetError
from medforget.records import from_json

T = TypeVar("T")

if TYPE_CHECKING:
    from datasets import Features

#: the provenance fields of every row
PROVENANCE = ("generator", "template_id", "template_version", "model", "prompt_version", "temperature", "cache_key")


class DatasetError(MedForgetError):
    """A dataset folder is missing, incomplete, or not a MedForget build."""


#: 2: sources carry citation and licence.public_derivatives; steps the card. 3: ownership_sha256.
#: 4: config.source_options (each source's own settings) replaces images_dir, reports_archive,
#: source_root and reports_root. 5: licence.leaves_machine (whether LLM calls may leave the machine)
MANIFEST_SCHEMA_VERSION = 5


@dataclass(frozen=True)
class Licence:
    """A source's licence, carried into the manifest and the card."""

    spdx: str
    url: str
    redistribution: str  # what may be published of data derived from the source, in words
    #: whether data derived from the source may go to a public repository; when False,
    #: ``medforget publish`` needs an explicit acknowledgement and a private repository
    public_derivatives: bool
    #: whether text derived from the source may be sent off this machine (a hosted LLM API);
    #: when False, every LLM call on it needs a local endpoint (:mod:`medforget.llm.data_use`)
    leaves_machine: bool = False


@dataclass(frozen=True)
class Source:
    """A source a build read (``manifest.sources[]``)."""

    name: str
    description: str
    licence: Licence
    citation: str
    archive_sha256: str | None  # the source's fingerprint: builds of other data are never compared
    #: what of the hierarchy is real and what synthetic (the card's words); None: its default
    provenance: Mapping[str, str] | None


@dataclass(frozen=True)
class HierarchySummary:
    levels: tuple[str, ...]  # top to bottom; the first is context, the others target levels
    nodes: Mapping[str, int]  # level -> nodes


@dataclass(frozen=True)
class ImageEntry:
    id: str
    owner: str  # the node whose image it is
    sha256: str
    phash: str  # perceptual hash, hex: the leak checks compare images by it


@dataclass(frozen=True)
class ImagesSummary:
    count: int
    by_origin: Mapping[str, int]  # rendered, or the source that gave real pixels
    index: tuple[ImageEntry, ...]


@dataclass(frozen=True)
class SplitCounts:
    rows: int
    by_task: Mapping[str, int]
    by_modality: Mapping[str, int]
    by_level: Mapping[str, int]


@dataclass(frozen=True)
class Shard:
    """One Parquet file of a build."""

    config: str
    split: str
    path: str  # relative to the dataset folder
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Skipped:
    """Bad inputs skipped for one reason (``manifest.skipped[]``)."""

    reason: str
    count: int
    examples: tuple[str, ...]  # at most five


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``: what a build holds and how it was made. Written by the build
    (``build.pipeline``), read by everything after it through :func:`read_manifest`."""

    schema_version: int
    name: str
    medforget_version: str
    preset: str
    seed: int
    config: Mapping[str, Any]  # ``BuildConfig.to_record()``: local paths reduced to whether they were set
    steps: Mapping[str, Any]  # step -> version (the source's step: its name and version)
    software: Mapping[str, str | None]  # package -> version
    sources: tuple[Source, ...]
    hierarchy: HierarchySummary
    targets: Mapping[str, tuple[str, ...]]  # target level -> target node ids (the level configs)
    ownership_sha256: str  # which node owns each row, hashed (the leak checks recompute it)
    holdout_patients: tuple[str, ...]
    images: ImagesSummary
    total_qa_rows: int
    counts: Mapping[str, Mapping[str, SplitCounts]]  # config -> split -> counts
    shards: tuple[Shard, ...]
    skipped: tuple[Skipped, ...]
    llm: Mapping[str, Any] | None  # what LLM QA reported (model, prompts, calls, cache hits); None: templates only

    def local_only(self) -> tuple[str, ...]:
        """The sources whose text may not leave this machine, each named with its licence."""
        return local_only((s.name, s.licence) for s in self.sources)


def local_only(sources: Iterable[tuple[str, Licence]]) -> tuple[str, ...]:
    """The (name, licence) of sources whose licence keeps derived text on this machine, as
    ``name (licence)``: what :meth:`medforget.llm.data_use.DataUse.check` names."""
    return tuple(f"{name} ({licence.spdx})" for name, licence in sources if not licence.leaves_machine)


def read_manifest(dataset: Path) -> Manifest:
    """The manifest of the build in ``dataset``, its types checked; a :class:`DatasetError`
    says what is wrong (not a build, another schema version, a field of the wrong type)."""
    path = dataset / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(
            f"{path} is missing or not JSON ({err}); is {dataset} a MedForget build? "
            f"Build one with `medforget build --out {dataset}`"
        ) from err
    if not isinstance(data, dict):
        raise DatasetError(f"{path} holds a JSON {type(data).__name__}, not a manifest; rebuild the dataset")
    if data.get("schema_version") != MANIFEST_SCHEMA_VERSION:
        raise DatasetError(
            f"{dataset} was built by another medforget (manifest schema {str(data.get('schema_version'))[:20]}, "
            f"this one reads {MANIFEST_SCHEMA_VERSION}): rebuild it with `medforget build`"
        )
    return from_json(Manifest, data, str(path), DatasetError)


def sample_rows(rows: Sequence[T], n: int | None, seed: int = 0) -> list[T]:
    """At most ``n`` of ``rows``: all of them when there are no more (or ``n`` is None), else a
    sample seeded by ``seed``."""
    rows = list(rows)
    return rows if n is None or len(rows) <= n else random.Random(seed).sample(rows, n)


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


def features() -> Features:
    """The columns of every config, in order."""
    from datasets import Features, List, Value
    from datasets import Image as ImageFeature

    string = Value("string")
    provenance = {name: (Value("float32") if name == "temperature" else string) for name in PROVENANCE}
    return Features(
        {
            "id": string,
            "image": ImageFeature(),
            "image_id": string,
            "question": string,
            "answer": string,
            "options": List(string),
            "task": string,
            "modality": string,
            "level": string,
            "node_id": string,
            "network_id": string,
            "institution_id": string,
            "patient_id": string,
            "study_id": string,
            "section": string,
            "fact_id": string,
            "attribute": string,
            "rephrased_of": string,
            "paraphrased_answer": string,
            "perturbed_answers": List(string),
            "provenance": provenance,
        }
    )
