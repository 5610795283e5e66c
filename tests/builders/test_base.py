"""The builder template: a source reads its own files and says what each patient and study
holds; the base makes the sites, the nodes, the image plans and the levels, checks that the
targets can be filled, and parses the source's own options."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from medforget.builders.base import (
    Builder,
    Licence,
    PatientRecord,
    Patients,
    SkipLog,
    SourceOptions,
    StudyRecord,
)
from medforget.cli import main
from medforget.config import BuildConfig, preset
from medforget.errors import ConfigError, SourceError
from medforget.hierarchy import Attribute


@dataclasses.dataclass(frozen=True)
class FolderOptions(SourceOptions):
    root: Path | None = None
    sites: bool = False


class FolderSource(Builder[Path]):
    """A folder source in full: ``ROOT/<patient>/<study>.txt``, one fact sentence a study."""

    name = "folder"
    version = "0.1.0"
    description = "patients as folders, studies as text files"
    licence = Licence("CC0-1.0", "", "anything", public_derivatives=True)
    citation = ""
    Options = FolderOptions
    options: FolderOptions

    def read(self) -> Patients[Path]:
        if self.options.root is None:
            raise SourceError("the folder source needs --root DIR")
        return Patients(sorted(p for p in self.options.root.iterdir() if p.is_dir()))

    def patient_key(self, patient: Path) -> str:
        return patient.name

    def site(self, patient: Path) -> str | None:
        return patient.name[0] if self.options.sites else None  # "a1", "a2" share site "a"

    def institution(self, site: str, patients: Sequence[Path]) -> tuple[Attribute, ...]:
        return (Attribute("name", f"site {site}", "name"),)

    def patient(self, patient: Path) -> PatientRecord:
        studies = tuple(
            StudyRecord(
                f"{patient.name}/{path.stem}",
                (Attribute("date", path.stem, "date"),),
                sections=(("FINDINGS", path.read_text().strip()), ("IMPRESSION", "No acute disease.")),
                findings=("opacity",),
            )
            for path in sorted(patient.glob("*.txt"))
        )
        return PatientRecord(patient.name, (Attribute("name", f"patient {patient.name}", "name"),), studies)


def folder(tmp_path: Path, patients: Sequence[str] = ("a1", "a2", "b1", "b2", "c1", "c2", "d1", "d2")) -> Path:
    for patient in patients:
        for n, date in enumerate(("2020-01-01", "2021-02-03")):
            (tmp_path / patient).mkdir(parents=True, exist_ok=True)
            (tmp_path / patient / f"{date}.txt").write_text(f"The heart of {patient} is normal in size {n}.\n")
    return tmp_path


def config(root: Path, **options: object) -> BuildConfig:
    return dataclasses.replace(
        preset("tiny"),
        n_institutions=4,
        n_patients=6,
        n_holdout_patients=2,
        targets_per_level={"institution": 1, "patient": 1, "study": 1, "section": 1},
        source_options={"root": root, **options},
    )


def test_the_base_deals_synthetic_sites_and_makes_nodes_and_image_plans(tmp_path: Path):
    data = FolderSource(config(folder(tmp_path)), SkipLog()).load()
    tree = data.hierarchy
    assert tree.levels == ("network", "institution", "patient", "study", "section")
    assert [len(tree.at_level(level)) for level in tree.levels] == [2, 4, 8, 16, 32]
    study = tree.at_level("study")[0]
    sections = {n.attribute("section"): n.source_key for n in tree.children(study.id)}
    assert sections == {"findings": f"{study.source_key}/FINDINGS", "impression": f"{study.source_key}/IMPRESSION"}
    assert sorted(plan.study_id for plan in data.images) == sorted(s.id for s in tree.at_level("study"))
    assert {plan.anatomy_key for plan in data.images} == {p.id for p in tree.at_level("patient")}
    again = FolderSource(config(folder(tmp_path)), SkipLog()).load()
    assert again.hierarchy.nodes == tree.nodes  # same seed, same tree


def test_real_sites_come_from_the_source_with_no_network_level(tmp_path: Path):
    tree = FolderSource(config(folder(tmp_path), sites=True), SkipLog()).load().hierarchy
    assert tree.levels == ("institution", "patient", "study", "section")
    assert sorted(n.attribute("name") for n in tree.at_level("institution")) == ["site a", "site b", "site c", "site d"]


def test_an_optional_level_without_a_target_count_is_left_out(tmp_path: Path, caplog):
    base = config(folder(tmp_path))
    counts = {k: v for k, v in base.targets_per_level.items() if k != "section"}
    tree = FolderSource(dataclasses.replace(base, targets_per_level=counts), SkipLog()).load().hierarchy
    assert "section" not in tree.levels and not tree.at_level("section")
    assert "add section: N to targets_per_level" in caplog.text


def test_targets_the_data_cannot_fill_say_what_to_lower(tmp_path: Path):
    base = config(folder(tmp_path))
    too_many = dataclasses.replace(base, targets_per_level={**base.targets_per_level, "study": 20})
    with pytest.raises(SourceError, match=r"lower targets_per_level\['study'\] to at most 15"):
        FolderSource(too_many, SkipLog()).load()


def test_source_options_are_typed_and_an_unknown_one_is_refused_by_name(tmp_path: Path):
    with pytest.raises(ConfigError, match="has no option 'rot'; did you mean 'root'"):
        FolderSource(dataclasses.replace(config(tmp_path), source_options={"rot": tmp_path}), SkipLog())
    with pytest.raises(ConfigError, match=r"source_options\.sites must be true or false"):
        FolderSource(config(tmp_path, sites="yes"), SkipLog())
    assert FolderSource(config(str(tmp_path)), SkipLog()).options.root == tmp_path  # a path from YAML text


def test_the_old_top_level_keys_say_where_they_went():
    with pytest.raises(ConfigError, match=r"source option now: write it under source_options: \(root: \.\.\.\)"):
        BuildConfig.from_mapping({"preset": "tiny", "source_root": "/data"})


def test_cli_flags_reach_the_source_options_and_ls_lists_them(tmp_path: Path, capsys):
    out = tmp_path / "out"
    code = main(["build", "--preset", "tiny", "--source", "mimic-cxr", "--option", "reports_rot=x", "--out", str(out)])
    assert code == 2 and "has no option 'reports_rot'; did you mean 'reports_root'" in capsys.readouterr().err
    assert not out.exists()
    assert main(["build", "--preset", "tiny", "--source", "mimic-cxr", "--images", str(tmp_path)]) == 2
    assert "mimic-cxr source has no option 'images_dir'" in capsys.readouterr().err
    assert main(["ls", "sources"]) == 0
    listing = capsys.readouterr().out
    assert "options: root, reports_root" in listing and "options: reports_archive, images_dir" in listing


def test_the_manifest_records_source_options_reduced(small_config: BuildConfig):
    record = small_config.with_options(images_dir=Path("/data/png")).to_record()
    assert (
        json.dumps(record["source_options"])
        == '{"images_dir": "<user supplied>", "reports_archive": "<user supplied>"}'
    )
