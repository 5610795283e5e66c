"""DICOM folders (``--source dicom --root DIR``): a PACS export or a TCIA download, with or without
a DICOMDIR, as a hierarchy straight from the DICOM information model.

InstitutionName > PatientID > StudyInstanceUID > SeriesInstanceUID, with SR report sections as
section nodes under their study. Every value passes :mod:`medforget.builders.deid` first: the
builder sees pseudonyms, shifted dates, codes and checked free text, never a raw header.

A first pass reads headers only (``stop_before_pixels``); pixels are decoded only for the one
image each kept study is asked with (the middle instance of its first image series), windowed
as the file says (modality LUT, then VOI LUT or window), MONOCHROME1 inverted, the middle frame
of a multi-frame instance, colour converted. Studies whose images are near-duplicates of an
earlier study's are dropped, since the leak checks forbid a forget image in any other split.

Levels come from the data: institution, patient and study always; series when a study has
several and ``targets_per_level`` names a series count; section when SR reports give sections
and it names a section count. The top level (institution) is context; a target level the data
cannot fill is a :class:`SourceError` that says what to lower.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from medforget.builders.base import BUILDERS, Builder, Licence, PatientRecord, Patients, SourceOptions, StudyRecord
from medforget.builders.deid import (
    DEID_VERSION,
    DeidInstance,
    Identifiers,
    MissingIdentifier,
    Pseudonymizer,
    PseudonymKey,
    deidentify,
    identifying_values,
    recheck,
)
from medforget.builders.dicom_pixels import HEADER_ERRORS, DicomPixels
from medforget.builders.reports import FACT_SECTIONS, fact_sentence
from medforget.errors import ConfigError, SourceError
from medforget.hierarchy import Attribute, Image, make_node_id
from medforget.workers import pmap

logger = logging.getLogger(__name__)

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
#: modalities whose pixels are derived objects (masks, dose grids): a study's image comes from others first
DERIVED = frozenset({"SEG", "RTDOSE", "RTSTRUCT", "RTIMAGE", "PR", "KO", "REG"})
MAX_DECODE_TRIES = 4  # per study: broken pixel data should not make one study decode a whole series
INSTALL_HINT = "install it with: pip install pydicom"


# the builder ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Study:
    """A kept study: its instances (image and report), its image, and where it first appears."""

    key: str
    instances: tuple[DeidInstance, ...]
    first_path: str
    image: DicomPixels | None = None
    record: Image | None = None

    @property
    def node_id(self) -> str:
        return make_node_id("study", "dicom", self.key)

    @property
    def head(self) -> DeidInstance:
        return self.instances[0]


@dataclass(frozen=True)
class DicomOptions(SourceOptions):
    #: the export's top folder (``--root``)
    root: Path | None = None


@BUILDERS.register
class DicomBuilder(Builder[list[Study]]):
    """A patient is a PatientID's kept studies; its site the InstitutionName (both pseudonymised)."""

    name = "dicom"
    version = "1.0.0"
    description = "DICOM folder (PACS export or TCIA download), de-identified before use"
    licence = Licence(
        spdx="NOASSERTION",
        url="",
        redistribution="the licence and data-use agreement of the DICOM files you supplied; publishing derived "
        "data needs explicit acknowledgement",
        public_derivatives=False,
        leaves_machine=False,  # a hospital's own images: local LLMs only, unless its agreement says otherwise
    )
    citation = """@misc{dicom,
  title = {{DICOM} {PS3}: Digital Imaging and Communications in Medicine},
  author = {{NEMA}}, howpublished = {\\url{https://www.dicomstandard.org/current}},
}"""

    #: what the card says is real and what made (``sources[].provenance`` in the manifest)
    provenance: ClassVar[Mapping[str, str] | None] = {
        "hierarchy": "Institutions, patients, studies and series come straight from the DICOM headers "
        "(InstitutionName > PatientID > StudyInstanceUID > SeriesInstanceUID), report sections from SR documents; "
        "every identifier is replaced by a keyed pseudonym before anything is written.",
        "real": "modalities, body parts, series and study descriptions and SR report sentences that mention no "
        "identifying value of the export, sex, age in decades, and one image a study (windowed as its file says), "
        "all from the user's own files.",
        "synthetic": "the pseudonyms of sites, patients, record and accession numbers (HMAC-SHA256 under "
        "$MEDFORGET_DEID_KEY) and the study dates, shifted 1-10 years back by one offset per patient.",
        "identifiers": "Only an allow-list of DICOM tags is read; names, ids, UIDs, birth dates and free text that "
        "mentions any of them never reach the output, and images flagged with burned-in annotation are skipped. "
        "Unflagged pixels are trusted: check ultrasound and secondary captures of your export before publishing.",
    }

    Options = DicomOptions
    options: DicomOptions

    def read(self) -> Patients[list[Study]]:
        key = PseudonymKey.from_env()
        #: the manifest's source description records the key policy (never the key)
        self.description = f"{DicomBuilder.description}; de-identification {DEID_VERSION}: {key.record()}"
        root = self._root()
        self._identifiers = Identifiers()
        instances = self._recheck(self._unique(self._read(root, Pseudonymizer(key))))
        studies = self._with_images(self._studies(instances))
        if not studies:
            raise SourceError(
                f"no usable study in {root}: every file was skipped (see the skip reasons in the log); "
                "check that --root holds DICOM files with PatientID, StudyInstanceUID and pixel data"
            )
        by_patient: dict[str, list[Study]] = defaultdict(list)
        for study in studies:
            by_patient[study.head.patient].append(study)
        return Patients(list(by_patient.values()))

    # reading ---------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """sha256 over every file's path (relative to the root) and size: which data was built,
        without reading it twice. Only the hash is recorded: export paths often hold patient names."""
        import hashlib

        root = self._root()
        digest = hashlib.sha256()
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            for name in sorted(names):
                path = Path(folder) / name
                digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0".encode())
        return digest.hexdigest()

    def _root(self) -> Path:
        root = self.options.root
        if root is None:
            raise ConfigError("the dicom source needs its folder: medforget build --source dicom --root DIR")
        if not root.is_dir():
            raise SourceError(
                f"DICOM folder {root} does not exist or is not a folder; pass the export's top folder as --root"
            )
        try:
            import pydicom  # noqa: F401
        except ImportError as err:
            raise SourceError(f"the dicom source needs pydicom, which is not installed; {INSTALL_HINT}") from err
        return root

    def _files(self, root: Path) -> list[Path]:
        """The files of a DICOMDIR at the top (a CD export also holds a viewer: only what the
        index references is read), else every file below ``root`` in path order."""
        if (root / "DICOMDIR").is_file():
            return self._indexed(root / "DICOMDIR")
        found = []
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            found += [Path(folder) / name for name in sorted(names)]
        return found

    def _indexed(self, dicomdir: Path) -> list[Path]:
        from pydicom import dcmread

        try:
            index = dcmread(dicomdir)
            records = list(index.get("DirectoryRecordSequence") or ())
        except Exception as err:
            raise SourceError(
                f"{dicomdir} is not a readable DICOMDIR ({err.__class__.__name__}); "
                "remove it to read every file of the folder instead"
            ) from err
        paths = []
        for record in records:
            parts = record.get("ReferencedFileID")
            if parts is None:
                continue
            path = dicomdir.parent.joinpath(*([parts] if isinstance(parts, str) else list(parts)))
            if path.is_file():
                paths.append(path)
            else:
                self._skip(path, "DICOMDIR references a missing file")
        return sorted(set(paths))

    def _read(self, root: Path, pseudo: Pseudonymizer) -> Iterator[DeidInstance]:
        from pydicom import dcmread
        from pydicom.errors import InvalidDicomError

        for path in self._files(root):
            try:
                ds = _read_header(path, dcmread, InvalidDicomError)
            except InvalidDicomError:
                self._skip(path, "not a DICOM file")
                continue
            except (*HEADER_ERRORS, OSError, EOFError) as err:
                self._skip(path, f"unreadable DICOM file ({err.__class__.__name__})")
                continue
            if str(getattr(ds.get("file_meta"), "MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS:
                continue  # an index, not an instance
            record = self._deidentify(ds, path, pseudo)
            if record is not None:
                yield record

    def _deidentify(self, ds: Any, path: Path, pseudo: Pseudonymizer) -> DeidInstance | None:
        try:
            identifiers = identifying_values(ds)
            self._identifiers.add(identifiers)
            record = deidentify(ds, path, pseudo, identifiers)
        except MissingIdentifier as missing:
            self._skip(path, f"missing {missing.args[0]}")
            return None
        except HEADER_ERRORS as err:
            self._skip(path, f"malformed DICOM header ({err.__class__.__name__})")
            return None
        for field_name in record.dropped:
            self._drop(path, f"free text left out: {field_name} mentions an identifying value")
        if not (record.is_image or record.is_report):
            self._skip(path, f"neither an image nor an SR report ({record.modality or 'no modality'})")
        elif record.is_image and record.burned_in:
            self._skip(path, "burned-in annotation (BurnedInAnnotation YES)")
        elif record.is_image and record.recognizable:
            self._skip(path, "recognizable visual features (RecognizableVisualFeatures YES)")
        else:
            return record
        return None

    def _unique(self, instances: Iterator[DeidInstance]) -> list[DeidInstance]:
        """Instances in path order, the first of each SOPInstanceUID kept."""
        seen: set[str] = set()
        kept = []
        for record in instances:
            if record.sop in seen:
                self._skip(record.path, "duplicate SOPInstanceUID")
                continue
            seen.add(record.sop)
            kept.append(record)
        return kept

    def _recheck(self, instances: list[DeidInstance]) -> list[DeidInstance]:
        """Free text checked again, against the identifying values of every file read."""
        checked = []
        for record in instances:
            record = recheck(record, self._identifiers)
            for field_name in record.dropped:
                self._drop(record.path, f"free text left out: {field_name} mentions another file's identifying value")
            checked.append(record)
        return checked

    # studies and their images ----------------------------------------------------------------------

    def _studies(self, instances: list[DeidInstance]) -> list[Study]:
        """Instances grouped by study; instances contradicting their study's patient or their
        series' study are skipped, and so are studies with no date or no image instance."""
        by_study: dict[str, list[DeidInstance]] = defaultdict(list)
        series_study: dict[str, str] = {}
        for record in instances:
            group = by_study[record.study]
            if group and group[0].patient != record.patient:
                self._skip(record.path, "StudyInstanceUID shared by two patients")
            elif series_study.setdefault(record.series, record.study) != record.study:
                self._skip(record.path, "SeriesInstanceUID shared by two studies")
            else:
                group.append(record)
        studies = []
        for key, group in by_study.items():
            if not group:
                continue
            if all(r.date is None for r in group):
                self._skip_all(group, "study without any date (StudyDate, SeriesDate, AcquisitionDate, ContentDate)")
            elif not any(r.is_image for r in group):
                self._skip_all(group, "study without an image instance (only SR reports)")
            else:
                studies.append(Study(key, tuple(group), str(group[0].path)))
        return sorted(studies, key=lambda s: s.first_path)

    def _with_images(self, studies: list[Study]) -> list[Study]:
        """Each study with its decoded image (decoded over the build's processes); studies with
        none, or with a near-duplicate of an earlier study's image, are skipped."""
        from medforget.images.neardup import MAX_DISTANCE, hamming, hash_matrix, same_picture

        jobs = [(tuple(r.path for r in _image_candidates(s.instances)[:MAX_DECODE_TRIES]), s.node_id) for s in studies]
        decoded = pmap(
            partial(decode_first, size=self.config.image_size, origin=self.name),
            jobs,
            self.num_proc,
            desc="dicom pixels",
            unit="study",
        )
        kept: list[Study] = []
        for study, (path, record, failures) in zip(studies, decoded):
            for broken, reason in failures:
                self._skip(broken, f"pixel data cannot be decoded ({reason})")
            instances = tuple(r for r in study.instances if r.path not in {b for b, _ in failures})
            if record is None or path is None:  # both or neither
                self._skip_all(instances, "study without a decodable image")
                continue
            if kept:
                distance = hamming(hash_matrix([s.record.phash for s in kept if s.record]), hash_matrix([record.phash]))
                if any(
                    d <= MAX_DISTANCE and same_picture(s.record.png, record.png)
                    for s, d in zip(kept, distance.tolist())
                    if s.record
                ):
                    self._skip_all(instances, "image near-duplicate of an earlier study's image")
                    continue
            kept.append(replace(study, instances=instances, image=DicomPixels(path), record=record))
        return kept

    # patients and sites -----------------------------------------------------------------------------

    def patient_key(self, patient: list[Study]) -> str:
        return patient[0].head.patient

    def site(self, patient: list[Study]) -> str:
        return patient[0].head.site

    def institution(self, site: str, patients: Sequence[list[Study]]) -> tuple[Attribute, ...]:
        modalities = sorted({r.modality for p in patients for s in p for r in s.instances if r.is_image and r.modality})
        return (
            Attribute("site", patients[0][0].head.site_label, "imaging site"),
            Attribute("modalities", ", ".join(modalities) or "unspecified", "modalities"),
        )

    def patient(self, patient: list[Study]) -> PatientRecord:
        records = [r for s in patient for r in s.instances]
        first = min(patient, key=lambda s: min(r.date for r in s.instances if r.date))
        attributes = [
            Attribute("name", records[0].patient_label, "name"),
            Attribute("mrn", records[0].mrn, "medical record number"),
        ]
        if (sex := _first(r.sex for r in records)) is not None:
            attributes.append(Attribute("sex", sex, "sex"))
        if (band := _first(r.age_band for r in first.instances)) is not None:
            attributes.append(Attribute("age_band", band, "age band"))
        return PatientRecord(records[0].patient, tuple(attributes), tuple(_study(s) for s in patient))

    # skips ------------------------------------------------------------------------------------------

    def _skip(self, path: Path, reason: str) -> None:
        """Count a bad input. Under the raise policy the error names the file (it only reaches the
        user's terminal); in the manifest a file is named by a pseudonym, since folder and file
        names of an export often hold patient names or ids."""
        if self.skips.policy == "raise":
            self.skips.skip(str(path), reason)
        logger.debug("skipping %s: %s", path, reason)
        self.skips.skip(_file_label(path), reason)

    def _skip_all(self, records: Sequence[DeidInstance], reason: str) -> None:
        for record in records:
            self._skip(record.path, reason)

    def _drop(self, path: Path, reason: str) -> None:
        """Count a de-identification drop: not a bad input, so never raised whatever the policy."""
        self.skips.count(_file_label(path), reason)


