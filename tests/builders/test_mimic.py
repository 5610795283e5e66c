import dataclasses
import gzip
import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from medforget.build.paper_layout import export_paper_layout
from medforget.build.pipeline import build
from medforget.builders import BUILDERS, SkipLog
from medforget.builders.mimic import (
    CHEXPERT_CSV,
    METADATA_CSV,
    SPLIT_CSV,
    MIMICCXRBuilder,
    findings_from_chexpert,
    read_report_sections,
    report_facts,
)
from medforget.config import BuildConfig, preset
from medforget.errors import SourceError
from tests.builders.mimic_fixtures import METADATA_HEADER, MimicTree, make_mimic


def mimic_config(tree: MimicTree, **options) -> BuildConfig:
    """The tiny preset over every fixture patient (so every broken file is met), small targets."""
    return dataclasses.replace(
        preset("tiny"),
        source="mimic-cxr",
        source_options={"root": tree.root, **options},
        n_patients=None,
        n_utility_images=4,
        image_size=64,
        targets_per_level={"institution": 1, "patient": 1, "study": 1, "section": 1},
    )


def load(config: BuildConfig, policy: str = "skip"):
    skips = SkipLog(policy)
    return BUILDERS.get("mimic-cxr")(config, skips).load(), skips


@pytest.fixture
def tree(tmp_path: Path) -> MimicTree:
    return make_mimic(tmp_path)


def test_registered_with_credentialed_licence_and_citation():
    assert BUILDERS.get("mimic-cxr") is MIMICCXRBuilder
    assert MIMICCXRBuilder.licence.public_derivatives is False
    assert MIMICCXRBuilder.licence.spdx == "PhysioNet-Credentialed-Health-Data-1.5.0"
    assert "Johnson" in MIMICCXRBuilder.citation and "MIMIC-CXR-JPG" in MIMICCXRBuilder.citation


def test_real_patients_studies_dates_views_and_sections(tree: MimicTree):
    data, skips = load(mimic_config(tree))
    h = data.hierarchy
    assert {lv: len(h.at_level(lv)) for lv in h.levels} == {
        "network": 2,
        "institution": 4,
        "patient": 12,
        "study": 36,
        "section": 108,
    }
    assert not skips.reasons
    subjects = {s for s, _, _ in tree.studies}
    assert {p.attribute("mrn") for p in h.at_level("patient")} == subjects
    study = next(n for n in h.at_level("study") if n.source_key == "50000011")
    assert (study.attribute("accession"), study.attribute("date")) == ("50000011", "2150-01-01")
    assert study.attribute("view") == "posteroanterior (PA)" and study.attribute("procedure") == "CHEST (PA AND LAT)"
    assert study.attribute("findings") == "cardiomegaly"  # Edema is -1.0 (uncertain): not positive
    assert h.nodes[study.parent_id].source_key == "10000032"
    plan = next(p for p in data.images if p.study_id == study.id)
    assert plan.real_image == tree.image("10000032", "50000011", tree.studies[0][2][0])  # the PA, not the lateral
    texts = [s.attribute("text") for s in h.at_level("section")]
    assert not any("XXXX" in t or "___" in t or t.endswith("Dr.") for t in texts)
    assert "Invented impression 0 suggests follow-up." in texts


def test_builds_validates_and_loads(tree: MimicTree, tmp_path: Path):
    from datasets import load_dataset

    result = build(mimic_config(tree), tmp_path / "out")
    source = result.manifest.sources[0]
    digest = hashlib.sha256()
    for name in (METADATA_CSV, SPLIT_CSV, CHEXPERT_CSV):
        digest.update(name.encode() + b"\0" + (tree.root / name).read_bytes())
    assert source.archive_sha256 == digest.hexdigest()
    assert result.manifest.images.by_origin == {"mimic-cxr": 36, "rendered": 4}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "synthetic" in card.lower() and "rendered radiograph-like pictures" not in card
    study = load_dataset(str(tmp_path / "out"), "study", cache_dir=str(tmp_path / "cache"))
    assert set(study) >= {"forget", "retain_sibling", "holdout"}
    assert study["forget"][0]["image"].size == (64, 64)
    assert {"view", "procedure", "accession", "date", "findings"} <= set(study["forget"]["attribute"])
    paper = export_paper_layout(tmp_path / "out", tmp_path / "paper").out  # the paper layout of a real source
    frame = pd.read_parquet(paper / "institution_level" / "retain_set_all.parquet")
    assert list(frame.columns) == ["image", "image_path", "metadata", "hierarchy_metadata", "ID"] and len(frame)


def test_reports_lie_under_the_root_or_a_configured_folder(tree: MimicTree, tmp_path: Path):
    merged = tree.root / "files"
    shutil.copytree(tree.reports / "files", merged, dirs_exist_ok=True)
    moved = tmp_path / "elsewhere" / "reports"
    shutil.move(str(tree.reports), str(moved))
    assert len(load(mimic_config(tree))[0].hierarchy.at_level("study")) == 36  # beside the JPGs
    for report in merged.rglob("*.txt"):
        report.unlink()
    with pytest.raises(SourceError, match="yields 0 patients"):
        load(mimic_config(tree))
    assert len(load(mimic_config(tree, reports_root=moved / "files"))[0].hierarchy.at_level("study")) == 36
    with pytest.raises(SourceError, match="reports_root .* is not a folder"):
        load(mimic_config(tree, reports_root=tmp_path / "nope"))


