"""A base corpus (a build with ``exclude``) shares nothing with its benchmark, and the check that
proves it fires on each kind of thing shared: a study, a report, a sentence, an identity, an
image byte for byte or re-encoded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from medforget.build.disjoint import DisjointnessError, shared
from medforget.build.pipeline import build
from medforget.builders.iu_xray import IUXrayBuilder
from medforget.config import preset


@pytest.fixture
def base(base_build: Path) -> Path:
    return base_build


def test_a_base_corpus_leaves_out_the_benchmark_and_what_resembles_it(base: Path, tiny_build: Path):
    assert shared(base, tiny_build, {}) == []
    skipped = {entry["reason"]: entry["count"] for entry in json.loads((base / "manifest.json").read_text())["skipped"]}
    assert skipped[f"a study of the excluded build {tiny_build.name}"] == 25  # every study of the tiny preset
    assert skipped[f"shares a report sentence with the excluded build {tiny_build.name}"] > 0  # boilerplate too


def test_a_base_that_is_the_benchmark_again_is_refused_and_not_written(
    tiny_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The exclusion switched off, the benchmark's own config: the same studies, reports,
    sentences, images and identities, each reported; nothing is left at ``out``."""
    monkeypatch.setattr(IUXrayBuilder, "_apart_from", lambda self, dataset, reports: reports)
    out = tmp_path / "leaky"
    with pytest.raises(DisjointnessError) as raised:
        build(preset("tiny").with_options(exclude=str(tiny_build)), out)
    message = str(raised.value)
    for what in ("studies", "reports", "sentences", "identities", "images"):
        assert f" shared {what}, e.g. " in message, what
    assert "25 shared studies, e.g. CXR" in message and f"{out} (nothing was written)" in message
    assert not out.exists()


def _replace_first_image(folder: Path, data: bytes) -> None:
    path = next(p for p in sorted((folder / "train").glob("train-*.parquet")))
    table = pq.read_table(path)
    images = table.column("image").to_pylist()
    first = next(i for i, image in enumerate(images) if image and image["bytes"])
    images[first] = {**images[first], "bytes": data}
    column = pa.array(images, type=table.schema.field("image").type)
    pq.write_table(table.set_column(table.schema.get_field_index("image"), "image", column), path)


def _benchmark_image(tiny_build: Path) -> bytes:
    table = pq.read_table(next((tiny_build / "train").glob("train-*.parquet")), columns=["image"])
    return next(image["bytes"] for image in table.column("image").to_pylist() if image and image["bytes"])


@pytest.mark.parametrize("copy", ["exact", "re-encoded"])
def test_a_benchmark_image_in_the_base_fires(copy: str, base: Path, tiny_build: Path, tmp_path: Path):
    import shutil

    tampered = Path(shutil.copytree(base, tmp_path / "base"))
    data = _benchmark_image(tiny_build)
    if copy == "re-encoded":
        buffer = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").save(buffer, format="JPEG", quality=70)
        data = buffer.getvalue()
    _replace_first_image(tampered, data)
    found = {item.what: item.count for item in shared(tampered, tiny_build, {})}
    assert found == ({"image": 1} if copy == "exact" else {"near-duplicate image": 1})


def test_a_benchmark_sentence_in_the_base_fires(base: Path, tiny_build: Path, tmp_path: Path):
    import shutil

    tampered = Path(shutil.copytree(base, tmp_path / "base"))
    theirs = next(
        r["answer"]
        for r in pq.read_table(next((tiny_build / "train").glob("train-*.parquet"))).to_pylist()
        if r["level"] == "section" and r["task"] == "generation"
    )
    path = next((tampered / "train").glob("train-*.parquet"))
    table = pq.read_table(path)
    rows = table.to_pylist()
    first = next(i for i, r in enumerate(rows) if r["level"] == "section" and r["task"] == "generation")
    answers = table.column("answer").to_pylist()
    answers[first] = theirs.upper()  # normalised: case and punctuation do not hide it
    pq.write_table(table.set_column(table.schema.get_field_index("answer"), "answer", pa.array(answers)), path)
    found = {item.what for item in shared(tampered, tiny_build, {})}
    assert "sentence" in found
