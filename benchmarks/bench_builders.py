"""Builder benchmark: the real-source builders' speed and memory, measured in this process
against a baseline run here too. Prints seconds, rates and ratios.

- MIMIC-CXR ingest (synthetic MIMIC-CXR-JPG trees, tests/builders/mimic_fixtures.py): studies/s,
  against reading the same three index CSVs with ``csv`` alone;
- peak RSS of a MIMIC-CXR ingest as the source grows from 1k to 20k studies (a fresh process
  each, the same build settings): the builder streams, so memory should stay within 20 %;
- DICOM ingest (every real file of pydicom, pydicom-data and deid-data, and a synthetic PACS
  export): studies/s, against ``dcmread(stop_before_pixels=True)`` of every file;
- ``--num-proc 2`` against 1 on the images step of the full preset (4k images).

    make bench            # or: python benchmarks/bench_builders.py [--large 20000]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("MEDFORGET_DEID_KEY", "bench-key-not-secret-0123456789")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the fixture generators live with the tests

STUDIES_PER_PATIENT = 4


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def mimic_tree(base: Path, studies: int) -> Path:
    from tests.builders.mimic_fixtures import make_mimic

    return make_mimic(base, n_patients=studies // STUDIES_PER_PATIENT, studies_per_patient=STUDIES_PER_PATIENT).root


def mimic_config(root: Path, every_patient: bool = False):
    from medforget.config import preset

    config = dataclasses.replace(preset("tiny"), source="mimic-cxr", source_root=root, max_studies=STUDIES_PER_PATIENT)
    return dataclasses.replace(config, n_patients=None) if every_patient else config


def ingest(config) -> int:
    """Studies the builder yields."""
    from medforget.builders import BUILDERS, SkipLog

    data = BUILDERS.get(config.source)(config, SkipLog("skip")).load()
    return len(data.hierarchy.at_level("study"))


def read_csvs(root: Path) -> int:
    rows = 0
    for path in sorted(root.glob("*.csv.gz")):
        with gzip.open(path, "rt", newline="") as handle:
            rows += sum(1 for _ in csv.reader(handle))
    return rows


def peak_rss_mib(root: Path) -> float:
    """Peak RSS of a fresh process that runs one MIMIC-CXR ingest of ``root``."""
    code = (
        "import resource, sys; sys.path.insert(0, sys.argv[2]); from pathlib import Path;"
        "from benchmarks.bench_builders import ingest, mimic_config; ingest(mimic_config(Path(sys.argv[1])));"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(root), str(REPO)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def bench_mimic(tmp: Path, small: int, large: int) -> None:
    print(f"MIMIC-CXR ingest (synthetic trees, {STUDIES_PER_PATIENT} studies a patient, 64 px JPEGs)")
    roots = {}
    for n in (small, large):
        seconds, roots[n] = timed(mimic_tree, tmp / f"mimic-{n}", n)
        print(f"  made a {n}-study tree in {seconds:.1f}s")
    root = roots[large]
    baseline, rows = timed(read_csvs, root)
    chosen, studies = timed(ingest, mimic_config(root))
    every, all_studies = timed(ingest, mimic_config(root, every_patient=True))
    print(f"  csv alone, the three index CSVs ({rows} rows): {baseline:.2f}s (baseline)")
    print(
        f"  ingest of the tiny preset's patients ({studies} studies) from {large}: {chosen:.2f}s "
        f"({chosen / baseline:.1f}x the csv read)"
    )
    print(
        f"  ingest of every patient: {all_studies} studies in {every:.2f}s = {all_studies / every:.0f} studies/s "
        f"({every / baseline:.1f}x the csv read)"
    )
    rss = {n: peak_rss_mib(roots[n]) for n in (small, large)}
    print(
        f"  peak RSS of one ingest (tiny preset's patients): {small} studies {rss[small]:.0f} MiB, "
        f"{large} studies {rss[large]:.0f} MiB: {rss[large] / rss[small]:.2f}x (goal: within 1.20x)"
    )


def synthetic_dicom(root: Path, patients: int) -> int:
    """A PACS export of ``patients`` patients at 4 sites, 2 studies each, 2 series of 2 instances."""
    from tests.builders.dicom_fixtures import Patient, image_dataset

    files = 0
    for p in range(patients):
        patient = Patient(
            f"Synth^Person{p}",
            f"ID{p:06d}",
            "19600101",
            "MF"[p % 2],
            "050Y",
            f"Site Hospital {p % 4}",
            tuple((f"2019{m + 1:02d}15", f"ACC{p:05d}{m}", "CT CHEST") for m in range(2)),
        )
        for study in range(2):
            for series in range(2):
                for instance in range(2):
                    ds = image_dataset(
                        patient, study, series, instance, seed=p * 100 + study * 10 + series * 2 + instance
                    )
                    path = root / f"{patient.id}/{study}/{series}/{instance}.dcm"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    ds.save_as(path, enforce_file_format=True)
                    files += 1
    return files


def read_headers(root: Path) -> int:
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    read = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            dcmread(path, stop_before_pixels=True, force=True)
            read += 1
        except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, KeyError, IndexError):
            continue
    return read


def dicom_config(root: Path, **overrides):
    from tests.builders.dicom_fixtures import dicom_config as fixture_config

    return fixture_config(root, **overrides)


def bench_dicom(tmp: Path, patients: int) -> None:
    import logging

    from tests.builders.dicom_fixtures import gather_real

    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    print("DICOM ingest (metadata pass, de-identification, one decoded image a study)")
    real = tmp / "dicom-real"
    files = len(gather_real(real))
    synthetic = tmp / "dicom-synthetic"
    made = synthetic_dicom(synthetic, patients)
    for name, root, config in (
        (
            f"real files of pydicom, pydicom-data, deid-data ({files})",
            real,
            dicom_config(real, targets_per_level={"patient": 1, "study": 1}),
        ),
        (
            f"synthetic export ({made} files, {patients} patients)",
            synthetic,
            dicom_config(synthetic, targets_per_level={"patient": 1, "study": 1, "series": 1}),
        ),
    ):
        baseline, read = timed(read_headers, root)
        seconds, studies = timed(ingest, config)
        print(
            f"  {name}: dcmread headers of {read} files {baseline:.2f}s (baseline); ingest {studies} studies in "
            f"{seconds:.2f}s = {studies / seconds:.1f} studies/s ({seconds / baseline:.1f}x the header read)"
        )


def bench_num_proc(name: str) -> None:
    from medforget.build.pipeline import image_plans
    from medforget.build.pipeline import ingest as source_ingest
    from medforget.builders import SkipLog
    from medforget.config import preset
    from medforget.images.make import make_images, utility_profiles

    config = preset(name)
    builder, data = source_ingest(config, SkipLog("skip"), {})
    plans = image_plans(data, utility_profiles(config, data.spare_findings))
    one, first = timed(make_images, plans, config, builder.name, 1)
    two, second = timed(make_images, plans, config, builder.name, 2)
    same = [i.sha256 for i in first] == [i.sha256 for i in second]
    print(
        f"images step of the {name} preset ({len(plans)} images, {os.cpu_count()} CPUs): --num-proc 1 {one:.2f}s "
        f"(baseline), --num-proc 2 {two:.2f}s: {one / two:.2f}x faster, same bytes: {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000, help="studies of the small MIMIC tree")
    parser.add_argument("--large", type=int, default=20000, help="studies of the large MIMIC tree")
    parser.add_argument("--num-proc-preset", default="full", help="preset whose images step --num-proc times")
    parser.add_argument("--dicom-patients", type=int, default=100, help="patients of the synthetic DICOM export")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_mimic(Path(tmp), args.small, args.large)
        bench_dicom(Path(tmp), args.dicom_patients)
    bench_num_proc(args.num_proc_preset)
    print(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