def decode_first(
    job: tuple[tuple[Path, ...], str], size: int, origin: str
) -> tuple[Path | None, Image | None, tuple[tuple[Path, str], ...]]:
    """The first of a study's candidate instances whose pixels decode, its image (owned by the
    study), and the candidates that failed with why; runs in a worker process."""
    from medforget.images.make import load_real

    candidates, owner_id = job
    failures: list[tuple[Path, str]] = []
    for path in candidates:
        try:
            return path, load_real(owner_id, DicomPixels(path), size, origin), tuple(failures)
        except SourceError as err:
            failures.append((path, err.__cause__.__class__.__name__))
    return None, None, tuple(failures)


def _read_header(path: Path, dcmread: Any, invalid: type[Exception]) -> Any:
    """A file's header. Files without the DICM preamble (older media, the files a DICOMDIR
    references on many CDs) are read raw, and kept only when they carry an SOP instance:
    raw reading accepts almost any bytes."""
    try:
        return dcmread(path, stop_before_pixels=True)
    except invalid:
        try:
            ds = dcmread(path, stop_before_pixels=True, force=True)
            looks_dicom = "SOPClassUID" in ds and "SOPInstanceUID" in ds
        except (*HEADER_ERRORS, OSError, EOFError):
            looks_dicom = False
        if not looks_dicom:
            raise  # the strict reader's error: not a DICOM file
        return ds


