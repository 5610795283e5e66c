"""Leaks injected into the files of a built dataset are caught by `medforget validate`."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageEnhance

from medforget.cli import main
from medforget.schemas.validate import validate_folder


@pytest.fixture
def copy(tiny_build: Path, tmp_path: Path) -> Path:
    out = tmp_path / "medforget"
    shutil.copytree(tiny_build, out)
    return out


def shard(folder: Path, config: str, split: str) -> Path:
    return next((folder / config).glob(f"{split}-*.parquet"))


def read(path: Path) -> pa.Table:
    return pq.read_table(path)


def write(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path)


def failing(folder: Path) -> dict[str, set[str]]:
    report = validate_folder(folder)
    return {r.name: {i for f in r.findings for i in f.ids} for r in report.results if not r.passed}


def first_image_row(table: pa.Table) -> int:
    return pc.indices_nonzero(pc.is_valid(table["image"])).to_pylist()[0]


def copy_image_row(folder: Path, source: tuple[str, str], destination: tuple[str, str]) -> str:
    """Append the first row with an image of one shard to another; the row's id."""
    table = read(shard(folder, *source))
    row = table.slice(first_image_row(table), 1)
    path = shard(folder, *destination)
    write(path, pa.concat_tables([read(path), row]))
    return row["id"][0].as_py()


def test_forget_row_copied_into_retain_sibling(copy: Path):
    row_id = copy_image_row(copy, ("patient", "forget"), ("patient", "retain_sibling"))
    failed = failing(copy)
    for name in ("ids_unique", "subtree_closure", "image_leak"):
        assert row_id in failed[name], name
    assert "manifest_agreement" in failed


def _replace_image(folder: Path, config: str, split: str, picture: bytes) -> str:
    path = shard(folder, config, split)
    table = read(path)
    row = first_image_row(table)
    images = table["image"].to_pylist()
    images[row] = {"bytes": picture, "path": images[row]["path"]}
    write(
        path,
        table.set_column(
            table.schema.get_field_index("image"),
            table.schema.field("image"),
            pa.array(images, table.schema.field("image").type),
        ),
    )
    return table["id"][row].as_py()


def _forget_picture(folder: Path) -> bytes:
    forget = read(shard(folder, "patient", "forget"))
    return forget["image"][first_image_row(forget)].as_py()["bytes"]


@pytest.mark.parametrize("alteration", [None, "jpeg", "half-size", "brighter"])
def test_retain_image_replaced_by_a_forget_image(copy: Path, alteration: str | None):
    picture = _forget_picture(copy)
    if alteration is not None:
        image = Image.open(io.BytesIO(picture))
        image = {
            "jpeg": image,
            "half-size": image.resize((128, 128)),
            "brighter": ImageEnhance.Brightness(image).enhance(1.1),
        }[alteration]
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG" if alteration == "jpeg" else "PNG", quality=85)
        picture = buffer.getvalue()
    row_id = _replace_image(copy, "patient", "retain_other", picture)
    failed = failing(copy)
    assert set(failed) == {"image_leak", "manifest_agreement"}
    assert failed["image_leak"] == {row_id}


def test_forget_only_value_pasted_into_a_retain_question(copy: Path):
    forget = read(shard(copy, "patient", "forget"))
    mrn = forget.filter(pc.equal(forget["attribute"], "mrn"))["answer"][0].as_py()
    path = shard(copy, "patient", "retain_sibling")
    table = read(path)
    questions = table["question"].to_pylist()
    questions[0] = questions[0].replace("?", f" ({mrn})?")
    write(path, table.set_column(table.schema.get_field_index("question"), "question", pa.array(questions)))
    failed = failing(copy)
    assert set(failed) == {"value_leak", "manifest_agreement"}
    assert failed["value_leak"] == {table["id"][0].as_py()}


def test_descendant_row_moved_out_of_forget(copy: Path):
    path = shard(copy, "study", "forget")
    table = read(path)
    moved = table.slice(0, 1)
    write(path, table.slice(1))
    other = shard(copy, "study", "retain_other")
    write(other, pa.concat_tables([read(other), moved]))
    failed = failing(copy)
    assert failed["subtree_closure"] == {moved["id"][0].as_py()}
    assert "manifest_agreement" in failed


def test_holdout_row_copied_into_train(copy: Path):
    row_id = copy_image_row(copy, ("patient", "holdout"), ("train", "train"))
    failed = failing(copy)
    assert set(failed) == {"holdout_isolation", "manifest_agreement"}
    assert failed["holdout_isolation"] == {row_id}


def test_cli_validate_exit_codes_json_and_html(copy: Path, capsys):
    assert main(["validate", str(copy)]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == 7 and "all checks pass" in out
    html = (copy / "validation.html").read_text()
    assert "<script src" not in html and "http" not in html.split("<body>")[1].split("Machine-readable")[0]
    path = shard(copy, "study", "forget")
    write(path, read(path).slice(1))
    assert main(["validate", str(copy), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    assert failed == {"subtree_closure", "manifest_agreement"}
    finding = next(c for c in report["checks"] if c["name"] == "subtree_closure")["findings"][0]
    assert (finding["config"], finding["split"], finding["total"]) == ("study", "forget", 1)


def test_a_shard_with_a_wrong_column_type_is_reported(copy: Path):
    path = shard(copy, "utility", "test")
    table = read(path)
    options = pa.array([" | ".join(o) for o in table["options"].to_pylist()])
    write(path, table.set_column(table.schema.get_field_index("options"), "options", options))
    report = validate_folder(copy)
    manifest = next(r for r in report.results if r.name == "manifest_agreement")
    assert not manifest.passed
    assert any("options" in f.detail and f.config.startswith("utility") for f in manifest.findings)


def test_a_corrupt_shard_is_reported_not_a_traceback(copy: Path):
    path = shard(copy, "section", "forget")
    path.write_bytes(b"PAR1 this is not parquet")
    report = validate_folder(copy)
    failed = {r.name: r for r in report.results if not r.passed}
    assert any("unreadable" in f.detail for f in failed["manifest_agreement"].findings)
