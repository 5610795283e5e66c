"""Export a built dataset to the published MedForget layout, so the authors' CHIP and evaluation
code (github.com/fengli-wu/MedForget: ``chip/chip.py``, ``eval.py``) runs on any build.

``medforget export --format medforget-paper --dataset DIR --out OUT`` writes, for each target
level the paper knows (institution, patient, study, section)::

    OUT/<level>_level/forget_set_all.parquet        the level's forget split
    OUT/<level>_level/retain_set_all.parquet        retain_sibling + retain_other + shared_ancestor
    OUT/<level>_level/forget_set_rephrased.parquet  forget_rephrased (an extension: same columns)
    OUT/<level>_level/retain_set_rephrased.parquet  retain_rephrased
    OUT/medforget_paper_export.json                 what was exported from which build

Each has the paper's five columns. One row per (node, image): every image-grounded question of one
node asked with one image, so that CHIP, which files a row's questions under the node its
``hierarchy_metadata`` names, rebuilds our hierarchy:

- ``image``: ``{"bytes": PNG, "path": "<image_id>.png"}``;
- ``image_path``: ``<institution_id>/<patient_id>/<study_id>/<image_id>.png`` (node ids; the
  study and patient are the image's owners, also for institution and patient facts);
- ``metadata``: JSON list of ``{"Question", "Answer", "Task", "ID"}`` (``Task`` and our QA ``ID``
  are extra keys the authors' code ignores; classification questions carry their options and the
  answer is the letter, as the paper's ROUGE-L == 1 accuracy expects);
- ``hierarchy_metadata``: JSON with ``institution_id``, ``patient_id``, ``study_id``,
  ``section_name`` (upper case, "" above the section level), ``hierarchy_level`` and our ``node_id``;
- ``ID``: ``<node_id>@<image_id>``, unique in its file.

Left out, and counted in the record: text-only twins (the paper's code opens every row's image),
holdout rows (never trained on; not part of the paper's forget/retain pair) and rows of levels the
paper's hierarchy lacks (our ``network`` context level, DICOM series): CHIP would misfile them.
The export is written to a temporary folder and moved into place when complete.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from medforget.dataset import Manifest, read_manifest
from medforget.errors import BuildError, SourceError
from medforget.outputs import check_replaceable, folder_in_place, sha256_file, write_json

PAPER_FORMAT = "medforget-paper"
PAPER_LAYOUT_VERSION = "1.0.0"
PAPER_LEVELS = ("institution", "patient", "study", "section")
#: file of each level folder -> the splits of our level config it holds
PAPER_FILES: dict[str, tuple[str, ...]] = {
    "forget_set_all": ("forget",),
    "retain_set_all": ("retain_sibling", "retain_other", "shared_ancestor"),
    "forget_set_rephrased": ("forget_rephrased",),
    "retain_set_rephrased": ("retain_rephrased",),
}
RECORD_NAME = "medforget_paper_export.json"
_TASK_ORDER = {"generation": 0, "classification": 1, "cloze": 2}
_READ_COLUMNS = [
    "id",
    "image_id",
    "question",
    "answer",
    "task",
    "modality",
    "level",
    "node_id",
    "institution_id",
    "patient_id",
    "study_id",
    "section",
]
SCHEMA = pa.schema(
    [
        pa.field("image", pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])),
        pa.field("image_path", pa.string()),
        pa.field("metadata", pa.string()),
        pa.field("hierarchy_metadata", pa.string()),
        pa.field("ID", pa.string()),
    ]
)


@dataclass(frozen=True)
class PaperExport:
    out: Path
    record: dict[str, Any]


@dataclass(frozen=True)
class Lineage:
    """Where an image sits: the study owning it and that study's patient and institution."""

    institution_id: str
    patient_id: str
    study_id: str


def export_paper_layout(dataset: Path, out: Path) -> PaperExport:
    """Write the paper layout of the build in ``dataset`` to ``out`` (replacing an earlier export)."""
    manifest = read_manifest(dataset)
    check_replaceable(out)
    with folder_in_place(out) as tmp:
        levels = [lv for lv in manifest.hierarchy.levels if lv in manifest.targets and lv in PAPER_LEVELS]
        counts = {level: _export_level(dataset, manifest, level, tmp / f"{level}_level") for level in levels}
        record = _record(dataset, manifest, counts)
        write_json(tmp / RECORD_NAME, record)
    return PaperExport(out, record)


# reading the build -----------------------------------------------------------------------


def _shards(dataset: Path, manifest: Manifest, config: str, split: str) -> list[Path]:
    """Shards of one split, each checked against the manifest's sha256 first: an export must come
    from exactly the data the manifest (and its validation) describes."""
    paths = []
    for shard in (s for s in manifest.shards if s.config == config and s.split == split):
        path = dataset / shard.path
        if not path.is_file() or sha256_file(path) != shard.sha256:
            raise SourceError(f"shard {path} is missing or differs from its manifest sha256; rebuild {dataset}")
        paths.append(path)
    return paths


