"""De-identification of DICOM headers, done before any value reaches a node.

The DICOM builder never reads a header itself: it gets :class:`DeidInstance` records from
:func:`deidentify`, which reads only the tags of :data:`ALLOWED_TAGS` and returns

- identifiers (institution, patient, study, series, instance, accession) as keyed pseudonyms:
  HMAC-SHA256 under a secret key, stable within a build and not reversible without the key
  (a plain hash of a PatientID or UID could be confirmed by anyone holding the source);
- dates shifted by a per-patient offset derived from the patient's pseudonym, so intervals
  between one patient's studies survive and the calendar does not; ages as 10-year bands;
- free text (descriptions, SR report text) only when it mentions no identifying value of its
  file (then, in the builder, of any file of the export: :func:`recheck`) and no identifier-like
  pattern; otherwise it is dropped and the drop is counted.

Key policy: ``$MEDFORGET_DEID_KEY`` (at least 16 bytes) makes pseudonyms, node ids and the
build reproducible; without it a random key lives for one build only (a loud warning says the
build is not reproducible). The manifest records which policy was used, never the key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medforget.errors import ConfigError

logger = logging.getLogger(__name__)

DEID_VERSION = "1.0.0"
KEY_ENV = "MEDFORGET_DEID_KEY"
MIN_KEY_BYTES = 16
#: shifted dates lie 1 to 10 years before the real ones
SHIFT_DAYS = (365, 3650)

#: read only to be replaced by keyed pseudonyms: never reach an attribute
PSEUDONYMIZED: frozenset[str] = frozenset(
    {
        "InstitutionName",
        "IssuerOfPatientID",
        "PatientID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "AccessionNumber",
    }
)
#: read only to be shifted (studies) or turned into an age band (birth date)
DATES: frozenset[str] = frozenset({"StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "PatientBirthDate"})
#: coded values and free text that may reach an attribute (free text after the identifier check)
KEPT: frozenset[str] = frozenset(
    {
        "PatientSex",
        "PatientAge",
        "Modality",
        "BodyPartExamined",
        "StudyDescription",
        "SeriesDescription",
        "Manufacturer",
        "SeriesNumber",
        "InstanceNumber",
    }
)
#: how an instance is read (image or report, frames, flags); never written
STRUCTURE: frozenset[str] = frozenset(
    {
        "SOPClassUID",
        "Rows",
        "Columns",
        "NumberOfFrames",
        "PhotometricInterpretation",
        "BurnedInAnnotation",
        "RecognizableVisualFeatures",
        "ContentSequence",
        "ValueType",
        "ConceptNameCodeSequence",
        "CodeMeaning",
        "TextValue",
    }
)
ALLOWED_TAGS: frozenset[str] = PSEUDONYMIZED | DATES | KEPT | STRUCTURE
"""Every tag the builder may read. Anything else in a file is never looked at, except by
:func:`identifying_values`, which collects values only to keep them *out* of free text."""

#: besides every person name (PN) and UID (UI) anywhere in the file, values of these tags count
#: as identifying when they turn up in free text
IDENTIFYING_TAGS: frozenset[str] = frozenset(
    {
        "PatientID",
        "OtherPatientIDs",
        "IssuerOfPatientID",
        "AccessionNumber",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "StationName",
        "DeviceSerialNumber",
        "StudyID",
        "RequestedProcedureID",
        "ScheduledProcedureStepID",
        "PerformedProcedureStepID",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "MedicalRecordLocator",
        "OtherPatientNames",
        "PatientMotherBirthName",
        "PatientBirthDate",
        "StudyDate",
        "SeriesDate",
        "AcquisitionDate",
        "ContentDate",
    }
)
SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_PATTERNS = (
    re.compile(r"\d{5,}"),  # record numbers, compact dates
    re.compile(r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b"),  # dates
    re.compile(r"\S+@\S+\.\w+"),  # e-mail addresses
    re.compile(r"\b(?:\d[\d.]*\.){3,}\d+\b"),  # UIDs
)
_WORD = re.compile(r"[A-Za-z0-9]+")


class ForbiddenTagError(RuntimeError):
    """The code asked for a tag outside the allow-list: a bug, never a user error."""


@dataclass(frozen=True)
class PseudonymKey:
    """The secret of one build's pseudonyms, and how it was obtained (``env`` or ``ephemeral``)."""

    secret: bytes = field(repr=False)
    policy: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> PseudonymKey:
        value = environ.get(KEY_ENV)
        if value is None:
            logger.warning(
                "%s is not set: DICOM pseudonyms use a random key that lives for this build only, so node ids and "
                "output bytes differ on every build. Set %s to a secret of 16+ bytes (python -c 'import secrets; "
                "print(secrets.token_hex(32))') to make builds reproducible; keep it out of the dataset.",
                KEY_ENV,
                KEY_ENV,
            )
            return cls(secrets.token_bytes(32), "ephemeral")
        if len(value.encode("utf-8")) < MIN_KEY_BYTES:
            raise ConfigError(
                f"${KEY_ENV} holds {len(value.encode('utf-8'))} bytes; a pseudonym key needs at least {MIN_KEY_BYTES} "
                "(a short key can be guessed, and with it every pseudonym reversed); make one with "
                "python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        return cls(value.encode("utf-8"), "env")

    def record(self) -> str:
        """How the key was chosen, in words fit for the manifest (the key itself never is)."""
        if self.policy == "env":
            return f"HMAC-SHA256 pseudonyms keyed by ${KEY_ENV} (reproducible with the same key)"
        return f"HMAC-SHA256 pseudonyms under a random per-build key (${KEY_ENV} unset: not reproducible)"


class Pseudonymizer:
    """Keyed pseudonyms and date offsets of one build."""

    def __init__(self, key: PseudonymKey):
        self._secret = key.secret

    def digest(self, kind: str, *parts: str) -> str:
        message = "\x1f".join((kind, *parts)).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def label(self, prefix: str, kind: str, *parts: str, n: int = 6) -> str:
        """A readable pseudonym such as ``Site 3F2A9C``."""
        return f"{prefix} {self.digest(kind, *parts)[:n].upper()}"

    def digits(self, prefix: str, kind: str, *parts: str, n: int) -> str:
        """A numeric pseudonym such as ``MRN04817266`` (the format of the default source's ids)."""
        return f"{prefix}{int(self.digest(kind, *parts), 16) % 10**n:0{n}d}"

    def date_offset(self, patient_key: str) -> dt.timedelta:
        low, high = SHIFT_DAYS
        return -dt.timedelta(days=low + int(self.digest("date-shift", patient_key), 16) % (high - low + 1))


# reading allow-listed tags ---------------------------------------------------------------------


def tag(ds: Any, keyword: str) -> str | None:
    """An allow-listed tag's value as stripped text; None when absent or empty."""
    if keyword not in ALLOWED_TAGS:
        raise ForbiddenTagError(f"{keyword} is not in the de-identification allow-list")
    value = ds.get(keyword)
    if value is None:
        return None
    text = str(value).strip().strip("\x00").strip()
    return text or None


def parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return None


def age_band(age: str | None, birth: dt.date | None, on: dt.date | None) -> str | None:
    """A 10-year band (``40-49``; ``90+`` above, as HIPAA's safe harbour asks) from PatientAge
    (``045Y``, ``006M``...) or else from the birth date and the study date."""
    years: int | None = None
    if age and re.fullmatch(r"\d{1,3}[DWMY]", age):
        years = int(age[:-1]) if age[-1] == "Y" else 0
    elif birth is not None and on is not None and on >= birth:
        years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    if years is None or years > 130:
        return None
    return "90+" if years >= 90 else f"{years // 10 * 10}-{years // 10 * 10 + 9}"


SEXES = {"F": "female", "M": "male", "O": "other"}


# identifying values and free text ----------------------------------------------------------------


def identifying_values(ds: Any) -> frozenset[str]:
    """Upper-case token strings a free text of this file must not contain: every person name (and
    each of its parts), every UID, and the values of :data:`IDENTIFYING_TAGS`, anywhere in the file."""
    found: set[str] = set()
    for element in _elements(ds):
        if element.VR == "PN":
            for name in _values(element):
                found.add(_norm(str(name).replace("^", " ")))
                found.update(_norm(part) for part in re.split(r"[\^= ]", str(name)))
        else:
            found.update(_norm(str(v)) for v in _values(element))
    return frozenset(v for v in found if len(v.replace(" ", "")) >= 3)


def _elements(ds: Any) -> Iterator[Any]:
    for element in ds.iterall():
        if element.VR in ("PN", "UI") or element.keyword in IDENTIFYING_TAGS:
            yield element


def _values(element: Any) -> list[Any]:
    value = element.value
    if value is None or element.VR == "SQ":
        return []
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str | bytes) else [value]


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.upper()))


