import dataclasses
import shutil
from pathlib import Path

import pytest

from medforget.build.pipeline import build
from medforget.builders import BUILDERS, SkipLog
from medforget.builders.iu_xray import IUXrayBuilder
from medforget.builders.openi import OpenIBuilder
from medforget.config import BuildConfig, preset
from medforget.errors import SourceError
from tests.builders.openi_fixtures import NO_SECTIONS, OpenITree, make_openi


def openi_config(tree: OpenITree, **overrides) -> BuildConfig:
    return dataclasses.replace(
        preset("tiny"),
        source="openi",
        source_options={"root": tree.root},
        n_utility_images=4,
        image_size=64,
        targets_per_level={"institution": 1, "patient": 1, "study": 1, "section": 1},
        **overrides,
    )


def load(config: BuildConfig, policy: str = "skip"):
    skips = SkipLog(policy)
    return BUILDERS.get("openi")(config, skips).load(), skips


@pytest.fixture
def tree(tmp_path: Path) -> OpenITree:
    return make_openi(tmp_path)


def test_registered_as_the_default_source_with_real_images():
    assert BUILDERS.get("openi") is OpenIBuilder and issubclass(OpenIBuilder, IUXrayBuilder)
    assert OpenIBuilder.licence == IUXrayBuilder.licence


def test_reports_from_the_folder_and_their_own_pngs(tree: OpenITree):
    data, skips = load(openi_config(tree))
    h = data.hierarchy
    assert len(h.at_level("patient")) == 9 and not skips.reasons
    for plan in data.images:
        study = h.nodes[plan.study_id]
        assert plan.real_image == tree.image(int(study.source_key.removeprefix("CXR")))
    sections = {s.attribute("text") for s in h.at_level("section")}
    assert any(t.startswith("Fabricated shadow") for t in sections)


def test_builds_validates_and_loads(tree: OpenITree, tmp_path: Path):
    from datasets import load_dataset

    result = build(openi_config(tree), tmp_path / "out")
    assert result.manifest.images.by_origin == {"openi": 27, "rendered": 4}
    assert result.manifest.sources[0].name == "openi"
    fingerprint = result.manifest.sources[0].archive_sha256
    assert fingerprint and fingerprint != IUXrayBuilder(preset("tiny"), SkipLog()).fingerprint()
    assert "real de-identified images" in (tmp_path / "out" / "README.md").read_text()
    patient = load_dataset(str(tmp_path / "out"), "patient", cache_dir=str(tmp_path / "cache"))
    assert patient["forget"][0]["image"].size == (64, 64)


def test_broken_files_are_counted_or_refused(tree: OpenITree):
    tree.image(3).write_bytes(tree.image(3).read_bytes()[:200])  # truncated PNG
    tree.image(4).unlink()  # no PNG at all
    tree.report(5).write_text("<eCitation><unclosed>")
    tree.report(6).write_text(NO_SECTIONS.format(n=6))
    shutil.copy(tree.report(7), tree.root / "ecgen-radiology" / "7-copy.xml")  # the same uId twice
    data, skips = load(openi_config(tree))
    assert dict(skips.reasons) == {
        "corrupt or truncated PNG": 1,
        "no readable PNG of the report in NLMCXR_png": 2,
        "unparseable report XML (ParseError)": 1,
        "report has no usable INDICATION, FINDINGS or IMPRESSION sentence": 1,
        "duplicate report id": 1,
    }
    used = {n.source_key for n in data.hierarchy.at_level("study")}
    assert not used & {"CXR3", "CXR4", "CXR5", "CXR6"}
    with pytest.raises(SourceError, match=r"NLMCXR_png/CXR3_IM-0003-1001\.png: corrupt or truncated PNG"):
        load(openi_config(tree), policy="raise")


def test_missing_folders_are_typed_errors(tree: OpenITree):
    with pytest.raises(SourceError, match="needs its folder"):
        load(dataclasses.replace(openi_config(tree), source_options={}))
    shutil.rmtree(tree.root / "NLMCXR_png")
    with pytest.raises(SourceError, match=r"NLMCXR_png is not a folder"):
        load(openi_config(tree))
    (tree.root / "NLMCXR_png").mkdir()
    shutil.rmtree(tree.root / "ecgen-radiology")
    with pytest.raises(SourceError, match=r"ecgen-radiology is not a folder"):
        load(openi_config(tree))
