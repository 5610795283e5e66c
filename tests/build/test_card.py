"""Card lint: the generated cards parse, load with huggingface_hub, agree with their records
number for number, carry every licence, and hold no placeholder."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from medforget.build.card import dataset_card, hub_licence, model_card, size_category
from medforget.dataset import DatasetError, Licence, Manifest, read_manifest
from medforget.records import to_json

#: task ids the Hub accepts for ``task_categories`` that a MedForget card may use
HUB_TASKS = {"visual-question-answering", "question-answering", "multiple-choice", "image-text-to-text"}
PLACEHOLDERS = ("{{", "}}", "{%", "%}", "TODO", "TBD", "FIXME", "More Information Needed", "lorem", "Undefined")
# a number standing alone: not part of a word, an id, a version ("1.0.0") or a link
NUMBER = re.compile(r"(?<![\w.\-/])(\d{1,3}(?:,\d{3})+|\d+)(?![\w\-/]|\.\d)")


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}", node.start_mark)
        return super().construct_mapping(node, deep)


def split_card(card: str) -> tuple[dict[str, Any], str]:
    match = re.fullmatch(r"---\n(.*?)\n---\n(.*)", card, re.DOTALL)
    assert match, "the card must open with a YAML block between --- lines"
    return yaml.load(match.group(1), Loader=_UniqueKeyLoader), match.group(2)


def numbers(value: Any) -> set[int]:
    """Every integer a record holds, and the size of each of its lists and mappings."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, dict):
        return {len(value)}.union(*(numbers(v) for v in value.values()))
    if isinstance(value, list):
        return {len(value)}.union(*(numbers(v) for v in value))
    return set()


def table(body: str, heading: str) -> list[list[str]]:
    """The rows of the first table under ``heading``, as cells."""
    section = body.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def count(cell: str) -> int:
    return int(cell.replace(",", ""))


@pytest.fixture(scope="module")
def records(tiny_build: Path) -> tuple[Manifest, dict[str, Any], str]:
    manifest = read_manifest(tiny_build)
    validation = json.loads((tiny_build / "validation.json").read_text())
    return manifest, validation, (tiny_build / "README.md").read_text()


def test_the_built_card_is_the_generated_card(records):
    manifest, validation, card = records
    assert card == dataset_card(manifest, validation)


def test_front_matter_parses_without_duplicate_keys(records):
    front, _ = split_card(records[2])
    assert {
        "license",
        "task_categories",
        "language",
        "size_categories",
        "pretty_name",
        "tags",
        "configs",
        "dataset_info",
    } <= set(front)
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate"):
        yaml.load("a: 1\na: 2\n", Loader=_UniqueKeyLoader)


def test_huggingface_hub_loads_the_card_and_its_data_validates(records, tiny_build: Path):
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    from medforget.dataset import features

    manifest = to_json(records[0])  # the manifest as JSON: what the Hub's card data is compared with
    card = DatasetCard.load(tiny_build / "README.md")
    assert card.data.license == "cc-by-nc-nd-4.0" and card.data.language == ["en"]
    assert card.data.pretty_name == manifest["name"] and set(card.data.task_categories) <= HUB_TASKS
    assert card.data.size_categories == [size_category(manifest["total_qa_rows"])]
    configs = MetadataConfigs.from_dataset_card_data(card.data)
    assert list(configs) == list(manifest["counts"])
    shards = {(s["config"], s["split"]): [s["path"]] for s in manifest["shards"]}
    for config, entry in configs.items():
        assert {f["split"]: f["path"] for f in entry["data_files"]} == {
            split: shards[config, split] for split in manifest["counts"][config]
        }
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    for config, splits in manifest["counts"].items():
        assert infos[config].features == features()
        assert {name: s.num_examples for name, s in infos[config].splits.items()} == {
            name: c["rows"] for name, c in splits.items()
        }


