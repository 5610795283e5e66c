"""MIMIC-CXR: real patients, studies, shifted dates, JPEG images and reports (``--source mimic-cxr``).

Reads a MIMIC-CXR-JPG 2.x tree (``--root``)::

    files/pNN/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg
    mimic-cxr-2.0.0-metadata.csv.gz   one row per image: ids, view, procedure, StudyDate (shifted)
    mimic-cxr-2.0.0-split.csv.gz      dicom_id, study_id, subject_id, split (cross-checked)
    mimic-cxr-2.0.0-chexpert.csv.gz   one row per study: the 14 CheXpert labels

and the free-text reports of ``mimic-cxr-reports`` (``files/pNN/pNNNNNNNN/sNNNNNNNN.txt``), found
in ``BuildConfig.reports_root`` when set, else under the root itself (reports unpacked into the
JPG tree), ``ROOT/mimic-cxr-reports`` or a sibling ``ROOT/../mimic-cxr-reports``.

What is real: patients (``subject_id`` is the record number), their multi-study histories, study
dates (shifted by MIMIC's de-identification), views, procedures, CheXpert findings, report
sentences and images. What is made: MIMIC comes from one hospital, but an institution target
needs siblings and cousins, so patients are dealt by the seed into synthetic sites and health
networks with Faker identities (as the default source deals its fictitious patients); patients
carry a seeded fictitious name because questions name a patient to ask about its studies
(MIMIC has none). The manifest's ``sources[].archive_sha256`` is the hash of the three CSVs.

The CSVs are streamed row by row (``csv`` over ``gzip``); only the chosen patients' reports are
read. CheXpert labels map onto :mod:`medforget.builders.findings`: only 1.0 is positive; uncertain
(-1.0), negative and blank labels count as not positive.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from medforget.builders.base import BUILDERS, Builder, Licence, PatientRecord, Patients, SourceOptions, StudyRecord
from medforget.builders.findings import describe
from medforget.builders.reports import FACT_SECTIONS, fact_sentence
from medforget.errors import SourceError
from medforget.hierarchy import Attribute
from medforget.images.readable import image_problem

METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv.gz"
SPLIT_CSV = "mimic-cxr-2.0.0-split.csv.gz"
CHEXPERT_CSV = "mimic-cxr-2.0.0-chexpert.csv.gz"
METADATA_COLUMNS = (
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "StudyDate",
    "StudyTime",
)
SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")
CHEXPERT_LABELS = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
)
#: CheXpert label -> canonical finding; labels without a counterpart in the vocabulary (Enlarged
#: Cardiomediastinum, Fracture, Pleural Other) and "No Finding" name none
CHEXPERT_TO_FINDING: dict[str, str] = {
    "Atelectasis": "atelectasis",
    "Cardiomegaly": "cardiomegaly",
    "Consolidation": "opacity",
    "Edema": "pulmonary edema",
    "Lung Lesion": "nodule",
    "Lung Opacity": "opacity",
    "Pleural Effusion": "pleural effusion",
    "Pneumonia": "opacity",
    "Pneumothorax": "pneumothorax",
    "Support Devices": "medical device",
}
_LABEL_VALUES = {"", "1.0", "0.0", "-1.0", "1", "0", "-1"}
VIEW_PHRASES: dict[str, str] = {
    "PA": "posteroanterior (PA)",
    "AP": "anteroposterior (AP)",
    "LATERAL": "lateral",
    "LL": "left lateral",
    "LAO": "left anterior oblique",
    "RAO": "right anterior oblique",
    "AP AXIAL": "anteroposterior axial",
    "PA LLD": "posteroanterior left lateral decubitus",
    "AP LLD": "anteroposterior left lateral decubitus",
    "XTABLE LATERAL": "cross-table lateral",
    "SWIMMERS": "swimmer's",
}
_VIEW_RANK = {"PA": 0, "AP": 1}  # the image a study is asked with: frontal first
#: report headings (MIMIC spells them in several ways) -> the section name a fact keeps
SECTION_ALIASES: dict[str, str] = {
    "INDICATION": "INDICATION",
    "INDICATIONS": "INDICATION",
    "HISTORY": "INDICATION",
    "CLINICAL HISTORY": "INDICATION",
    "CLINICAL INFORMATION": "INDICATION",
    "REASON FOR EXAM": "INDICATION",
    "REASON FOR EXAMINATION": "INDICATION",
    "FINDINGS": "FINDINGS",
    "FINDING": "FINDINGS",
    "IMPRESSION": "IMPRESSION",
    "IMPRESSIONS": "IMPRESSION",
    "CONCLUSION": "IMPRESSION",
    "EXAMINATION": "EXAMINATION",
    "TECHNIQUE": "TECHNIQUE",
    "COMPARISON": "COMPARISON",
}
_HEADING = re.compile(r"^[ \t]*([A-Z][A-Z /&()-]{1,40}[A-Z)]):", re.MULTILINE)
_REDACTION = re.compile(r"_{2,}")  # MIMIC's de-identified spans ("___")
#: "Dr. ___": the title's period would end a sentence early, leaving "... discussed with Dr." usable
_TITLE_BEFORE_REDACTION = re.compile(r"\b(Drs?|Mrs?|Ms)\.\s*(?=_{2,})")
_IDS = re.compile(r"\d{1,10}")


@dataclass(frozen=True)
class DicomRow:
    """One image as the metadata CSV lists it."""

    dicom_id: str
    subject_id: str
    study_id: str
    view: str
    procedure: str
    date: dt.date
    time: str


@dataclass(frozen=True)
class IndexedStudy:
    """One study as the CSVs describe it (before its report and image are read)."""

    subject_id: str
    study_id: str
    date: dt.date
    time: str
    images: tuple[DicomRow, ...]
    findings: tuple[str, ...]


@dataclass(frozen=True)
class ResolvedStudy:
    """A study with a usable report and a readable image: what becomes nodes."""

    record: IndexedStudy
    image: DicomRow
    image_path: Path
    sections: tuple[tuple[str, str], ...]


def read_report_sections(text: str) -> dict[str, str]:
    """Section name -> text of a MIMIC report, by its ``HEADING:`` lines; unknown headings end
    the section before them, and text before the first heading (``FINAL REPORT``) is dropped."""
    matches = list(_HEADING.finditer(text))
    sections: dict[str, str] = {}
    for match, following in zip(matches, [*matches[1:], None]):
        name = SECTION_ALIASES.get(" ".join(match.group(1).split()))
        body = text[match.end() : following.start() if following else len(text)]
        if name is not None and name not in sections:
            sections[name] = " ".join(body.split())
    return sections


def report_facts(text: str) -> tuple[tuple[str, str], ...]:
    """(section, fact sentence) of the usable sections. "___" spans become "XXXX", which
    :func:`medforget.builders.reports.fact_sentence` treats as redacted: a sentence holding one is not used."""
    sections = read_report_sections(_REDACTION.sub("XXXX", _TITLE_BEFORE_REDACTION.sub(r"\1 ", text)))
    return tuple(
        (name, sentence)
        for name in FACT_SECTIONS
        if (sentence := fact_sentence(name, sections.get(name, ""))) is not None
    )


def findings_from_chexpert(row: dict[str, str]) -> tuple[str, ...]:
    """Canonical findings of a study's CheXpert labels: positive (1.0) labels only."""
    positive = (label for label in CHEXPERT_LABELS if row.get(label, "").strip() in ("1.0", "1"))
    return tuple(sorted({CHEXPERT_TO_FINDING[label] for label in positive if label in CHEXPERT_TO_FINDING}))


