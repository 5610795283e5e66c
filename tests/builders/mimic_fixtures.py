"""A tiny MIMIC-CXR-JPG 2.x tree with MIMIC-CXR reports, made in code (no real data committed).

Reproduces the exact layout: ``files/pNN/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg``, the three gzipped
index CSVs with their real column names, and ``mimic-cxr-reports/files/pNN/pNNNNNNNN/sNNNNNNNN.txt``
(a sibling of the JPG root, as PhysioNet's two downloads unpack). Report text is made up here.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from medforget.builders.mimic import CHEXPERT_CSV, CHEXPERT_LABELS, METADATA_CSV, SPLIT_CSV

METADATA_HEADER = [
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
    "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
]
SPLIT_HEADER = ["dicom_id", "study_id", "subject_id", "split"]
CHEXPERT_HEADER = ["subject_id", "study_id", *CHEXPERT_LABELS]

REPORT = """                                 FINAL REPORT
 EXAMINATION:  {procedure}

 INDICATION:  ___-year-old {sex} with synthetic complaint number {k} and fever.

 TECHNIQUE:  Chest {view} view(s).

 COMPARISON:  ___.

 FINDINGS:

 The cardiomediastinal silhouette is within normal limits.  Made-up density {k} projects
 over the {side} lower lobe.

 IMPRESSION:

 Findings were discussed with Dr. ___ at 09:15.  Invented impression {k} suggests follow-up.
"""


@dataclass
class MimicTree:
    """Where the fixture lies and what it holds, so tests can break one piece of it."""

    root: Path
    reports: Path
    metadata: list[list[str]] = field(default_factory=list)
    studies: list[tuple[str, str, list[str]]] = field(default_factory=list)  # subject, study, dicom ids

    def image(self, subject: str, study: str, dicom_id: str) -> Path:
        return self.root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom_id}.jpg"

    def report(self, subject: str, study: str) -> Path:
        return self.reports / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}.txt"

    def rewrite_metadata(self, rows: list[list[str]], header: list[str] = METADATA_HEADER) -> None:
        write_csv_gz(self.root / METADATA_CSV, header, rows)


def write_csv_gz(path: Path, header: list[str], rows: list[list[str]]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(gzip.compress(text.getvalue().encode(), mtime=0))


def radiograph(seed: int, size: int = 64) -> Image.Image:
    """A blocky random grayscale picture: distinct per seed, so no two studies look alike."""
    rng = random.Random(seed)
    small = Image.new("L", (8, 8))
    small.putdata([rng.randrange(256) for _ in range(64)])
    return small.resize((size, size), Image.Resampling.NEAREST)


def make_mimic(base: Path, n_patients: int = 12, studies_per_patient: int = 3, images: bool = True) -> MimicTree:
    """Write the tree under ``base/mimic-cxr-jpg`` (reports in ``base/mimic-cxr-reports``)."""
    tree = MimicTree(root=base / "mimic-cxr-jpg", reports=base / "mimic-cxr-reports")
    tree.root.mkdir(parents=True)
    splits, labels = [], []
    for p in range(n_patients):
        subject = str(10000032 + 97 * p)
        first = dt.date(2150, 1, 1) + dt.timedelta(days=37 * p)
        for s in range(studies_per_patient):
            k = p * studies_per_patient + s
            study = str(50000011 + 131 * k)
            date = first + dt.timedelta(days=90 * s + 11 * p)
            dicoms = _study(tree, subject, study, date, k, images)
            splits += [[d, study, subject, "test" if p % 5 == 4 else "train"] for d in dicoms]
            labels.append([subject, study, *_labels(k)])
    tree.rewrite_metadata(tree.metadata)
    write_csv_gz(tree.root / SPLIT_CSV, SPLIT_HEADER, splits)
    write_csv_gz(tree.root / CHEXPERT_CSV, CHEXPERT_HEADER, labels)
    return tree


def _study(tree: MimicTree, subject: str, study: str, date: dt.date, k: int, images: bool) -> list[str]:
    two_views = k % 2 == 0
    views = ["PA", "LATERAL"] if two_views else ["AP"]
    procedure = "CHEST (PA AND LAT)" if two_views else "CHEST (PORTABLE AP)"
    dicoms = [f"{k:08x}-{n:04x}-synthetic" for n in range(len(views))]
    for dicom_id, view in zip(dicoms, views):
        tree.metadata.append(
            [
                dicom_id,
                subject,
                study,
                procedure,
                view,
                "64",
                "64",
                date.strftime("%Y%m%d"),
                f"{80000 + k:06d}.000",
                "Chest 2 Views",
                view.lower(),
                "Erect",
            ]
        )
        if images:
            path = tree.image(subject, study, dicom_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            radiograph(k * 7 + len(dicom_id) + (view == "LATERAL")).save(path, "JPEG", quality=80)
    report = tree.report(subject, study)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        REPORT.format(
            procedure=procedure, sex="woman" if k % 3 else "man", k=k, view=views[0], side="left" if k % 2 else "right"
        ),
        encoding="utf-8",
    )
    tree.studies.append((subject, study, dicoms))
    return dicoms


def _labels(k: int) -> list[str]:
    """CheXpert values: a positive, an uncertain (-1.0, not positive) and blanks, varying by study."""
    values = [""] * len(CHEXPERT_LABELS)
    values[CHEXPERT_LABELS.index(["Cardiomegaly", "Pleural Effusion", "Support Devices", "No Finding"][k % 4])] = "1.0"
    values[CHEXPERT_LABELS.index("Edema")] = "-1.0"
    values[CHEXPERT_LABELS.index("Pneumothorax")] = "0.0"
    return values