class Identifiers:
    """Identifying values (normalised by :func:`identifying_values`) indexed by their first word,
    so checking a text costs time in its words, however many values there are: a build-wide set
    holds every name and id of the export."""

    def __init__(self, values: Iterable[str] = ()):
        self._by_first: dict[str, set[str]] = defaultdict(set)
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            self._by_first[value.split(" ", 1)[0]].add(value)

    def mentioned_in(self, text: str) -> bool:
        words = _norm(text).split()
        joined = f" {' '.join(words)} "
        return any(f" {value} " in joined for word in set(words) for value in self._by_first.get(word, ()))


def clean_text(text: str | None, identifiers: Identifiers | frozenset[str]) -> str | None:
    """``text`` when it mentions none of ``identifiers`` (as whole words, any case) and no
    identifier-like pattern (long numbers, dates, UIDs, e-mail addresses); else None."""
    if text is None:
        return None
    if any(p.search(text) for p in _PATTERNS):
        return None
    index = identifiers if isinstance(identifiers, Identifiers) else Identifiers(identifiers)
    if index.mentioned_in(text):
        return None
    return " ".join(text.split()) or None


#: the free-text fields of a record (and their tags), re-checked against the identifiers of the whole build
TEXT_FIELDS = {
    "body_part": "BodyPartExamined",
    "study_description": "StudyDescription",
    "series_description": "SeriesDescription",
    "manufacturer": "Manufacturer",
}


