"""Typed JSON records: what one step writes another reads back with every field's type checked,
the first wrong one named by its path; a build's manifest round-trips through its record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from medforget.dataset import MANIFEST_SCHEMA_VERSION, DatasetError, Manifest, read_manifest
from medforget.errors import MedForgetError
from medforget.records import from_json, optional, to_json


class RecordError(MedForgetError):
    pass


@dataclass(frozen=True)
class Inner:
    name: str
    weight: float


@dataclass(frozen=True)
class Outer:
    count: int
    inners: tuple[Inner, ...]
    by_key: Mapping[str, int]
    note: str | None
    passthrough: Any
    flag: bool = False
    side: Literal["left", "right"] = "left"
    rarely: int | None = optional()


GOOD = {
    "count": 2,
    "inners": [{"name": "a", "weight": 1}, {"name": "b", "weight": 0.5}],
    "by_key": {"x": 1},
    "note": None,
    "passthrough": {"anything": [1, "two"]},
}


def test_a_record_reads_back_what_it_wrote():
    record = from_json(Outer, GOOD, "file.json", RecordError)
    assert record.inners[0] == Inner("a", 1.0) and isinstance(record.inners[0].weight, float)
    assert record.flag is False  # a default fills an absent key
    assert to_json(record) == {
        **GOOD,
        "inners": [{"name": "a", "weight": 1.0}, {"name": "b", "weight": 0.5}],
        "flag": False,
        "side": "left",
    }  # ``rarely`` holds its default: left out
    assert to_json(from_json(Outer, {**GOOD, "rarely": 3}, "file.json", RecordError))["rarely"] == 3
    assert from_json(Outer, {**GOOD, "added_later": 1}, "file.json", RecordError) == record  # unknown keys ignored


@pytest.mark.parametrize(
    "change, message",
    [
        ({"count": "2"}, r"file.json.count must be an integer, found str '2'"),
        ({"count": True}, r"file.json.count must be an integer, found bool"),
        ({"inners": {"name": "a"}}, r"file.json.inners must be a list"),
        (
            {"inners": [{"name": "a", "weight": 1}, {"name": 3, "weight": 1}]},
            r"file.json.inners\[1\].name must be a string",
        ),
        ({"inners": [{"name": "a"}]}, r"file.json.inners\[0\] has no 'weight'"),
        ({"by_key": {"x": 1.5}}, r"file.json.by_key.x must be an integer"),
        ({"note": 3}, r"file.json.note must be a string"),
        ({"flag": "yes"}, r"file.json.flag must be true or false"),
        ({"side": "up"}, r"file.json.side must be one of 'left', 'right', found str 'up'"),
    ],
)
def test_the_first_wrong_field_is_named_by_its_path(change: dict, message: str):
    with pytest.raises(RecordError, match=message):
        from_json(Outer, {**GOOD, **change}, "file.json", RecordError)
    with pytest.raises(RecordError, match="has no 'count'"):
        from_json(Outer, {k: v for k, v in GOOD.items() if k != "count"}, "file.json", RecordError)
    with pytest.raises(RecordError, match="must be a JSON object, found list"):
        from_json(Outer, [GOOD], "file.json", RecordError)


def test_a_build_manifest_round_trips_through_its_record(tiny_build: Path):
    manifest = read_manifest(tiny_build)
    assert isinstance(manifest, Manifest) and manifest.schema_version == MANIFEST_SCHEMA_VERSION
    written = json.loads((tiny_build / "manifest.json").read_text(encoding="utf-8"))
    assert to_json(manifest) == written  # every key declared: nothing a reader needs is left untyped


def test_a_manifest_of_another_schema_or_type_is_refused_saying_what_to_do(tiny_build: Path, tmp_path: Path):
    data = json.loads((tiny_build / "manifest.json").read_text(encoding="utf-8"))
    (tmp_path / "manifest.json").write_text(json.dumps({**data, "schema_version": 1}))
    with pytest.raises(DatasetError, match="manifest schema 1, this one reads .*rebuild it"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**data, "targets": {"patient": "pat-1"}}))
    with pytest.raises(DatasetError, match=r"targets.patient must be a list"):
        read_manifest(tmp_path)