def _rows(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Rows without their image bytes (held once per image by :func:`_image_bytes` instead)."""
    return [row for path in paths for row in pq.read_table(path, columns=_READ_COLUMNS).to_pylist()]


def _image_bytes(paths: Iterable[Path], wanted: set[str]) -> dict[str, bytes]:
    """PNG bytes of the wanted images. Shards store an image once per row group (dictionary
    encoding); reading it as a dictionary keeps one copy per image in memory, not one per row."""
    found: dict[str, bytes] = {}
    for path in paths:
        table = pq.read_table(path, columns=["image_id", "image"], read_dictionary=["image.bytes"])
        for ids, images in zip(table.column("image_id").chunks, table.column("image").chunks):
            data = images.field("bytes")
            for n, image_id in enumerate(ids.to_pylist()):
                if image_id in wanted and image_id not in found and data[n].is_valid:
                    found[image_id] = data[n].as_py()
    return found


def _lineages(rows: Iterable[dict[str, Any]], owners: Mapping[str, str]) -> dict[str, Lineage]:
    """image id -> its owning study's lineage, learnt from the rows asked below the patient."""
    by_study: dict[str, Lineage] = {}
    for row in rows:
        if row["study_id"] and row["patient_id"] and row["institution_id"]:
            by_study.setdefault(row["study_id"], Lineage(row["institution_id"], row["patient_id"], row["study_id"]))
    return {image: by_study[owner] for image, owner in owners.items() if owner in by_study}


# writing ---------------------------------------------------------------------------------


def _export_level(dataset: Path, manifest: Manifest, level: str, folder: Path) -> dict[str, Any]:
    splits = sorted({split for names in PAPER_FILES.values() for split in names} | {"holdout"})
    paths = {split: _shards(dataset, manifest, level, split) for split in splits}
    rows = {split: _rows(paths[split]) for split in splits}
    owners = {entry.id: entry.owner for entry in manifest.images.index}
    lineage = _lineages((r for table in rows.values() for r in table), owners)
    wanted = {r["image_id"] for table in rows.values() for r in table if _left_out(r) is None}
    images = _image_bytes((p for split in splits for p in paths[split]), wanted)
    folder.mkdir(parents=True)
    counts: dict[str, Any] = {}
    left_out: Counter[str] = Counter({"holdout rows (never trained on)": len(rows["holdout"])})
    for name, sources in PAPER_FILES.items():
        chosen = [r for split in sources for r in rows[split]]
        table, figures = _paper_table(chosen, lineage, images)
        pq.write_table(table, folder / f"{name}.parquet", compression="zstd")
        counts[name] = {"splits": list(sources), **figures}
        left_out.update(reason for r in chosen if (reason := _left_out(r)) is not None)
    counts["left_out"] = dict(sorted(left_out.items()))
    return counts


def _left_out(row: Mapping[str, Any]) -> str | None:
    if row["modality"] != "image" or row["image_id"] is None:
        return "text-only rows"
    if row["level"] not in PAPER_LEVELS:
        return f"{row['level']}-level rows"
    return None


def _paper_table(
    rows: Sequence[dict[str, Any]], lineage: Mapping[str, Lineage], images: Mapping[str, bytes]
) -> tuple[pa.Table, dict[str, int]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if _left_out(row) is None:
            groups[(row["node_id"], row["image_id"])].append(row)
    records = [
        _paper_row(node, image, members, lineage, images[image]) for (node, image), members in sorted(groups.items())
    ]
    table = pa.Table.from_pylist(records, schema=SCHEMA)
    return table, {"rows": table.num_rows, "questions": sum(len(m) for m in groups.values())}


def _paper_row(
    node: str, image: str, members: list[dict[str, Any]], lineage: Mapping[str, Lineage], png: bytes
) -> dict[str, Any]:
    first = members[0]
    place = lineage.get(image)
    if place is None:
        raise BuildError(f"image {image} has no known owner study in the build; rebuild the dataset")
    section = (first["section"] or "").upper() if first["level"] == "section" else ""
    qas = [
        {"Question": r["question"], "Answer": r["answer"], "Task": r["task"], "ID": r["id"]}
        for r in sorted(members, key=lambda r: (_TASK_ORDER.get(r["task"], 9), r["id"]))
    ]
    hierarchy = {
        "institution_id": place.institution_id,
        "patient_id": place.patient_id,
        "study_id": place.study_id,
        "section_name": section,
        "hierarchy_level": first["level"],
        "node_id": node,
    }
    return {
        "image": {"bytes": png, "path": f"{image}.png"},
        "image_path": f"{place.institution_id}/{place.patient_id}/{place.study_id}/{image}.png",
        "metadata": json.dumps(qas, ensure_ascii=False),
        "hierarchy_metadata": json.dumps(hierarchy, ensure_ascii=False),
        "ID": f"{node}@{image}",
    }


def _record(dataset: Path, manifest: Manifest, counts: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "format": PAPER_FORMAT,
        "version": PAPER_LAYOUT_VERSION,
        "dataset": {
            "name": manifest.name,
            "preset": manifest.preset,
            "seed": manifest.seed,
            "manifest_sha256": sha256_file(dataset / "manifest.json"),
        },
        "files": {name: list(splits) for name, splits in PAPER_FILES.items()},
        "levels": dict(counts),
    }
