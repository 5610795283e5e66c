"""The build end to end: output layout, determinism, load_dataset round trip, atomic output."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from medforget.build.pipeline import Prepared, build, export, prepare
from medforget.config import BuildConfig
from medforget.errors import BuildError
from medforget.outputs import OutputError, sha256_file

REQUIRED_COLUMNS = [
    "id",
    "image",
    "question",
    "answer",
    "options",
    "task",
    "modality",
    "level",
    "node_id",
    "institution_id",
    "patient_id",
    "study_id",
    "section",
    "rephrased_of",
    "provenance",
]


def test_layout_manifest_and_card(tiny_build: Path):
    manifest = json.loads((tiny_build / "manifest.json").read_text())
    assert {p.name for p in tiny_build.iterdir()} == {
        "README.md",
        "croissant.json",
        "manifest.json",
        "validation.html",
        "validation.json",
        ".medforget-written.json",
        "institution",
        "patient",
        "study",
        "section",
        "train",
        "utility",
    }
    for shard in manifest["shards"]:
        path = tiny_build / shard["path"]
        assert path.name.startswith(f"{shard['split']}-00000-of-")
        assert sha256_file(path) == shard["sha256"] and path.stat().st_size == shard["bytes"]
    assert set(manifest["steps"]) >= {"ingest", "images", "qa", "splits", "export", "templates"}
    assert manifest["sources"][0]["licence"]["spdx"] == "CC-BY-NC-ND-4.0"
    card = (tiny_build / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert [c["config_name"] for c in front["configs"]] == list(manifest["counts"])
    assert "fictitious" in card and "CC-BY-NC-ND-4.0" in card and "rendered" in card


def test_load_dataset_round_trip_with_fresh_cache(tiny_build: Path, tmp_path: Path, monkeypatch):
    from datasets import load_dataset
    from PIL import Image

    manifest = json.loads((tiny_build / "manifest.json").read_text())
    monkeypatch.chdir(tiny_build.parent)  # load_dataset("medforget", ...) from the folder's parent
    for config, splits in manifest["counts"].items():
        ds = load_dataset("medforget", config, cache_dir=str(tmp_path / "cache"))
        assert {name: len(ds[name]) for name in ds} == {name: c["rows"] for name, c in splits.items()}
        first = ds[next(iter(ds))]
        assert all(column in first.column_names for column in REQUIRED_COLUMNS)
    rows = load_dataset("medforget", "patient", cache_dir=str(tmp_path / "cache"))["forget"]
    with_image = next(r for r in rows if r["modality"] == "image")
    assert isinstance(with_image["image"], Image.Image) and with_image["image"].size == (256, 256)
    text_only = next(r for r in rows if r["modality"] == "text")
    assert text_only["image"] is None
    cls = next(r for r in rows if r["task"] == "classification")
    assert len(cls["options"]) == 4 and cls["answer"] in "ABCD"


def test_row_columns_are_consistent(tiny: Prepared):
    for item in tiny.items:
        assert (item.image_id is None) == (item.modality == "text")
        assert (item.task == "classification") == bool(item.options)
        if item.task == "cloze":
            assert item.question.count("[blank]") == 1
        if item.level is not None:
            assert item.level == tiny.hierarchy.nodes[item.node_id].level
        assert item.provenance.template_id and item.provenance.template_version


def test_questions_never_contain_their_answer(tiny: Prepared):
    either_or = {"type", "sex"}  # "teaching or community hospital?" names both on purpose
    for item in tiny.items:
        if item.task == "generation" and item.level is not None and item.attribute not in either_or:
            assert item.answer not in item.question, item


def test_build_is_deterministic(tiny_config: BuildConfig, tiny_build: Path, tmp_path: Path):
    again = build(tiny_config, tmp_path / "again")
    first = json.loads((tiny_build / "manifest.json").read_text())
    assert [s.sha256 for s in again.manifest.shards] == [s["sha256"] for s in first["shards"]]
    assert (tmp_path / "again" / "manifest.json").read_bytes() == (tiny_build / "manifest.json").read_bytes()


def test_another_seed_gives_another_dataset(tiny: Prepared, tiny_config: BuildConfig):

    other = prepare(dataclasses.replace(tiny_config, seed=1))
    assert other.plan.targets != tiny.plan.targets
    assert {n.attribute("name") for n in other.hierarchy.at_level("patient")} != {
        n.attribute("name") for n in tiny.hierarchy.at_level("patient")
    }


def test_study_images_differ_at_64px(tiny: Prepared):
    from PIL import Image

    from medforget.images.make import decode

    studies = {n.id for n in tiny.hierarchy.at_level("study")}
    small = np.stack(
        [
            np.asarray(decode(i).resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float32)
            for i in tiny.images
            if i.owner_id in studies
        ]
    )
    diff = np.abs(small[:, None] - small[None, :]).mean(axis=(2, 3))
    np.fill_diagonal(diff, np.inf)
    assert diff.min() > 3.0
    assert len({i.sha256 for i in tiny.images}) == len(tiny.images)


def test_failed_export_leaves_previous_build_untouched(tiny: Prepared, tmp_path: Path, monkeypatch):
    out = tmp_path / "medforget"
    export(tiny, out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    from medforget.build import pipeline

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "dataset_card", explode)
    with pytest.raises(OutputError, match="disk full.*nothing was changed there"):
        export(tiny, out)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["medforget"]  # no temporary folder left


def test_failed_first_build_leaves_nothing(tiny: Prepared, tmp_path: Path, monkeypatch):
    from medforget.build import pipeline

    monkeypatch.setattr(pipeline, "write_json", lambda *a: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OutputError, match="boom"):
        export(tiny, tmp_path / "medforget")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_a_foreign_folder(tiny_config: BuildConfig, tmp_path: Path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BuildError, match="not written by this MedForget"):
        build(tiny_config, tmp_path)
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_an_empty_split_is_refused_before_anything_is_written(tiny: Prepared):

    from medforget.build.pipeline import _check_no_empty_split

    without = tuple(a for a in tiny.assignments if not (a.config == "study" and a.split == "shared_ancestor"))
    with pytest.raises(BuildError, match="study/shared_ancestor"):
        _check_no_empty_split(dataclasses.replace(tiny, assignments=without))


def test_a_leaking_build_fails_and_publishes_nothing(tiny_config: BuildConfig, tmp_path: Path, monkeypatch):

    from medforget.build import pipeline
    from medforget.schemas.validate import LeakError

    original = pipeline.assign_splits

    def leaky(*args):
        assignments = list(original(*args))
        first = next(i for i, a in enumerate(assignments) if (a.config, a.split) == ("patient", "forget"))
        assignments[first] = dataclasses.replace(assignments[first], split="retain_other")
        return tuple(assignments)

    monkeypatch.setattr(pipeline, "assign_splits", leaky)
    with pytest.raises(LeakError, match=r"FAIL subtree_closure(.|\n)*patient/retain_other"):
        build(tiny_config, tmp_path / "medforget")
    assert list(tmp_path.iterdir()) == []


def test_a_seed_whose_utility_distractors_were_forget_values_builds(tiny_config: BuildConfig, tmp_path: Path):
    """Tiny at seed 2 drew utility distractors and probes that only forget nodes have, and its
    own leak check refused it; they are now drawn by the check's rule."""
    export(prepare(dataclasses.replace(tiny_config, seed=2)), tmp_path / "medforget")  # raises LeakError if it leaks


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiny", "default"])
def test_every_preset_builds_at_seeds_0_to_9(name: str, tmp_path: Path):
    from medforget.config import preset

    for seed in range(10):
        export(prepare(dataclasses.replace(preset(name), seed=seed)), tmp_path / f"{name}-{seed}")
