"""DICOM test data made in code: a small PACS export (folders named after patients, as real
exports often are) or the same instances as a DICOMDIR file-set, with realistic PHI to prove it
never reaches the output; plus the real files of pydicom, pydicom-data and deid-data gathered
under one folder (symlinks, no network)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import (
    BasicTextSRStorage,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from medforget.config import BuildConfig, preset

KEY = "test-key-0123456789abcdef"  # MEDFORGET_DEID_KEY of the tests


@dataclass(frozen=True)
class Patient:
    name: str
    id: str
    birth: str
    sex: str
    age: str
    site: str
    studies: tuple[tuple[str, str, str], ...]  # (date, accession, description)


PATIENTS = (
    Patient(
        "Kent^Clark",
        "MRN-778812",
        "19560312",
        "M",
        "063Y",
        "Springfield General Hospital",
        (("20190312", "A10045", "CT CHEST WITH CONTRAST"), ("20200117", "A10951", "CT HEAD KENT")),
    ),
    Patient(
        "Lane^Lois",
        "MRN-778813",
        "19710704",
        "F",
        "048Y",
        "Springfield General Hospital",
        (("20180905", "A20077", "CT ABDOMEN PELVIS"), ("20190220", "A20513", "MR BRAIN")),
    ),
    Patient(
        "Olsen^Jimmy",
        "MRN-778814",
        "19880101",
        "M",
        "031Y",
        "Springfield General Hospital",
        (("20190630", "A30001", "CT CHEST LOW DOSE"), ("20201111", "A30488", "CR CHEST")),
    ),
    Patient(
        "Prince^Diana",
        "SHV-000451",
        "19640215",
        "F",
        "055Y",
        "Shelbyville Clinic",
        (("20190418", "B00417", "MR KNEE LEFT"), ("20191209", "B00980", "CT SINUS")),
    ),
    Patient(
        "Wayne^Bruce",
        "SHV-000452",
        "19500530",
        "M",
        "069Y",
        "Shelbyville Clinic",
        (("20170223", "B01020", "CT CARDIAC"), ("20180801", "B01466", "MR SPINE LUMBAR")),
    ),
)
SECTIONS = {
    "findings": "Small nodule in the {where} measuring {size} mm.",
    "impression": "Stable appearance of the {where} compared with prior imaging.",
}
WHERE = (
    "right upper lobe",
    "left lower lobe",
    "liver dome",
    "pituitary fossa",
    "medial meniscus",
    "maxillary sinus",
    "left ventricle",
    "lumbar spine",
    "right kidney",
    "thyroid gland",
)


@dataclass
class Export:
    """A written export and the identifying values it holds."""

    root: Path
    files: list[Path] = field(default_factory=list)
    identifiers: set[str] = field(default_factory=set)


def uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def base_dataset(
    patient: Patient, study: int, series: int, instance: int, sop_class: str, modality: str
) -> FileDataset:
    date, accession, description = patient.studies[study]
    sop_uid = uid(patient.id, study, series, instance)
    ds = FileDataset("", Dataset(), file_meta=_meta(sop_class, sop_uid), preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = patient.name, patient.id, patient.birth
    ds.PatientSex, ds.PatientAge, ds.InstitutionName = patient.sex, patient.age, patient.site
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid(patient.id, study), uid(patient.id, study, series)
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = date, "093000", f"S{study}", accession
    ds.StudyDescription, ds.Modality, ds.SeriesNumber, ds.InstanceNumber = (
        description,
        modality,
        series + 1,
        instance + 1,
    )
    ds.ReferringPhysicianName, ds.OperatorsName = "House^Gregory", "Wilson^James"
    ds.InstitutionAddress = "742 Evergreen Terrace, Springfield"
    return ds


def image_dataset(
    patient: Patient,
    study: int,
    series: int,
    instance: int,
    *,
    modality: str = "CT",
    photometric: str = "MONOCHROME2",
    seed: int = 0,
) -> FileDataset:
    sop_class = {"CT": CTImageStorage, "MR": MRImageStorage, "CR": ComputedRadiographyImageStorage}[modality]
    ds = base_dataset(patient, study, series, instance, sop_class, modality)
    ds.SeriesDescription = ("AXIAL 5MM", "CORONAL MPR", "PA VIEW")[series % 3]
    ds.BodyPartExamined = patient.studies[study][2].split()[1][:16]
    ds.Manufacturer = ("Acme Imaging", "Globex Medical")[study % 2]  # fictitious: no real file's value
    ds.BurnedInAnnotation = "NO"
    ds.set_pixel_data(blocks(seed), photometric, 12, generate_instance_uid=False)
    if modality == "CT":
        ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
    return ds


def blocks(seed: int, size: int = 32) -> np.ndarray:
    """A 12-bit picture of random 4x4 blocks: every seed gives a visibly different image."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 4096, size=(size // 4, size // 4), dtype=np.uint16)
    return np.kron(coarse, np.ones((4, 4), dtype=np.uint16))