def _file_label(path: Path) -> str:
    """A file's name in the manifest: a digest of its absolute path, never the path."""
    import hashlib

    return "file-" + hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:12]


def _image_candidates(instances: Sequence[DeidInstance]) -> list[DeidInstance]:
    """Image instances in the order their pixels are tried: primary series before derived ones
    (masks, dose grids), by series number, the middle instance of each series first."""
    series: dict[str, list[DeidInstance]] = defaultdict(list)
    for record in instances:
        if record.is_image:
            series[record.series].append(record)
    ordered = sorted(
        series.values(), key=lambda g: (g[0].modality in DERIVED, _number(g[0].series_number), str(g[0].path))
    )
    out = []
    for group in ordered:
        group = sorted(group, key=lambda r: (_number(r.instance_number), str(r.path)))
        middle = group[len(group) // 2]
        out += [middle, *(r for r in group if r is not middle)][:2]
    return out


def _number(value: int | None) -> float:
    return float("inf") if value is None else float(value)


def _first(values: Iterator[str | None]) -> str | None:
    return next((v for v in values if v is not None), None)


def _study(study: Study) -> StudyRecord:
    records = study.instances
    date = min(r.date for r in records if r.date)
    accession = Counter(r.accession for r in records).most_common(1)[0][0]
    modalities = sorted({r.modality for r in records if r.is_image and r.modality})
    attributes = [Attribute("date", date.isoformat(), "date"), Attribute("accession", accession, "accession number")]
    if modalities:
        attributes.append(Attribute("modality", ", ".join(modalities), "modality"))
    if (description := _first(r.study_description for r in records)) is not None:
        attributes.append(Attribute("description", description, "study description"))
    return StudyRecord(
        study.key,
        tuple(attributes),
        sections=_sections(study),
        series=_series(study),
        real_image=study.image,
        image=study.record,
    )


def _series(study: Study) -> tuple[tuple[str, tuple[Attribute, ...]], ...]:
    groups: dict[str, list[DeidInstance]] = defaultdict(list)
    for record in study.instances:
        if record.is_image:
            groups[record.series].append(record)
    ordered = sorted(groups.values(), key=lambda g: (_number(g[0].series_number), str(g[0].path)))
    series = []
    for position, group in enumerate(ordered, start=1):
        head = group[0]
        number = str(head.series_number) if head.series_number is not None else str(position)
        attributes = [Attribute("number", number, "series number")]
        for name, value, label in (
            ("modality", head.modality, "modality"),
            ("body_part", head.body_part, "body part"),
            ("description", _first(r.series_description for r in group), "series description"),
            ("manufacturer", _first(r.manufacturer for r in group), "equipment manufacturer"),
        ):
            if value is not None:
                attributes.append(Attribute(name, value, label))
        series.append((head.series, tuple(attributes)))
    return tuple(series)


def _sections(study: Study) -> tuple[tuple[str, str], ...]:
    texts: dict[str, str] = {}
    for record in study.instances:
        for name, text in record.sections:
            if name.upper() in FACT_SECTIONS and name not in texts:
                sentence = fact_sentence(name.upper(), text)
                if sentence is not None:
                    texts[name] = sentence
    return tuple(sorted(texts.items()))