def test_every_number_in_the_card_equals_the_records(records):
    typed, validation, card = records
    manifest = to_json(typed)
    _, body = split_card(card)
    counts = manifest["counts"]
    assert [[r[0], r[1], *map(count, r[2:])] for r in table(body, "Configs and splits")] == [
        [
            config,
            split,
            c["rows"],
            *(c["by_task"].get(t, 0) for t in ("generation", "classification", "cloze")),
            c["by_modality"].get("image", 0),
            c["by_modality"].get("text", 0),
        ]
        for config, splits in counts.items()
        for split, c in splits.items()
    ]
    assert [[r[0], count(r[1])] for r in table(body, "The hierarchy and how it was built")] == [
        [level, manifest["hierarchy"]["nodes"][level]] for level in manifest["hierarchy"]["levels"]
    ]
    assert [r[0].strip("`") for r in table(body, "Leak checks")] == [c["name"] for c in validation["checks"]]
    summary = re.search(r"seed (\d+), ([\d,]+) distinct QA rows over ([\d,]+)\s+images", body)
    assert summary and list(map(count, summary.groups())) == [
        manifest["seed"],
        manifest["total_qa_rows"],
        manifest["images"]["count"],
    ]
    prose = body.split("## Citation")[0]
    stray = {count(n) for n in NUMBER.findall(prose)} - numbers(manifest) - numbers(validation)
    assert not stray, f"numbers in the card that no record holds: {sorted(stray)}"


def test_no_placeholder_remains(records):
    card = records[2]
    assert [p for p in PLACEHOLDERS if p.lower() in card.lower()] == []
    assert "| None |" not in card and "nan" not in re.findall(r"\w+", card)


def test_the_card_carries_every_licence_and_the_repository(records):
    manifest, validation, _ = records
    card = dataset_card(manifest, validation, repo_id="org/medforget")
    rows = table(split_card(card)[1], "Sources and licences")
    assert [(r[0].strip("`"), r[2]) for r in rows] == [
        (s.name, f"[{s.licence.spdx}]({s.licence.url})") for s in manifest.sources
    ]
    assert 'load_dataset("org/medforget", "patient")' in card and "not allowed" in card


def test_a_value_missing_from_the_records_fails_the_read_or_the_render(records, tiny_build: Path, tmp_path: Path):
    import jinja2

    manifest, validation, _ = records
    broken = copy.deepcopy(validation)
    del broken["checks"][0]["title"]
    with pytest.raises(jinja2.UndefinedError, match="title"):
        dataset_card(manifest, broken)
    data = json.loads((tiny_build / "manifest.json").read_text())
    del data["images"]["count"]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"manifest.json.images has no 'count'"):
        read_manifest(tmp_path)


def test_size_categories_and_hub_licences():
    assert [size_category(n) for n in (999, 1_000, 1_638, 193_101, 2_000_000)] == [
        "n<1K",
        "1K<n<10K",
        "1K<n<10K",
        "100K<n<1M",
        "1M<n<10M",
    ]
    cc = Licence("CC-BY-NC-ND-4.0", "https://creativecommons.org/licenses/by-nc-nd/4.0/", "", False)
    dua = Licence("PhysioNet-Credentialed-Health-Data-1.5.0", "https://physionet.org/dua", "", False)
    assert hub_licence([cc, cc]) == {"license": "cc-by-nc-nd-4.0"}
    assert hub_licence([dua]) == {"license": "other", "license_name": dua.spdx, "license_link": dua.url}


@pytest.mark.parametrize(
    "without, title", [(None, "target model"), (["patient", "forget"], "retain model (without patient/forget)")]
)
def test_model_card(records, without, title):
    from huggingface_hub import ModelCard

    from medforget.models.tiny import TinySpec
    from medforget.training.tiny_track import TrainConfig

    record = {
        "training_version": "1.2.0",
        "dataset_manifest_sha256": "ab" * 32,
        "without": without,
        "config": asdict(TrainConfig()),
        "rows": 1008,
        "steps": 2016,
        "final_loss": 0.123456,
        "seconds": 180.5,
    }
    card = model_card(record, records[0])
    front, body = split_card(card)
    assert front["license"] == "cc-by-nc-nd-4.0" and front["pipeline_tag"] == "image-text-to-text"
    assert ModelCard(card).data.library_name == "transformers"
    assert f"# MedForget tiny-track {title}" in body and "| rows trained on | 1008 |" in body
    assert f"| language model: hidden size, layers, heads | {TinySpec.text_hidden}, " in body
    assert "0.1235" in body and "ab" * 32 in body
    assert [p for p in PLACEHOLDERS if p.lower() in card.lower()] == []