def recheck(record: DeidInstance, identifiers: Identifiers) -> DeidInstance:
    """``record`` with its free text checked against every file's identifying values (an
    institution's name in one file may be another file's manufacturer); what fails is dropped
    and named in ``dropped``."""
    changes: dict[str, Any] = {}
    dropped: list[str] = []
    for name, keyword in TEXT_FIELDS.items():
        value = getattr(record, name)
        if value is not None and clean_text(value, identifiers) is None:
            changes[name] = None
            dropped.append(keyword)
    sections = tuple((h, t) for h, t in record.sections if clean_text(t, identifiers) is not None)
    if len(sections) < len(record.sections):
        changes["sections"] = sections
        dropped.append("SR section")
    return replace(record, **changes, dropped=tuple(dropped)) if changes else replace(record, dropped=())


@dataclass(frozen=True)
class DeidInstance:
    """What the builder knows of one DICOM instance, after de-identification. Every string here
    is a pseudonym, a shifted date, a code, or free text that passed :func:`clean_text`."""

    path: Path  # local only: read for pixels, never written
    site: str  # pseudonyms (hex digests) of the institution, patient, study, series, instance
    patient: str
    study: str
    series: str
    sop: str
    site_label: str
    patient_label: str
    mrn: str
    accession: str
    sex: str | None
    age_band: str | None
    date: dt.date | None  # shifted
    modality: str | None
    body_part: str | None
    study_description: str | None
    series_description: str | None
    manufacturer: str | None
    series_number: int | None
    instance_number: int | None
    frames: int
    is_image: bool
    is_report: bool
    burned_in: bool
    recognizable: bool
    sections: tuple[tuple[str, str], ...] = ()  # SR (heading, text), cleaned
    dropped: tuple[str, ...] = ()  # free-text fields left out as identifying


class MissingIdentifier(ValueError):
    """An instance lacks an identifier the hierarchy needs (``args[0]`` is the tag)."""


