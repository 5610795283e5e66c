import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from medforget.build.paper_layout import PAPER_FILES, RECORD_NAME, export_paper_layout
from medforget.build.pipeline import Prepared
from medforget.cli import main
from medforget.dataset import DatasetError
from medforget.errors import BuildError, SourceError

COLUMNS = ["image", "image_path", "metadata", "hierarchy_metadata", "ID"]
LEVELS = ("institution", "patient", "study", "section")


@pytest.fixture(scope="module")
def paper(tiny_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("paper") / "medforget-paper"
    assert main(["export", "--format", "medforget-paper", "--dataset", str(tiny_build), "--out", str(out)]) == 0
    return out


def test_every_level_has_the_paper_files_with_the_five_columns(paper: Path):
    assert sorted(p.name for p in paper.iterdir()) == sorted(
        [*(f"{lv}_level" for lv in LEVELS), RECORD_NAME, ".medforget-written.json"]
    )
    for level in LEVELS:
        for name in PAPER_FILES:
            frame = pd.read_parquet(paper / f"{level}_level" / f"{name}.parquet")
            assert list(frame.columns) == COLUMNS
            assert len(frame) > 0, (level, name)
            assert frame["ID"].is_unique


def test_rows_hold_a_decodable_image_and_their_node_questions(paper: Path, tiny: Prepared):
    frame = pd.read_parquet(paper / "study_level" / "forget_set_all.parquet")
    by_id = {item.id: item for item in tiny.items}
    for _, row in frame.iterrows():
        assert Image.open(io.BytesIO(row["image"]["bytes"])).size == (tiny.config.image_size,) * 2
        meta = json.loads(row["hierarchy_metadata"])
        assert set(meta) >= {"institution_id", "patient_id", "study_id", "section_name", "hierarchy_level"}
        assert row["image_path"].startswith(f"{meta['institution_id']}/{meta['patient_id']}/{meta['study_id']}/")
        qas = json.loads(row["metadata"])
        assert qas and all(set(qa) >= {"Question", "Answer"} for qa in qas)
        items = [by_id[qa["ID"]] for qa in qas]
        assert {i.node_id for i in items} == {meta["node_id"]} and {i.modality for i in items} == {"image"}
        assert {i.level for i in items} == {meta["hierarchy_level"]}
        assert [qa["Answer"] for qa in qas] == [i.answer for i in items]
        assert (meta["section_name"] != "") == (meta["hierarchy_level"] == "section")


def test_forget_and_retain_hold_exactly_the_image_rows_of_their_splits(paper: Path, tiny: Prepared):
    configs, by_id = tiny.configs, {item.id: item for item in tiny.items}
    for level in LEVELS:
        for name, splits in PAPER_FILES.items():
            frame = pd.read_parquet(paper / f"{level}_level" / f"{name}.parquet")
            exported = {qa["ID"] for m in frame["metadata"] for qa in json.loads(m)}
            expected = {
                i
                for s in splits
                for i in configs[level][s]
                if by_id[i].modality == "image" and by_id[i].level in LEVELS
            }
            assert exported == expected, (level, name)
    forget = pd.read_parquet(paper / "patient_level" / "forget_set_all.parquet")
    targets = set(tiny.plan.targets["patient"])
    assert {json.loads(m)["patient_id"] for m in forget["hierarchy_metadata"]} == targets


def test_record_counts_what_was_left_out(paper: Path):
    record = json.loads((paper / RECORD_NAME).read_text())
    left = record["levels"]["institution"]["left_out"]
    assert left["text-only rows"] > 0 and left["network-level rows"] > 0 and left["holdout rows (never trained on)"] > 0
    assert record["format"] == "medforget-paper"


def test_a_tampered_shard_or_foreign_destination_is_refused(tiny_build: Path, tmp_path: Path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_build, copy)
    shard = next((copy / "study").glob("forget-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(SourceError, match="differs from its manifest sha256"):
        export_paper_layout(copy, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(BuildError, match="not written by this MedForget"):
        export_paper_layout(tiny_build, foreign)
    with pytest.raises(DatasetError, match="manifest.json is missing"):
        export_paper_layout(tmp_path / "nothing", tmp_path / "out")