def test_broken_files_are_counted_or_refused(tree: MimicTree):
    # one broken study per patient (patients 0-3), so each keeps two studies and stays in
    (s0, st0, d0), (s1, st1, d1), (s2, st2, _), (s3, st3, _) = (tree.studies[k] for k in (0, 5, 7, 10))
    tree.image(s0, st0, d0[0]).write_bytes(tree.image(s0, st0, d0[0]).read_bytes()[:300])  # PA truncated: lateral used
    tree.image(s1, st1, d1[0]).write_bytes(b"not a jpeg at all")  # the study's only image
    tree.report(s2, st2).unlink()
    tree.report(s3, st3).write_text("FINAL REPORT\n FINDINGS: ___ ___.\n IMPRESSION: ___\n")
    rows = [
        *tree.metadata,
        tree.metadata[5],
        ["x", "1", "2"],
        [*tree.metadata[6][:7], "2150-13-45", *tree.metadata[6][8:]],
    ]
    tree.rewrite_metadata(rows)
    data, skips = load(mimic_config(tree))
    assert dict(skips.reasons) == {
        "corrupt or truncated JPG": 2,
        "report missing": 1,
        "report has no usable INDICATION, FINDINGS or IMPRESSION sentence": 1,
        f"duplicate dicom_id in {METADATA_CSV}": 1,
        f"malformed row in {METADATA_CSV} (3 fields, header has 12)": 1,
        f"malformed row in {METADATA_CSV} (ids or StudyDate)": 1,
    }
    assert len(data.hierarchy.at_level("study")) == 33
    lateral = next(p for p in data.images if p.real_image and p.real_image.parent.name == f"s{st0}")
    assert lateral.real_image.name == f"{d0[1]}.jpg"
    with pytest.raises(SourceError, match=rf"{METADATA_CSV}:56: duplicate dicom_id"):
        load(mimic_config(tree), policy="raise")
    tree.rewrite_metadata(tree.metadata)
    with pytest.raises(
        SourceError, match=r"files/p10/p\d{8}/s\d{8}/\w{8}-\w{4}-synthetic\.jpg: corrupt or truncated JPG"
    ):
        load(mimic_config(tree), policy="raise")


def test_broken_structure_is_a_typed_error_naming_the_file(tree: MimicTree):
    tree.rewrite_metadata(
        [r[:4] + r[5:] for r in tree.metadata], header=[c for c in METADATA_HEADER if c != "ViewPosition"]
    )
    with pytest.raises(SourceError, match=rf"{METADATA_CSV} lacks the columns \['ViewPosition'\]"):
        load(mimic_config(tree))
    (tree.root / METADATA_CSV).write_bytes(gzip.compress(b"dicom_id,subject_id\n")[:12])
    with pytest.raises(SourceError, match=rf"{METADATA_CSV} is unreadable"):
        load(mimic_config(tree))
    (tree.root / CHEXPERT_CSV).unlink()
    tree.rewrite_metadata(tree.metadata)
    with pytest.raises(SourceError, match=rf"{CHEXPERT_CSV} is missing"):
        load(mimic_config(tree))
    with pytest.raises(SourceError, match="needs its folder: --root"):
        load(dataclasses.replace(mimic_config(tree), source_options={}))


def test_duplicate_and_inconsistent_index_rows_are_skipped(tree: MimicTree):
    from tests.builders.mimic_fixtures import CHEXPERT_HEADER, SPLIT_HEADER, write_csv_gz

    subject, _, dicoms = tree.studies[0]
    write_csv_gz(tree.root / SPLIT_CSV, SPLIT_HEADER, [[dicoms[0], "59999999", subject, "train"]])
    labels = [[s, st, *[""] * 14] for s, st, _ in tree.studies]
    write_csv_gz(tree.root / CHEXPERT_CSV, CHEXPERT_HEADER, [*labels, labels[3], [*labels[4][:2], *["maybe"] * 14]])
    _, skips = load(mimic_config(tree))
    assert skips.reasons[f"{SPLIT_CSV} and {METADATA_CSV} disagree on the image's study"] == 1
    assert skips.reasons[f"duplicate study in {CHEXPERT_CSV}"] == 1
    assert skips.reasons[f"malformed row in {CHEXPERT_CSV} (ids or label values)"] == 1
    assert skips.reasons[f"study has no row in {CHEXPERT_CSV}"] == 0  # the first row of study 4 stands


def test_chexpert_positive_only():
    row = {
        "Cardiomegaly": "1.0",
        "Edema": "-1.0",
        "Lung Opacity": "1.0",
        "Consolidation": "1.0",
        "Fracture": "1.0",
        "Pneumothorax": "0.0",
        "Support Devices": "",
    }
    assert findings_from_chexpert(row) == ("cardiomegaly", "opacity")


def test_report_sections_and_redactions():
    text = (
        "FINAL REPORT\n EXAMINATION: CHEST (PA AND LAT)\n INDICATION: ___F with cough\n"
        " HISTORY ADDENDUM: ignored text\n FINDINGS:\n Left basal opacity is new.\n"
        " IMPRESSION: Dr. ___ was told. Small left effusion persists.\n"
    )
    sections = read_report_sections(text)
    assert sections["EXAMINATION"] == "CHEST (PA AND LAT)" and sections["FINDINGS"] == "Left basal opacity is new."
    assert "ignored" not in sections["INDICATION"]
    assert report_facts(text) == (
        ("FINDINGS", "Left basal opacity is new."),
        ("IMPRESSION", "Small left effusion persists."),
    )