def deidentify(ds: Any, path: Path, pseudo: Pseudonymizer, identifiers: frozenset[str] | None = None) -> DeidInstance:
    """The de-identified record of one instance read with ``stop_before_pixels``; ``identifiers``:
    the file's :func:`identifying_values`, when the caller has them already."""
    ids = {k: tag(ds, k) for k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")}
    missing = [keyword for keyword, value in ids.items() if value is None]
    if len(missing) == len(ids):
        raise MissingIdentifier("every identifier (a truncated or corrupt header)")
    if missing:
        raise MissingIdentifier(missing[0])
    identifiers = identifying_values(ds) if identifiers is None else identifiers
    site = pseudo.digest("institution", tag(ds, "InstitutionName") or "")
    patient = pseudo.digest("patient", site, tag(ds, "IssuerOfPatientID") or "", ids["PatientID"] or "")
    study_uid = ids["StudyInstanceUID"] or ""
    offset = pseudo.date_offset(patient)
    study_date = next(
        (
            d
            for k in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
            if (d := parse_date(tag(ds, k))) is not None
        ),
        None,
    )
    dropped: list[str] = []

    def text(keyword: str) -> str | None:
        raw = tag(ds, keyword)
        kept = clean_text(raw, identifiers)
        if raw is not None and kept is None:
            dropped.append(keyword)
        return kept

    sop_class = tag(ds, "SOPClassUID") or ""
    modality = _code(tag(ds, "Modality"))
    is_report = modality == "SR" or sop_class.startswith(SR_CLASS_PREFIX)
    sections = report_sections(ds, identifiers, dropped) if is_report else ()
    return DeidInstance(
        path=path,
        site=site,
        patient=patient,
        study=pseudo.digest("study", study_uid),
        series=pseudo.digest("series", ids["SeriesInstanceUID"] or ""),
        sop=pseudo.digest("sop", ids["SOPInstanceUID"] or ""),
        site_label=pseudo.label("Site", "site-label", site),
        patient_label=pseudo.label("Patient", "patient-label", patient),
        mrn=pseudo.digits("MRN", "mrn", patient, n=8),
        accession=pseudo.digits("ACC", "accession", tag(ds, "AccessionNumber") or study_uid, n=9),
        sex=SEXES.get((tag(ds, "PatientSex") or "").upper()),
        age_band=age_band(tag(ds, "PatientAge"), parse_date(tag(ds, "PatientBirthDate")), study_date),
        date=None if study_date is None else study_date + offset,
        modality=modality,
        body_part=_code(text("BodyPartExamined")),
        study_description=text("StudyDescription"),
        series_description=text("SeriesDescription"),
        manufacturer=text("Manufacturer"),
        series_number=_int(tag(ds, "SeriesNumber")),
        instance_number=_int(tag(ds, "InstanceNumber")),
        frames=max(1, _int(tag(ds, "NumberOfFrames")) or 1),
        is_image=not is_report and tag(ds, "Rows") is not None and tag(ds, "Columns") is not None,
        is_report=is_report,
        burned_in=(tag(ds, "BurnedInAnnotation") or "").upper() == "YES",
        recognizable=(tag(ds, "RecognizableVisualFeatures") or "").upper() == "YES",
        sections=sections,
        dropped=tuple(dropped),
    )


def _code(value: str | None) -> str | None:
    """A DICOM code string (CS: upper case, digits, space, underscore, 16 characters), else None."""
    return value if value is not None and re.fullmatch(r"[A-Z0-9_ ]{1,16}", value) else None


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None


#: SR headings (CodeMeaning, lower case) -> the section names the default source uses
_HEADINGS = {
    "findings": "findings",
    "finding": "findings",
    "impression": "impression",
    "impressions": "impression",
    "conclusion": "impression",
    "conclusions": "impression",
    "indication": "indication",
    "indications": "indication",
    "clinical information": "indication",
    "history": "indication",
    "reason for study": "indication",
    "comparison": "comparison",
    "comparisons": "comparison",
}


def report_sections(
    ds: Any, identifiers: Identifiers | frozenset[str], dropped: list[str]
) -> tuple[tuple[str, str], ...]:
    """(section, text) of an SR document: the TEXT items under each heading, cleaned; items that
    mention an identifying value are dropped (and counted by the caller through ``dropped``)."""
    texts: dict[str, list[str]] = {}
    for heading, value in _text_items(ds, None):
        kept = clean_text(value, identifiers)
        if kept is None:
            dropped.append("SR TextValue")
            continue
        texts.setdefault(heading, []).append(kept)
    return tuple((name, " ".join(parts)) for name, parts in sorted(texts.items()))


def _text_items(item: Any, heading: str | None) -> Iterator[tuple[str, str]]:
    for child in item.get("ContentSequence") or ():
        meaning = _meaning(child)
        kind = tag(child, "ValueType")
        if kind == "CONTAINER":
            yield from _text_items(child, _HEADINGS.get(meaning or "", heading))
        elif kind == "TEXT" and (value := tag(child, "TextValue")) is not None:
            name = heading or _HEADINGS.get(meaning or "")  # the container's heading wins
            if name is not None:
                yield name, value


def _meaning(item: Any) -> str | None:
    codes = item.get("ConceptNameCodeSequence") or ()
    meaning = tag(codes[0], "CodeMeaning") if codes else None
    return meaning.lower() if meaning else None