def report_dataset(patient: Patient, study: int, n: int) -> FileDataset:
    ds = base_dataset(patient, study, 9, 0, BasicTextSRStorage, "SR")
    ds.ContentDate, ds.ContentTime, ds.CompletionFlag, ds.VerificationFlag = (
        ds.StudyDate,
        "100000",
        "COMPLETE",
        "VERIFIED",
    )
    ds.ValueType, ds.ConceptNameCodeSequence = "CONTAINER", [_code("18748-4", "Diagnostic Imaging Report")]
    where, size = WHERE[n % len(WHERE)], 3 + n
    items = []
    for heading, text in SECTIONS.items():
        lines = [text.format(where=where, size=size)]
        if heading == "findings":
            lines.append(f"Discussed with {patient.name.split('^')[1]} {patient.name.split('^')[0]} today.")
        items.append(_container(heading.capitalize(), lines))
    ds.ContentSequence = items
    return ds


def _code(value: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, "LN", meaning
    return code


def _container(meaning: str, texts: Iterable[str]) -> Dataset:
    item = Dataset()
    item.RelationshipType, item.ValueType = "CONTAINS", "CONTAINER"
    item.ConceptNameCodeSequence = [_code("121070", meaning)]
    children = []
    for text in texts:
        child = Dataset()
        child.RelationshipType, child.ValueType, child.TextValue = "CONTAINS", "TEXT", text
        child.ConceptNameCodeSequence = [_code("121071", "Finding")]
        children.append(child)
    item.ContentSequence = children
    return item


def export_datasets() -> Iterator[tuple[str, FileDataset]]:
    """(relative PACS-export path, dataset) of every instance: 5 patients at 2 sites, 2 studies
    each, 2 image series of 2 instances and 1 SR report per study."""
    n = 0
    for patient in PATIENTS:
        for study, (date, accession, description) in enumerate(patient.studies):
            folder = f"{patient.name}_{patient.id}/{date}_{accession}"
            modality = description.split()[0]
            for series in range(2):
                for instance in range(2):
                    photometric = "MONOCHROME1" if modality == "CR" else "MONOCHROME2"
                    ds = image_dataset(
                        patient,
                        study,
                        series,
                        instance,
                        modality=modality,
                        photometric=photometric,
                        seed=1000 * n + 10 * series + instance,
                    )
                    yield f"{folder}/SE{series + 1}/IM{instance + 1}.dcm", ds
            yield f"{folder}/SR/REPORT.dcm", report_dataset(patient, study, n)
            n += 1


def identifiers_of(datasets: Iterable[Dataset]) -> set[str]:
    """Every PatientName (and part), PatientID, InstitutionName, birth date, accession number and
    UID of the datasets: none may appear in any output."""
    found: set[str] = set()
    for ds in datasets:
        for element in ds.iterall():
            keyword = element.keyword
            if element.VR == "UI" and keyword not in (
                "SOPClassUID",
                "MediaStorageSOPClassUID",
                "TransferSyntaxUID",
                "ReferencedSOPClassUID",
                "ImplementationClassUID",
            ):
                found.add(str(element.value))
            elif keyword == "PatientName":
                found.add(str(element.value))
                found.update(p for p in str(element.value).split("^") if p)
            elif keyword in ("PatientID", "InstitutionName", "PatientBirthDate", "AccessionNumber"):
                found.add(str(element.value))
        if ds.get("file_meta") is not None and "MediaStorageSOPInstanceUID" in ds.file_meta:
            found.add(str(ds.file_meta.MediaStorageSOPInstanceUID))
    return {v.strip() for v in found if v and v.strip()}


def write_export(root: Path, extra: Iterable[tuple[str, FileDataset]] = ()) -> Export:
    """The export as a PACS would write it, plus a non-DICOM file a viewer would leave there."""
    export = Export(root)
    pairs = [*export_datasets(), *extra]
    for relative, ds in pairs:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        export.files.append(path)
    (root / "README.txt").write_text("Exported by PACS for Kent^Clark\n")
    export.identifiers = identifiers_of(ds for _, ds in pairs)
    return export


def write_fileset(root: Path) -> Export:
    """The same instances as a DICOMDIR file-set (pydicom's FileSet layout PT*/ST*/SE*/IM*)."""
    from pydicom.fileset import FileSet

    staging = root.parent / f"{root.name}-staging"
    source = write_export(staging)
    fileset = FileSet()
    for path in source.files:
        fileset.add(path)
    fileset.write(root)
    export = Export(root, files=[Path(i.path) for i in fileset], identifiers=source.identifiers)
    return export


def dicom_config(root: Path, **overrides: object) -> BuildConfig:
    """A build of the fixture in a few seconds: one target per level, one held-out patient."""
    values: dict[str, object] = {
        "source": "dicom",
        "source_options": {"root": root},
        "n_holdout_patients": 1,
        "n_utility_images": 4,
        "image_size": 64,
        "rephrase_facts_per_level": 2,
        "targets_per_level": {"patient": 1, "study": 1, "series": 1, "section": 1},
    }
    values.update(overrides)
    return dataclasses.replace(preset("tiny"), **values)


# real files ----------------------------------------------------------------------------------------


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"{name} is not installed (pip install -e '.[test]')")
    return Path(next(iter(spec.submodule_search_locations)))


