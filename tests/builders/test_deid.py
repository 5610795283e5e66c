"""De-identification: the key policy, keyed pseudonyms, the allow-list, date shifts, age bands,
free text; and the proof on real files (pydicom, pydicom-data, deid-data) that no identifying
value of any input reaches any output byte."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from medforget.build.pipeline import BuildResult, build
from medforget.builders.deid import (
    ALLOWED_TAGS,
    KEY_ENV,
    ForbiddenTagError,
    Pseudonymizer,
    PseudonymKey,
    age_band,
    clean_text,
    deidentify,
    identifying_values,
    tag,
)
from medforget.errors import ConfigError
from tests.builders.dicom_fixtures import (
    KEY,
    PATIENTS,
    dicom_config,
    gather_real,
    image_dataset,
    leaks,
    real_identifiers,
    report_dataset,
    untestable,
    write_export,
)


def test_key_from_the_environment_is_recorded_as_a_policy_never_as_a_value():
    key = PseudonymKey.from_env({KEY_ENV: KEY})
    assert key.policy == "env" and KEY not in key.record() and KEY not in repr(key)


def test_without_a_key_a_random_one_lives_for_one_build_and_says_so(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        first, second = PseudonymKey.from_env({}), PseudonymKey.from_env({})
    assert first.policy == "ephemeral" and first.secret != second.secret
    assert "not reproducible" in first.record() and KEY_ENV in caplog.text


def test_a_short_key_is_refused():
    with pytest.raises(ConfigError, match="at least 16"):
        PseudonymKey.from_env({KEY_ENV: "secret"})


def test_pseudonyms_are_keyed_stable_and_not_plain_hashes():
    one, same, other = (Pseudonymizer(PseudonymKey(k.encode(), "env")) for k in (KEY, KEY, KEY + "x"))
    assert one.digest("patient", "MRN-778812") == same.digest("patient", "MRN-778812")
    assert one.digest("patient", "MRN-778812") != other.digest("patient", "MRN-778812")
    assert one.digest("patient", "MRN-778812") != hashlib.sha256(b"MRN-778812").hexdigest()
    assert one.label("Site", "site", "x").startswith("Site ") and len(one.digits("MRN", "mrn", "x", n=8)) == 11


def test_only_allow_listed_tags_can_be_read():
    ds = image_dataset(PATIENTS[0], 0, 0, 0)
    assert tag(ds, "Modality") == "CT"
    for keyword in ("PatientName", "ReferringPhysicianName", "InstitutionAddress", "OperatorsName"):
        assert keyword not in ALLOWED_TAGS
        with pytest.raises(ForbiddenTagError):
            tag(ds, keyword)


def test_dates_shift_by_one_offset_per_patient_within_1_to_10_years():
    pseudo = Pseudonymizer(PseudonymKey(KEY.encode(), "env"))
    offsets = {pseudo.date_offset(f"patient-{n}") for n in range(50)}
    assert all(dt.timedelta(days=-3650) <= o <= dt.timedelta(days=-365) for o in offsets)
    assert len(offsets) > 40 and pseudo.date_offset("patient-1") == pseudo.date_offset("patient-1")


@pytest.mark.parametrize(
    ("age", "birth", "on", "band"),
    [
        ("045Y", None, None, "40-49"),
        ("092Y", None, None, "90+"),
        ("006M", None, None, "0-9"),
        (None, dt.date(1950, 6, 1), dt.date(2020, 5, 31), "60-69"),
        (None, dt.date(1950, 6, 1), dt.date(2020, 6, 1), "70-79"),
        ("45", None, None, None),
        (None, None, dt.date(2020, 1, 1), None),
    ],
)
def test_ages_become_decade_bands(age, birth, on, band):
    assert age_band(age, birth, on) == band


def test_free_text_with_an_identifying_value_or_pattern_is_dropped():
    ds = image_dataset(PATIENTS[0], 0, 0, 0)
    identifiers = identifying_values(ds)
    assert {"KENT", "CLARK", "MRN 778812", "SPRINGFIELD GENERAL HOSPITAL", "A10045", "HOUSE"} <= identifiers
    assert clean_text("CT  CHEST WITH CONTRAST", identifiers) == "CT CHEST WITH CONTRAST"
    for text in (
        "CT HEAD kent",
        "Referred by Dr House",
        "scan at Springfield General Hospital",
        "ACC A10045",
        "follow-up 03/12/2019",
        "id 99812345",
        "see 1.2.840.113619.2.55.3",
        "mail j@x.org",
    ):
        assert clean_text(text, identifiers) is None, text


def test_report_sections_keep_clean_text_and_drop_identifying_items(tmp_path: Path):
    ds = report_dataset(PATIENTS[1], 0, 3)
    record = deidentify(ds, tmp_path / "r.dcm", Pseudonymizer(PseudonymKey(KEY.encode(), "env")))
    assert record.is_report and not record.is_image
    assert dict(record.sections) == {
        "findings": "Small nodule in the pituitary fossa measuring 6 mm.",
        "impression": "Stable appearance of the pituitary fossa compared with prior imaging.",
    }
    assert record.dropped == ("SR TextValue",)  # "Discussed with Lois Lane today."


def test_the_record_holds_no_raw_identifier(tmp_path: Path):
    ds = image_dataset(PATIENTS[0], 0, 0, 0)
    record = deidentify(ds, tmp_path / "x.dcm", Pseudonymizer(PseudonymKey(KEY.encode(), "env")))
    text = repr(record.__class__(**{**record.__dict__, "path": Path("x")}))
    for raw in ("Kent", "Clark", "778812", "Springfield", "A10045", "1956", str(ds.StudyInstanceUID), "2019-03-12"):
        assert raw not in text
    assert record.date is not None and 365 <= (dt.date(2019, 3, 12) - record.date).days <= 3650


def test_missing_identifiers_are_named(tmp_path: Path):
    ds = image_dataset(PATIENTS[0], 0, 0, 0)
    del ds.StudyInstanceUID
    from medforget.builders.deid import MissingIdentifier

    with pytest.raises(MissingIdentifier, match="StudyInstanceUID"):
        deidentify(ds, tmp_path / "x.dcm", Pseudonymizer(PseudonymKey(KEY.encode(), "env")))
    with pytest.raises(MissingIdentifier, match="every identifier"):
        deidentify(Dataset(), tmp_path / "x.dcm", Pseudonymizer(PseudonymKey(KEY.encode(), "env")))


# the real files ------------------------------------------------------------------------------------

REAL_TARGETS = {"patient": 1, "study": 2, "series": 1, "section": 1}


@pytest.fixture(scope="module")
def real_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildResult, list[Path]]:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv(KEY_ENV, KEY)
    root = tmp_path_factory.mktemp("real") / "dicom"
    files = gather_real(root)
    config = dicom_config(root, n_holdout_patients=2, targets_per_level=REAL_TARGETS)
    try:
        result = build(config, tmp_path_factory.mktemp("real-out") / "medforget")
    finally:
        monkeypatch.undo()
    return result, files


@pytest.fixture(scope="module")
def reference_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DICOM build from the code-made export, which holds none of the real files' values: what
    it writes too is the pipeline's own text (card, report, templates, field names)."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv(KEY_ENV, KEY)
    try:
        export = write_export(tmp_path_factory.mktemp("reference") / "export")
        return build(dicom_config(export.root), tmp_path_factory.mktemp("reference-out") / "medforget").out
    finally:
        monkeypatch.undo()


def test_every_real_file_is_built_or_counted(real_build):
    result, files = real_build
    manifest = result.manifest
    nodes = manifest.hierarchy.nodes
    assert manifest.hierarchy.levels == ("institution", "patient", "study", "series")
    assert nodes["patient"] >= 20 and nodes["study"] >= 30 and nodes["institution"] >= 15
    assert manifest.images.by_origin["dicom"] == nodes["study"]
    reasons = {r.reason: r.count for r in manifest.skipped}
    assert reasons["burned-in annotation (BurnedInAnnotation YES)"] == 2  # deid-data's ultrasounds
    assert reasons["duplicate SOPInstanceUID"] > 0 and reasons["not a DICOM file"] > 0
    used = sum(n for level, n in nodes.items() if level == "study")
    assert used > 0 and len(files) > 250


def test_no_identifying_value_of_any_real_input_reaches_any_output_byte(real_build, reference_build: Path):
    result, files = real_build
    identifiers = real_identifiers(files)
    assert (
        len(identifiers) > 400
        and {"Hospital Name 12345", "St. Nowhere Hospital", "CompressedSamples^CT1"} <= identifiers
    )
    outputs = {p.name for p in result.out.rglob("*") if p.is_file()}
    assert {"manifest.json", "README.md", "validation.json", "validation.html"} <= outputs
    skipped = untestable(identifiers, reference_build)
    words = sorted(v for v in skipped if not v.isdigit())
    assert len(words) <= 8, words  # generic words only, such as "Test", "NAME", "PATIENT"
    assert {k: v for k, v in leaks(result.out, identifiers).items() if k not in skipped} == {}


def test_real_study_dates_never_appear_unshifted(real_build):
    result, files = real_build
    import pyarrow.parquet as pq

    answers = {
        r["answer"]
        for p in result.out.rglob("*.parquet")
        for r in pq.read_table(p, columns=["attribute", "answer"]).to_pylist()
        if r["attribute"] == "date"
    }
    real_dates = set()
    from pydicom import dcmread

    for path in files:
        try:
            value = dcmread(path, stop_before_pixels=True, specific_tags=["StudyDate"]).get("StudyDate")
        except Exception:  # noqa: BLE001, S112
            continue
        if value and len(str(value)) == 8:
            real_dates.add(f"{str(value)[:4]}-{str(value)[4:6]}-{str(value)[6:]}")
    assert answers and not answers & real_dates
