"""The DICOM-folder builder on a PACS export and a DICOMDIR file-set made in code: hierarchy,
levels, images (windowing, MONOCHROME1, frames, colour), bad input, and the built folder."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from medforget.build.pipeline import build
from medforget.builders import BUILDERS, SkipLog
from medforget.builders.deid import KEY_ENV
from medforget.builders.dicom import DicomBuilder
from medforget.builders.dicom_pixels import DicomPixels, to_picture, windowed
from medforget.errors import ConfigError, SourceError
from medforget.hierarchy import ImageSource
from medforget.images.make import load_real
from tests.builders.dicom_fixtures import (
    KEY,
    PATIENTS,
    Export,
    blocks,
    dicom_config,
    image_dataset,
    leaks,
    write_export,
    write_fileset,
)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return write_export(tmp_path_factory.mktemp("pacs") / "export")


def load(root: Path, policy: str = "skip", **overrides: object):
    skips = SkipLog(policy)
    return BUILDERS.get("dicom")(dicom_config(root, **overrides), skips).load(), skips


def test_registered_with_a_licence_that_needs_acknowledgement():
    assert BUILDERS.get("dicom") is DicomBuilder
    assert DicomBuilder.licence.public_derivatives is False


def test_hierarchy_follows_the_dicom_information_model(export: Export):
    data, skips = load(export.root)
    h = data.hierarchy
    assert h.levels == ("institution", "patient", "study", "series", "section")
    assert {level: len(h.at_level(level)) for level in h.levels} == {
        "institution": 2,
        "patient": 5,
        "study": 10,
        "series": 20,
        "section": 20,
    }
    for study in h.at_level("study"):
        kinds = sorted(c.level for c in h.children(study.id))
        assert kinds == ["section", "section", "series", "series"]  # sections hang under the study
    assert {p.study_id for p in data.images} == {n.id for n in h.at_level("study")}
    assert all(isinstance(p.real_image, DicomPixels) for p in data.images)
    assert skips.reasons == {
        "not a DICOM file": 1,  # the viewer's README.txt
        "free text left out: StudyDescription mentions an identifying value": 5,  # "CT HEAD KENT"
        "free text left out: SR TextValue mentions an identifying value": 10,  # "Discussed with Clark Kent"
    }


def test_facts_are_pseudonyms_codes_and_clean_text(export: Export):
    h = load(export.root)[0].hierarchy
    sites = sorted(n.attribute("site") for n in h.at_level("institution"))
    assert all(s.startswith("Site ") and len(s) == 11 for s in sites)
    patient = h.at_level("patient")[0]
    assert patient.attribute("name").startswith("Patient ") and patient.attribute("mrn").startswith("MRN")
    assert {n.attribute("age_band") for n in h.at_level("patient")} == {"60-69", "40-49", "30-39", "50-59"}
    descriptions = {
        n.attribute("description") for n in h.at_level("study") if any(a.name == "description" for a in n.attributes)
    }
    assert "CT CHEST WITH CONTRAST" in descriptions and not any("KENT" in d for d in descriptions)
    texts = {n.attribute("text") for n in h.at_level("section")}
    assert not any("Kent" in t or "Discussed" in t for t in texts)
    assert {n.attribute("modality") for n in h.at_level("series")} == {"CT", "MR", "CR"}


def test_dates_shift_per_patient_and_keep_intervals(export: Export):
    import datetime as dt

    def day(value: str) -> dt.date:
        return dt.datetime.strptime(value, "%Y%m%d").date()

    by_interval = {(day(p.studies[1][0]) - day(p.studies[0][0])).days: p for p in PATIENTS}
    offsets = set()
    h = load(export.root)[0].hierarchy
    for patient in h.at_level("patient"):
        dates = sorted(dt.date.fromisoformat(s.attribute("date")) for s in h.children(patient.id) if s.level == "study")
        original = by_interval[(dates[1] - dates[0]).days]  # the interval survives the shift
        offsets.add((day(original.studies[0][0]) - dates[0]).days)
    assert len(offsets) == len(PATIENTS) and all(365 <= o <= 3650 for o in offsets)


def test_fixture_builds_validates_loads_and_leaks_nothing(export: Export, tmp_path: Path):
    from datasets import load_dataset

    result = build(dicom_config(export.root), tmp_path / "out")
    manifest = result.manifest
    assert manifest.hierarchy.levels == ("institution", "patient", "study", "series", "section")
    assert manifest.images.by_origin["dicom"] == 10
    assert "keyed by $MEDFORGET_DEID_KEY" in manifest.sources[0].description
    for config in ("patient", "study", "series", "section"):
        loaded = load_dataset(str(result.out), config, cache_dir=str(tmp_path / f"hf-{config}"))
        assert set(loaded) >= {"forget", "retain_sibling", "retain_other", "shared_ancestor", "holdout"}
        assert all(loaded[split].num_rows > 0 for split in loaded)
    assert leaks(result.out, export.identifiers, min_length=3) == {}
    assert KEY not in "".join(p.read_text(errors="ignore") for p in result.out.glob("*.json"))


def test_processes_and_shards_give_the_same_dataset(export: Export, tmp_path: Path):
    from medforget.build.parts import build_part, merge_parts
    from medforget.workers import ShardSpec
    from tests.build.test_parts import contents

    config = dicom_config(export.root)
    one = build(config, tmp_path / "one" / "medforget").out
    parts = [tmp_path / f"part-{i}" for i in range(2)]
    for i, part in enumerate(parts):  # pixels decoded in two worker processes, in each part
        build_part(config, part, ShardSpec(i, 2), num_proc=2)
    merged = merge_parts(parts, tmp_path / "merged" / "medforget", num_proc=2).out
    assert contents(merged) == contents(one)


def test_the_fingerprint_follows_the_files_and_names_none(export: Export, tmp_path: Path):
    root = tmp_path / "copy"
    shutil.copytree(export.root, root)
    builder = BUILDERS.get("dicom")(dicom_config(root), SkipLog())
    before = builder.fingerprint()
    (root / "extra.dcm").write_bytes(b"not yet read")
    assert builder.fingerprint() != before and len(before) == 64  # a hash, never a path


def test_dicomdir_file_set_gives_the_same_hierarchy(export: Export, tmp_path: Path):
    fileset = write_fileset(tmp_path / "fileset")
    assert (fileset.root / "DICOMDIR").is_file()
    plain = load(export.root)[0].hierarchy
    indexed, skips = load(fileset.root)
    assert sorted(indexed.hierarchy.nodes) == sorted(plain.nodes)  # ids come from pseudonyms of the UIDs
    assert "not a DICOM file" not in skips.reasons  # only what the index references is read


def test_dicomdir_reference_to_a_missing_file_is_counted(tmp_path: Path):
    fileset = write_fileset(tmp_path / "fileset")
    fileset.files[0].unlink()
    _, skips = load(fileset.root)
    assert skips.reasons["DICOMDIR references a missing file"] == 1


def test_a_new_key_changes_every_pseudonym_and_id(export: Export, monkeypatch: pytest.MonkeyPatch):
    first = load(export.root)[0].hierarchy
    monkeypatch.setenv(KEY_ENV, "another-key-0123456789abcdef")
    second = load(export.root)[0].hierarchy
    assert not set(first.nodes) & set(second.nodes)
    assert {n.attribute("name") for n in first.at_level("patient")}.isdisjoint(
        n.attribute("name") for n in second.at_level("patient")
    )


# levels and targets --------------------------------------------------------------------------------


def test_series_level_needs_a_target_count(export: Export, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        data, _ = load(export.root, targets_per_level={"patient": 1, "study": 1, "section": 1})
    assert data.hierarchy.levels == ("institution", "patient", "study", "section")
    assert "add series: N to targets_per_level" in caplog.text


def test_too_many_targets_name_the_level_and_the_fix(export: Export):
    with pytest.raises(SourceError, match=r"5 patient nodes with a sibling .* asks for 9 patient targets.*lower"):
        load(export.root, targets_per_level={"patient": 9, "study": 1, "series": 1, "section": 1})
    with pytest.raises(SourceError, match="allows 3 held-out patients"):
        load(export.root, n_holdout_patients=4)


def test_missing_root_and_empty_root_are_typed_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="--root DIR"):
        BUILDERS.get("dicom")(dataclasses.replace(dicom_config(tmp_path), source_options={}), SkipLog()).load()
    with pytest.raises(SourceError, match="does not exist"):
        load(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(SourceError, match="no usable study"):
        load(tmp_path)


# bad input -----------------------------------------------------------------------------------------


def _broken(kind: str, root: Path) -> tuple[Path, str]:
    """One broken file of ``kind`` written into ``root``, and the reason it is skipped for."""
    patient = PATIENTS[0]
    path = root / "broken" / f"{kind}.dcm"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = image_dataset(patient, 0, 5, 0, seed=99)
    if kind == "not-dicom":
        path.write_bytes(b"%PDF-1.4 not an image")
        return path, "not a DICOM file"
    if kind == "truncated-header":  # pydicom reads what is there: a header cut short holds no identifier
        ds.save_as(path, enforce_file_format=True)
        path.write_bytes(path.read_bytes()[:200])
        return path, "missing every identifier (a truncated or corrupt header)"
    if kind in ("broken-pixels", "truncated-pixels"):
        ds = image_dataset(PATIENTS[0], 0, 0, 0, seed=5)
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.999.1"  # a study of its own, so it must be decoded
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.999.3"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.999.2"
        if kind == "broken-pixels":
            ds.PixelData = ds.PixelData[:100]
        ds.save_as(path, enforce_file_format=True)
        if kind == "truncated-pixels":  # an interrupted transfer
            path.write_bytes(path.read_bytes()[:-1000])
        return path, "pixel data cannot be decoded"
    if kind == "no-patient-id":
        del ds.PatientID
        reason = "missing PatientID"
    elif kind == "no-study-uid":
        del ds.StudyInstanceUID
        reason = "missing StudyInstanceUID"
    elif kind == "duplicate-sop":
        ds = image_dataset(patient, 0, 0, 0, seed=1)  # the same SOPInstanceUID as the export's first image
        path = root / "zz-copy" / "IM1.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        reason = "duplicate SOPInstanceUID"
    elif kind == "burned-in":
        ds.BurnedInAnnotation = "YES"
        reason = "burned-in annotation (BurnedInAnnotation YES)"
    ds.save_as(path, enforce_file_format=True)
    return path, reason


KINDS = (
    "not-dicom",
    "truncated-header",
    "no-patient-id",
    "no-study-uid",
    "duplicate-sop",
    "burned-in",
    "broken-pixels",
    "truncated-pixels",
)


@pytest.mark.parametrize("kind", KINDS)
def test_a_broken_file_is_counted_under_skip_and_refused_under_raise(kind: str, export: Export, tmp_path: Path):
    import shutil

    root = tmp_path / "export"
    shutil.copytree(export.root, root)
    (root / "README.txt").unlink()
    path, reason = _broken(kind, root)
    data, skips = load(root)
    assert [n for r, n in skips.reasons.items() if r.startswith(reason)] == [1]
    example = next(r.examples for r in skips.entries() if r.reason.startswith(reason))
    assert example[0].startswith("file-") and "Kent" not in example[0]  # no folder name reaches the manifest
    assert len(data.hierarchy.at_level("study")) == 10
    with pytest.raises(SourceError, match=str(path.name)):
        load(root, policy="raise")


def test_near_duplicate_study_images_keep_the_first(export: Export, tmp_path: Path):
    import shutil

    from pydicom import dcmread

    root = tmp_path / "export"
    shutil.copytree(export.root, root)
    pixels = dcmread(root / "Kent^Clark_MRN-778812" / "20190312_A10045" / "SE1" / "IM2.dcm").PixelData
    for instance in root.glob("Wayne^Bruce_SHV-000452/20170223_B01020/SE*/IM*.dcm"):
        copy = dcmread(instance)
        copy.PixelData = pixels  # another patient's study showing the very same picture
        copy.save_as(instance)
    data, skips = load(root)
    assert skips.reasons["image near-duplicate of an earlier study's image"] == 5  # its 4 images and its report
    assert len(data.hierarchy.at_level("study")) == 9


# pixels --------------------------------------------------------------------------------------------


def _grey(values: np.ndarray, photometric: str = "MONOCHROME2", **tags: object) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation, ds.BitsStored, ds.BitsAllocated, ds.PixelRepresentation = photometric, 12, 16, 0
    ds.SamplesPerPixel, ds.Rows, ds.Columns = 1, values.shape[0], values.shape[1]
    for name, value in tags.items():
        setattr(ds, name, value)
    return ds


def test_voi_window_maps_the_window_onto_0_255():
    values = np.array([[0, 50, 100, 150, 200, 4000]], dtype=np.uint16)
    out = windowed(values, _grey(values, WindowCenter=100, WindowWidth=100))
    assert out[0, 0] == 0 and out[0, 1] == 0  # below the window: black
    assert out[0, 4] == 255 and out[0, 5] == 255  # above: white
    assert abs(int(out[0, 2]) - 128) <= 2  # the centre: mid grey


def test_rescale_comes_before_the_window():
    stored = np.array([[0, 1024, 1064, 1224, 3000]], dtype=np.uint16)  # HU -1024, 0, 40, 200, 1976
    ds = _grey(stored, RescaleIntercept=-1024, RescaleSlope=1, WindowCenter=40, WindowWidth=400)
    out = windowed(stored, ds)
    assert out[0, 0] == 0 and out[0, 4] == 255
    assert abs(int(out[0, 2]) - 128) <= 2  # HU 40 is the window centre
    assert 0 < out[0, 1] < out[0, 2] < out[0, 3] < 255


def test_without_a_window_the_full_range_is_used():
    values = np.array([[100, 200, 300]], dtype=np.uint16)
    assert windowed(values, _grey(values)).tolist() == [[0, 128, 255]]


def test_voi_lut_sequence_is_applied():
    values = np.array([[0, 1, 2, 3]], dtype=np.uint16)
    lut = Dataset()
    lut.LUTDescriptor, lut.LUTData = [4, 0, 8], [255, 0, 255, 0]  # an inverting, zig-zag LUT
    out = windowed(values, _grey(values, VOILUTSequence=[lut]))
    assert out.tolist() == [[255, 0, 255, 0]]


def test_monochrome1_is_inverted():
    values = blocks(3)
    two = np.asarray(to_picture(values, _grey(values)))
    one = np.asarray(to_picture(values, _grey(values, "MONOCHROME1")))
    assert (one.astype(int) == 255 - two.astype(int)).all()
    assert two.min() == 0 and one.max() == 255


def test_colour_stays_colour_until_the_image_step():
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    ds = Dataset()
    ds.PhotometricInterpretation, ds.SamplesPerPixel, ds.BitsStored = "RGB", 3, 8
    picture = to_picture(rgb, ds)
    assert picture.mode == "RGB" and picture.getpixel((0, 0)) == (200, 0, 0)


def test_multi_frame_instance_gives_its_middle_frame(tmp_path: Path):
    frames = np.zeros((3, 16, 16), dtype=np.uint16)
    for n in range(3):
        frames[n, :, n * 5 : (n + 1) * 5] = 4000  # a bright band, moving right frame by frame
    ds = image_dataset(PATIENTS[0], 0, 0, 0, modality="MR")
    ds.set_pixel_data(frames, "MONOCHROME2", 12, generate_instance_uid=False)
    path = tmp_path / "cine.dcm"
    ds.save_as(path, enforce_file_format=True)
    picture = np.asarray(DicomPixels(path).open())
    assert picture[:, 5:10].min() == 255 and picture[:, :5].max() == 0  # frame 1 of 0-2


def test_dicom_pixels_are_an_image_source_the_image_step_fits(tmp_path: Path, export: Export):
    pixels = DicomPixels(export.files[0])
    assert isinstance(pixels, ImageSource)
    image = load_real("stu-x", pixels, 64, "dicom")
    assert (image.width, image.height, image.origin) == (64, 64, "dicom")
    import pickle

    assert pickle.loads(pickle.dumps(pixels)) == pixels
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"garbage")
    with pytest.raises(SourceError, match="broken.dcm"):
        DicomPixels(broken).open()
