"""croissant.json: every build described in Croissant 1.1 with the Responsible-AI fields,
validated by mlcroissant, its records the rows the shards hold."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from medforget.build.croissant import CROISSANT_FILE, RAI, croissant
from medforget.dataset import load_rows, read_manifest

mlc = pytest.importorskip("mlcroissant")

REQUIRED_RAI = ("personalSensitiveInformation", "dataBiases", "dataLimitations", "dataUseCases")


@pytest.fixture(scope="module")
def metadata(tiny_build: Path):
    return mlc.Dataset(jsonld=str(tiny_build / CROISSANT_FILE))


def test_it_validates_with_only_the_undated_warning(metadata):
    issues = metadata.metadata.issues
    assert not issues.errors
    assert all("datePublished" in warning for warning in issues.warnings)  # a build has no date: see croissant()


def test_it_is_croissant_1_1_with_the_rai_fields_licence_and_citation(tiny_build: Path):
    document = json.loads((tiny_build / CROISSANT_FILE).read_text())
    manifest = read_manifest(tiny_build)
    assert "http://mlcommons.org/croissant/1.1" in document["conformsTo"]
    assert all(document[f"rai:{name}"] for name in REQUIRED_RAI) and set(RAI) <= set(document)
    assert document["license"] == ["https://creativecommons.org/licenses/by-nc-nd/4.0/"]
    assert manifest.sources[0].citation in document["citeAs"]
    assert document == croissant(manifest)  # from the manifest alone: the same build, the same bytes


def test_every_shard_is_named_with_its_hash_and_every_split_is_a_record_set(tiny_build: Path):
    document = json.loads((tiny_build / CROISSANT_FILE).read_text())
    manifest = read_manifest(tiny_build)
    files = {f["@id"]: f for f in document["distribution"] if f["@type"] == "cr:FileObject"}
    assert set(files) == {shard.path for shard in manifest.shards}
    for shard in manifest.shards:
        assert files[shard.path]["sha256"] == hashlib.sha256((tiny_build / shard.path).read_bytes()).hexdigest()
    expected = {f"{config}/{split}" for config, splits in manifest.counts.items() for split in splits}
    assert {r["@id"] for r in document["recordSet"]} == expected
    fields = {f["name"]: f for f in document["recordSet"][0]["field"]}
    assert fields["image"]["dataType"] == "sc:ImageObject" and fields["options"]["isArray"] is True
    assert {f["name"] for f in fields["provenance"]["subField"]} >= {"generator", "template_id", "temperature"}


@pytest.mark.parametrize("record_set", ["patient/forget", "utility/test"])
def test_mlcroissant_reads_the_rows_the_shards_hold(metadata, tiny_build: Path, record_set: str):
    config, split = record_set.split("/")
    rows = load_rows(tiny_build, config, split)
    records = list(metadata.records(record_set=record_set))
    assert [r[f"{record_set}/id"].decode() for r in records] == [r["id"] for r in rows]
    first, row = records[0], rows[0]
    assert first[f"{record_set}/answer"].decode() == row["answer"]
    assert [o.decode() for o in first[f"{record_set}/options"]] == row["options"]
    image = first[f"{record_set}/image"]
    assert (image is None) == (row["image"] is None)
    if image is not None:
        assert image.tobytes() == row["image"].tobytes()