def _parse_date(value: str) -> dt.date:
    return dt.datetime.strptime(value.strip(), "%Y%m%d").date()


@dataclass(frozen=True)
class MIMICCXROptions(SourceOptions):
    #: the MIMIC-CXR-JPG 2.x tree (``--root``)
    root: Path | None = None
    #: the extracted mimic-cxr-reports folder (holding ``files/pNN/...``); None: look under
    #: ``root``, ``root/mimic-cxr-reports``, then a sibling ``mimic-cxr-reports/``
    reports_root: Path | None = None


@BUILDERS.register
class MIMICCXRBuilder(Builder[list["ResolvedStudy"]]):
    """A patient is a MIMIC subject with its usable studies (:meth:`_choose_patients`)."""

    name = "mimic-cxr"
    version = "1.0.0"
    description = (
        "MIMIC-CXR-JPG 2.x with MIMIC-CXR reports: real patients, studies, shifted dates, images and "
        "report sentences; sites, networks and patient names synthetic"
    )
    licence = Licence(
        spdx="PhysioNet-Credentialed-Health-Data-1.5.0",
        url="https://physionet.org/content/mimic-cxr-jpg/view-license/2.1.0/",
        redistribution="credentialed access only: derived data may be shared only with PhysioNet-credentialed "
        "users bound by the data use agreement, never publicly",
        public_derivatives=False,
        leaves_machine=False,  # the agreement forbids sending it through third-party APIs
    )
    citation = """@article{johnson2019mimiccxrjpg,
  title = {{MIMIC-CXR-JPG}, a large publicly available database of labeled chest radiographs},
  author = {Johnson, Alistair E. W. and Pollard, Tom J. and Greenbaum, Nathaniel R. and Lungren, Matthew P. and
            Deng, Chih-ying and Peng, Yifan and Lu, Zhiyong and Mark, Roger G. and Berkowitz, Seth J. and
            Horng, Steven},
  journal = {arXiv preprint arXiv:1901.07042},
  year = {2019},
}"""

    #: what the card says is real and what synthetic (``sources[].provenance`` in the manifest)
    provenance: ClassVar[Mapping[str, str] | None] = {
        "hierarchy": "Patients, their studies, study dates (shifted by MIMIC's de-identification), views, "
        "procedures, findings, report sentences and images are real MIMIC-CXR records. MIMIC-CXR comes from one "
        "hospital: patients are dealt by the seed into **synthetic sites**, and sites into synthetic health "
        "networks, so that institution targets have siblings and cousins.",
        "real": "MIMIC subject ids (as medical record numbers), study ids (as accession numbers), shifted study "
        "dates, view positions, procedures, CheXpert findings (positive labels only), one short sentence per "
        "INDICATION, FINDINGS and IMPRESSION section, and the JPEG images, read at build time from the user's "
        'credentialed copy. Sentences holding a de-identification mark ("___") are never used.',
        "synthetic": "the sites (names, cities, types, PACS vendors), the health networks, and patient names "
        "(seeded with Faker per subject id: MIMIC has no names). They belong to no real hospital or person.",
        "identifiers": "MIMIC's de-identified subject and study ids are present: this dataset is bound by the "
        "PhysioNet credentialed licence and its data use agreement; do not try to re-identify anyone.",
    }

    Options = MIMICCXROptions
    options: MIMICCXROptions

    def read(self) -> Patients[list[ResolvedStudy]]:
        studies = self._studies()
        chosen = self._choose_patients(studies)
        used = {s.record.study_id for group in chosen for s in group}
        return Patients(
            chosen, tuple(s.findings for group in studies.values() for s in group if s.study_id not in used)
        )

    # locations ---------------------------------------------------------------------------

    def root(self) -> Path:
        root = self.options.root
        if root is None:
            raise SourceError("the mimic-cxr source needs its folder: --root DIR (a MIMIC-CXR-JPG 2.x tree)")
        if not root.is_dir():
            raise SourceError(f"MIMIC-CXR root {root} is not a folder; pass the MIMIC-CXR-JPG tree as --root")
        return root

    def report_roots(self) -> list[Path]:
        """Folders that may hold ``files/pNN/...txt`` reports, in the order they are tried."""
        root = self.root()
        if self.options.reports_root is not None:
            given = self.options.reports_root
            if not given.is_dir():
                raise SourceError(f"reports_root {given} is not a folder; point it at the extracted mimic-cxr-reports")
            return [given.parent if given.name == "files" else given]
        return [p for p in (root, root / "mimic-cxr-reports", root.parent / "mimic-cxr-reports") if p.is_dir()]

    def _study_folder(self, subject_id: str, study_id: str) -> Path:
        return Path("files") / f"p{subject_id[:2]}" / f"p{subject_id}" / f"s{study_id}"

    def fingerprint(self) -> str:
        """sha256 over the three index CSVs (names and contents): they name every image and study."""
        digest = hashlib.sha256()
        for name in (METADATA_CSV, SPLIT_CSV, CHEXPERT_CSV):
            digest.update(name.encode() + b"\0")
            with (self.root() / name).open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()

    # the CSVs ----------------------------------------------------------------------------

    def _rows(self, name: str, required: Sequence[str]) -> Iterator[tuple[str, dict[str, str]]]:
        """(``name:line``, row) of a gzipped CSV, streamed. A missing file, a corrupt gzip or a header
        without the required columns is broken structure (raised); a row of the wrong width is skipped."""
        path = self.root() / name
        if not path.is_file():
            raise SourceError(f"{path} is missing: a MIMIC-CXR-JPG 2.x root holds {name}; check --root")
        try:
            with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
                reader = csv.reader(handle)
                header = next(reader, [])
                missing = [c for c in required if c not in header]
                if missing:
                    raise SourceError(f"{path} lacks the columns {missing} (found {header}); is it the 2.x release?")
                for row in reader:
                    item = f"{name}:{reader.line_num}"
                    if len(row) != len(header):
                        self.skips.skip(item, f"malformed row in {name} ({len(row)} fields, header has {len(header)})")
                        continue
                    yield item, dict(zip(header, row))
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as err:
            raise SourceError(f"{path} is unreadable ({err.__class__.__name__}: {err}); download it again") from err

    def _metadata(self) -> dict[str, DicomRow]:
        images: dict[str, DicomRow] = {}
        for item, row in self._rows(METADATA_CSV, METADATA_COLUMNS):
            image = self._dicom_row(item, row)
            if image is None:
                continue
            if image.dicom_id in images:
                self.skips.skip(item, f"duplicate dicom_id in {METADATA_CSV}")
                continue
            images[image.dicom_id] = image
        return images

    def _dicom_row(self, item: str, row: dict[str, str]) -> DicomRow | None:
        dicom_id, subject, study = row["dicom_id"].strip(), row["subject_id"].strip(), row["study_id"].strip()
        try:
            date = _parse_date(row["StudyDate"])
        except ValueError:
            date = None
        if not dicom_id or not _IDS.fullmatch(subject) or not _IDS.fullmatch(study) or date is None:
            self.skips.skip(item, f"malformed row in {METADATA_CSV} (ids or StudyDate)")
            return None
        return DicomRow(
            dicom_id,
            subject,
            study,
            row["ViewPosition"].strip().upper(),
            " ".join(row["PerformedProcedureStepDescription"].split()),
            date,
            row["StudyTime"].strip(),
        )

    def _cross_check_split(self, images: dict[str, DicomRow]) -> None:
        """Drop images the split CSV places in another study or subject: the two indexes disagree."""
        seen: set[str] = set()
        for item, row in self._rows(SPLIT_CSV, SPLIT_COLUMNS):
            dicom_id = row["dicom_id"].strip()
            if dicom_id in seen:
                self.skips.skip(item, f"duplicate dicom_id in {SPLIT_CSV}")
                continue
            seen.add(dicom_id)
            image = images.get(dicom_id)
            if image is not None and (image.study_id, image.subject_id) != (
                row["study_id"].strip(),
                row["subject_id"].strip(),
            ):
                self.skips.skip(item, f"{SPLIT_CSV} and {METADATA_CSV} disagree on the image's study")
                del images[dicom_id]

    def _chexpert(self) -> dict[tuple[str, str], tuple[str, ...]]:
        labels: dict[tuple[str, str], tuple[str, ...]] = {}
        for item, row in self._rows(CHEXPERT_CSV, ("subject_id", "study_id", *CHEXPERT_LABELS)):
            key = (row["subject_id"].strip(), row["study_id"].strip())
            if not all(_IDS.fullmatch(k) for k in key) or any(
                row[lb].strip() not in _LABEL_VALUES for lb in CHEXPERT_LABELS
            ):
                self.skips.skip(item, f"malformed row in {CHEXPERT_CSV} (ids or label values)")
            elif key in labels:
                self.skips.skip(item, f"duplicate study in {CHEXPERT_CSV}")
            else:
                labels[key] = findings_from_chexpert(row)
        return labels

    # studies -----------------------------------------------------------------------------

    def _studies(self) -> dict[str, list[IndexedStudy]]:
        """subject -> its studies (one per date, chronological), from the three CSVs."""
        images = self._metadata()
        self._cross_check_split(images)
        labels = self._chexpert()
        by_study: dict[str, list[DicomRow]] = defaultdict(list)
        for image in images.values():
            by_study[image.study_id].append(image)
        by_subject: dict[str, list[IndexedStudy]] = defaultdict(list)
        for study_id in sorted(by_study):
            record = self._study_record(study_id, by_study[study_id], labels)
            if record is not None:
                by_subject[record.subject_id].append(record)
        return {subject: _one_per_date(records) for subject, records in sorted(by_subject.items())}

    def _study_record(
        self, study_id: str, rows: list[DicomRow], labels: dict[tuple[str, str], tuple[str, ...]]
    ) -> IndexedStudy | None:
        subjects = {r.subject_id for r in rows}
        if len(subjects) > 1:
            self.skips.skip(f"study {study_id}", f"study id listed under several subjects in {METADATA_CSV}")
            return None
        subject = subjects.pop()
        if (subject, study_id) not in labels:
            self.skips.skip(f"study {study_id}", f"study has no row in {CHEXPERT_CSV}")
            return None
        ordered = tuple(sorted(rows, key=lambda r: (_VIEW_RANK.get(r.view, 2), r.dicom_id)))
        first = min(rows, key=lambda r: (r.date, r.time))
        return IndexedStudy(subject, study_id, first.date, first.time, ordered, labels[(subject, study_id)])

    def _choose_patients(self, studies: dict[str, list[IndexedStudy]]) -> list[list[ResolvedStudy]]:
        """Patients in seeded order, each with its first ``max_studies`` usable studies, kept when
        ``min_studies`` are usable, until the config's count (trained + holdout) is reached."""
        config = self.config
        candidates = [s for s, records in studies.items() if len(records) >= config.min_studies]
        random.Random(config.seed).shuffle(candidates)
        wanted = None if config.n_patients is None else config.n_patients + config.n_holdout_patients
        roots = self.report_roots()
        chosen: list[list[ResolvedStudy]] = []
        for subject in candidates:
            if wanted is not None and len(chosen) == wanted:
                break
            resolved = self._resolve(studies[subject], roots)
            if len(resolved) >= config.min_studies:
                chosen.append(resolved)
        needed = wanted if wanted is not None else config.n_institutions + config.n_holdout_patients
        if len(chosen) < needed:
            raise SourceError(
                f"the MIMIC-CXR source yields {len(chosen)} patients with {config.min_studies}+ usable studies; the "
                f"config needs {needed} (reports looked for under {', '.join(map(str, roots)) or 'nothing found'})"
            )
        return chosen

    def _resolve(self, records: Iterable[IndexedStudy], roots: list[Path]) -> list[ResolvedStudy]:
        resolved: list[ResolvedStudy] = []
        for record in records:
            if len(resolved) == self.config.max_studies:
                break
            sections = self._report(record, roots)
            found = self._image(record) if sections else None
            if sections and found is not None:
                resolved.append(ResolvedStudy(record, found[0], found[1], sections))
        return resolved

    def _report(self, record: IndexedStudy, roots: list[Path]) -> tuple[tuple[str, str], ...]:
        relative = self._study_folder(record.subject_id, record.study_id).with_suffix(".txt")
        path = next((r / relative for r in roots if (r / relative).is_file()), None)
        if path is None:
            self.skips.skip(str(relative), "report missing")
            return ()
        try:
            sections = report_facts(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            self.skips.skip(str(relative), f"unreadable report ({err.__class__.__name__})")
            return ()
        if not sections:
            self.skips.skip(str(relative), "report has no usable INDICATION, FINDINGS or IMPRESSION sentence")
        return sections

    def _image(self, record: IndexedStudy) -> tuple[DicomRow, Path] | None:
        """The study's first readable image, frontal views first; each unreadable one is counted."""
        folder = self.root() / self._study_folder(record.subject_id, record.study_id)
        for image in record.images:
            path = folder / f"{image.dicom_id}.jpg"
            problem = image_problem(path)
            if problem is None:
                return image, path
            self.skips.skip(str(path.relative_to(self.root())), problem)
        return None

    # patients --------------------------------------------------------------------------

    def patient_key(self, patient: list[ResolvedStudy]) -> str:
        return patient[0].record.subject_id

    def patient(self, patient: list[ResolvedStudy]) -> PatientRecord:
        """The subject, named by a seeded fictitious name (questions name a patient; MIMIC has none)."""
        subject = patient[0].record.subject_id
        key = f"subject:{subject}"
        name = self.identities.patient(key, self.identities.sex(key), patient[0].record.date, None).name
        attributes = (Attribute("name", name, "name"), Attribute("mrn", subject, "medical record number"))
        return PatientRecord(subject, attributes, tuple(_study(s) for s in patient))


def _study(study: ResolvedStudy) -> StudyRecord:
    record = study.record
    attributes = [
        Attribute("date", record.date.isoformat(), "date"),
        Attribute("accession", record.study_id, "accession number"),
        Attribute("view", VIEW_PHRASES.get(study.image.view, study.image.view.lower() or "unknown"), "view"),
        Attribute("findings", describe(record.findings), "findings"),
    ]
    if study.image.procedure:
        attributes.insert(3, Attribute("procedure", study.image.procedure, "procedure"))
    return StudyRecord(
        record.study_id,
        tuple(attributes),
        sections=study.sections,
        findings=record.findings,
        real_image=study.image_path,
    )


def _one_per_date(records: list[IndexedStudy]) -> list[IndexedStudy]:
    """A patient's studies in time order, the first of each day only: questions name a study by
    its patient and date, which must point at one study."""
    kept: dict[dt.date, IndexedStudy] = {}
    for record in sorted(records, key=lambda r: (r.date, r.time, r.study_id)):
        kept.setdefault(record.date, record)
    return list(kept.values())