def real_sources() -> dict[str, Path]:
    """The folders of real DICOM files: pydicom's test files, pydicom-data's store, deid-data."""
    return {
        "pydicom": package_dir("pydicom") / "data" / "test_files",
        "pydicom-data": package_dir("data_store") / "data",
        "deid-data": package_dir("deid_data") / "data",
    }


def gather_real(root: Path) -> list[Path]:
    """Every file of the real sources linked under ``root`` (no copies, no downloads)."""
    linked = []
    for name, folder in real_sources().items():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix not in (".py", ".pyc"):
                target = root / name / path.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(path.resolve(), target)
                linked.append(target)
    return linked


def real_identifiers(paths: Iterable[Path]) -> set[str]:
    """The identifying values (see :func:`identifiers_of`) of every readable file."""
    from pydicom import dcmread

    datasets = []
    for path in paths:
        try:
            datasets.append(dcmread(path, stop_before_pixels=True, force=True))
        except Exception:  # noqa: BLE001, S112  (unreadable files hold nothing the build could copy)
            continue
    values: set[str] = set()
    for ds in datasets:
        try:
            values |= identifiers_of([ds])
        except Exception:  # noqa: BLE001, S112
            continue
    return values


# scanning outputs ----------------------------------------------------------------------------------


def output_texts(out: Path) -> dict[str, str]:
    """Every text an output holds: raw bytes of each non-Parquet file (as Latin-1, so no byte is
    lost), and every decoded string and JSON value of each Parquet shard (image bytes excluded:
    they are checked for text chunks separately)."""
    import pyarrow.parquet as pq

    texts = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.suffix != ".parquet":
            texts[str(path.relative_to(out))] = path.read_bytes().decode("latin-1")
            continue
        rows = pq.read_table(path).to_pylist()
        images = [r.pop("image") for r in rows]
        texts[str(path.relative_to(out))] = json.dumps(rows, default=str)
        texts[f"{path.relative_to(out)}#image-metadata"] = json.dumps(
            [{k: v for k, v in (img or {}).items() if k != "bytes"} for img in images], default=str
        )
        for n, image in enumerate(images):
            if image and image.get("bytes"):
                texts[f"{path.relative_to(out)}#image{n}-text-chunks"] = _png_text(image["bytes"])
    return texts


def _png_text(data: bytes) -> str:
    """The text chunks (tEXt, zTXt, iTXt, eXIf) of a PNG: where an encoder could carry metadata."""
    import struct

    chunks, position = [], 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
            chunks.append(data[position + 8 : position + 8 + length].decode("latin-1"))
        position += 12 + length
    return "\n".join(chunks)


def template_text() -> str:
    """Every wording and vocabulary word of the QA templates: text the pipeline writes whatever
    the input, so an identifier equal to a template word ("First", "PATIENT") cannot be tested."""
    from medforget.qa.templates import TEMPLATES

    return "\n".join(
        text
        for t in TEMPLATES
        for group in (t.image, t.text, t.cloze_image, t.cloze_text, t.vocabulary)
        for text in group
    )


def untestable(identifiers: Iterable[str], reference: Path) -> set[str]:
    """Identifiers the pipeline writes on its own: found in a build from other inputs
    (``reference``) or in the templates, or short numbers (``204``: a count, a size)."""
    import re

    boilerplate = template_text().lower()
    values = set(identifiers)
    numbers = {v for v in values if v.isdigit() and len(v) < 6}
    in_templates = {v for v in values if re.search(rf"(?<![0-9a-z]){re.escape(v.lower())}(?![0-9a-z])", boilerplate)}
    return numbers | in_templates | set(leaks(reference, values))


def leaks(out: Path, identifiers: Iterable[str], min_length: int = 3) -> dict[str, list[str]]:
    """Identifier -> output texts holding it, case-insensitive, as a whole token (not inside a
    longer word or number: "Here" is an InstitutionName of pydicom's files, "where" is English).
    Values shorter than ``min_length`` (``M``, ``1``) are too common to mean anything."""
    import re

    texts = {name: text.lower() for name, text in output_texts(out).items()}
    found: dict[str, list[str]] = {}
    for value in sorted(v for v in identifiers if len(v) >= min_length):
        pattern = re.compile(rf"(?<![0-9a-z]){re.escape(value.lower())}(?![0-9a-z])")
        where = [name for name, text in texts.items() if value.lower() in text and pattern.search(text)]
        if where:
            found[value] = where
    return found
