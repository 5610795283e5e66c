"""Validation benchmark: every leak check on synthetic datasets of 100k QA / 10k images and
1M QA / 100k images, built in memory, and the growth ratio between them.

The synthetic hierarchy has 10 networks, 100 institutions, patients with 3 studies, one image
per study and 10 rows per study (6 study facts, 4 section facts; half with the image). Every
level config holds all rows, as in a real build, so 1M QA means about 5M rows to check.
Images are random bytes with random perceptual hashes in the manifest's index; real chest
X-ray hashes cluster more, which gives the near-duplicate index more candidates to confirm.

    make bench   # or: python benchmarks/bench_validate.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time

import numpy as np
import pyarrow as pa

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from medforget.hierarchy import LEVEL_SPLITS
from medforget.schemas.checks import run_checks
from medforget.schemas.tables import DatasetTables, ImageRegistry

ROWS_PER_STUDY = 10
LEVELS = ("institution", "patient", "study", "section")


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pa.array(np.char.add(prefix, np.char.zfill(numbers.astype(str), 8)))


def synthetic(n_qa: int, seed: int = 0) -> DatasetTables:
    rng = np.random.default_rng(seed)
    n_studies = n_qa // ROWS_PER_STUDY
    row = np.arange(n_studies * ROWS_PER_STUDY)
    study = row // ROWS_PER_STUDY
    slot = row % ROWS_PER_STUDY
    patient, section = study // 3, np.where(slot >= 6, study * 2 + (slot >= 8), -1)
    institution = patient % 100
    network = institution % 10
    has_image = slot % 2 == 0
    tasks = np.array(["generation", "classification", "cloze"])[slot % 3]
    is_section = section >= 0
    node = np.where(is_section, np.char.add("sec-", section.astype(str)), np.char.add("stu-", study.astype(str)))
    accession = np.char.add("acc", np.char.zfill(study.astype(str), 9))
    answer = np.where(is_section, np.char.add("finding sentence number ", section.astype(str)), accession)
    text_twin = np.char.add("What is the accession number of the chest X-ray of patient ", patient.astype(str))
    question = np.where(has_image, "What is the accession number of this chest X-ray?", text_twin)
    images = [rng.bytes(2048) for _ in range(n_studies)]
    registry = ImageRegistry({hashlib.sha256(b).hexdigest(): rng.bytes(32).hex() for b in images})
    keys = registry.add_values(pa.array(images, pa.binary()))
    table = pa.table(
        {
            "id": _ids("qa-", row),
            "image_id": pa.array(np.where(has_image, np.char.add("img-", study.astype(str)), None)),
            "question": pa.array(question),
            "answer": pa.array(answer),
            "options": pa.array([[]] * len(row), pa.list_(pa.string())),
            "task": pa.array(tasks),
            "modality": pa.array(np.where(has_image, "image", "text")),
            "level": pa.array(np.where(is_section, "section", "study")),
            "node_id": pa.array(node),
            "network_id": pa.array(np.char.add("net-", network.astype(str))),
            "institution_id": pa.array(np.char.add("ins-", institution.astype(str))),
            "patient_id": pa.array(np.char.add("pat-", patient.astype(str))),
            "study_id": pa.array(np.char.add("stu-", study.astype(str))),
            "section": pa.array(np.where(is_section, "impression", None)),
            "fact_id": pa.array(np.char.add(np.char.add("fct-", node), np.char.add("-", (slot // 6).astype(str)))),
            "attribute": pa.array(np.where(is_section, "text", "accession")),
            "rephrased_of": pa.nulls(len(row), pa.string()),
            "image_key": pa.array(np.where(has_image, keys[study], -1)),
        }
    )
    return _with_splits(table, registry, patient, study, section, institution, n_studies)


def _with_splits(table, registry, patient, study, section, institution, n_studies) -> DatasetTables:
    mid = n_studies // 2  # targets in the middle of the data, none under a holdout patient
    targets = {
        "institution": ["ins-7"],
        "patient": [f"pat-{i}" for i in range(0, 300, 30)],
        "study": [f"stu-{i}" for i in range(mid, mid + 60, 3)],
        "section": [f"sec-{i}" for i in range(mid, mid + 80, 2)],
    }
    holdout = patient % 100 == 99  # no target lies under a holdout patient
    splits: dict[tuple[str, str], pa.Table] = {("train", "train"): table.filter(pa.array(~holdout))}
    lineage = {
        "institution": np.char.add("ins-", institution.astype(str)),
        "patient": np.char.add("pat-", patient.astype(str)),
        "study": np.char.add("stu-", study.astype(str)),
        "section": np.char.add("sec-", section.astype(str)),
    }
    parent = {"institution": None, "patient": institution, "study": patient, "section": study}
    for level in LEVELS:
        forget = np.isin(lineage[level], targets[level])
        parents = {p for p in (parent[level][forget] if parent[level] is not None else [])}
        sibling = (
            ~forget & ~holdout & (np.isin(parent[level], list(parents)) if parents else np.zeros(len(forget), bool))
        )
        if level == "institution":
            sibling = ~forget & ~holdout & (institution % 10 == 7 % 10)
        masks = {
            "forget": forget,
            "retain_sibling": sibling,
            "retain_other": ~forget & ~sibling & ~holdout,
            "holdout": holdout,
        }
        for split in LEVEL_SPLITS:
            mask = masks.get(split)
            splits[(level, split)] = table.filter(pa.array(mask)) if mask is not None else table.slice(0, 0)
    manifest = {
        "targets": targets,
        "hierarchy": {"levels": ["network", *LEVELS]},
        "images": {
            "count": len(registry),
            "index": [
                {"sha256": s, "owner": f"stu-{i}", "phash": registry.known_phashes[s]}
                for i, s in enumerate(registry.sha256)
            ],
        },
        "counts": {},
    }
    for (config, split), t in splits.items():
        manifest["counts"].setdefault(config, {})[split] = {"rows": t.num_rows}
    return DatasetTables(manifest, splits, registry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    run_checks(synthetic(10_000))  # warm: great-expectations import, caches
    timings = []
    for size in args.sizes:
        tables = synthetic(size)
        rows = sum(t.num_rows for t in tables.splits.values())
        start = time.perf_counter()
        results = run_checks(tables)
        seconds = time.perf_counter() - start
        timings.append(seconds)
        failed = [r.name for r in results if not r.passed]
        per_check = ", ".join(f"{r.name} {r.seconds:.1f}s" for r in results)
        print(f"{size:>9,} QA, {len(tables.images):>7,} images, {rows:>9,} rows: {seconds:6.1f} s   ({per_check})")
        if failed:
            print(f"           unexpected failures on synthetic data: {failed}")
    if len(timings) > 1:
        growth = args.sizes[-1] / args.sizes[0]
        print(f"growth: {growth:.0f}x data -> {timings[-1] / timings[0]:.1f}x time")


if __name__ == "__main__":
    main()
