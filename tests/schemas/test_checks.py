"""Every leak check fires: inject exactly the leak it guards against into a clean tiny build
and expect that check, and only the expected ones, to fail naming the injected rows."""

from __future__ import annotations

import copy
import dataclasses
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from PIL import Image, ImageEnhance

from medforget.schemas.checks import CHECKS, Finding, run_checks
from medforget.schemas.tables import DatasetTables, load_folder


@pytest.fixture
def clean(tiny_build: Path) -> DatasetTables:
    return load_folder(tiny_build)


def failing(tables: DatasetTables) -> dict[str, list[Finding]]:
    return {r.name: list(r.findings) for r in run_checks(tables) if not r.passed}


def named(findings: list[Finding]) -> set[str]:
    return {i for f in findings for i in f.ids}


def replace(tables: DatasetTables, config: str, split: str, table: pa.Table, recount: bool = True) -> DatasetTables:
    """The dataset with one split replaced; the manifest's count follows unless told not to."""
    manifest = copy.deepcopy(tables.manifest)
    if recount:
        manifest["counts"][config][split]["rows"] = table.num_rows
    return dataclasses.replace(tables, manifest=manifest, splits={**tables.splits, (config, split): table})


def rows(table: pa.Table, mask) -> pa.Table:
    return table.filter(mask)


def test_clean_build_passes_every_check(clean: DatasetTables):
    results = run_checks(clean)
    assert [r.name for r in results] == CHECKS.names()  # every registered check runs, in declaration order
    assert all(r.passed for r in results), [r for r in results if not r.passed]


def test_every_check_is_proven_by_an_injection_test():
    """A check without a ``test_<name>_fires...`` here (a leak injected, the check failing on it) is unproven."""
    tests = [name for name in globals() if name.startswith("test_")]
    unproven = [c for c in CHECKS.names() if not any(t.startswith(f"test_{c}_fires") for t in tests)]
    assert not unproven, f"write an injection test for: {', '.join(unproven)}"


def test_ids_unique_fires(clean: DatasetTables):
    other = clean.table("patient", "retain_other").slice(0, 3)
    sibling = pa.concat_tables([clean.table("patient", "retain_sibling"), other])
    failed = failing(replace(clean, "patient", "retain_sibling", sibling))
    assert set(failed) == {"ids_unique"}
    assert named(failed["ids_unique"]) == set(other.column("id").to_pylist())
    assert failed["ids_unique"][0].split == "retain_sibling"


def test_subtree_closure_fires(clean: DatasetTables):
    forget = clean.table("study", "forget")
    removed = forget.slice(0, 2).column("id").to_pylist()
    failed = failing(replace(clean, "study", "forget", forget.slice(2)))
    assert set(failed) == {"subtree_closure"}
    assert named(failed["subtree_closure"]) == set(removed)


def _swap_image(tables: DatasetTables, config: str, split: str, row: int, key: int) -> tuple[DatasetTables, str]:
    table = tables.table(config, split)
    image_rows = pc.indices_nonzero(pc.not_equal(table["image_key"], -1)).to_pylist()
    target = image_rows[row]
    keys = table["image_key"].to_pylist()
    keys[target] = key
    table = table.set_column(table.schema.get_field_index("image_key"), "image_key", pa.array(keys, pa.int64()))
    return replace(tables, config, split, table), table["id"][target].as_py()


def _forget_image_key(tables: DatasetTables, config: str) -> int:
    forget = tables.table(config, "forget")
    return next(k for k in forget["image_key"].to_pylist() if k != -1)


def test_image_leak_fires_on_an_exact_copy(clean: DatasetTables):
    leaked, row_id = _swap_image(clean, "patient", "retain_sibling", 0, _forget_image_key(clean, "patient"))
    failed = failing(leaked)
    assert set(failed) == {"image_leak"}
    assert named(failed["image_leak"]) == {row_id}
    assert "1 exact copies" in failed["image_leak"][0].detail


@pytest.mark.parametrize("alter", ["jpeg", "resize", "brightness"])
def test_image_leak_fires_on_a_near_duplicate(clean: DatasetTables, alter: str):
    original = Image.open(io.BytesIO(clean.images.data(_forget_image_key(clean, "patient"))))
    changed = {
        "jpeg": lambda im: im,
        "resize": lambda im: im.resize((200, 200)),
        "brightness": lambda im: ImageEnhance.Brightness(im).enhance(1.15),
    }[alter](original)
    buffer = io.BytesIO()
    changed.save(buffer, format="JPEG" if alter == "jpeg" else "PNG", quality=80)
    key = int(clean.images.add_values(pa.array([buffer.getvalue()], pa.binary()))[0])
    leaked, row_id = _swap_image(clean, "patient", "retain_other", 3, key)
    failed = failing(leaked)
    assert set(failed) == {"image_leak"}
    assert named(failed["image_leak"]) == {row_id}
    assert "1 near-duplicates" in failed["image_leak"][0].detail


def test_another_study_of_the_same_patient_is_not_a_near_duplicate(clean: DatasetTables):
    # the study config's forget and retain_sibling hold the same patient's studies: no finding
    assert not [r for r in run_checks(clean, ["image_leak"]) if not r.passed]


def _forget_value(tables: DatasetTables, config: str, attribute: str) -> str:
    forget = tables.table(config, "forget")
    mask = pc.and_(pc.equal(forget["attribute"], attribute), pc.equal(forget["task"], "generation"))
    return forget.filter(mask)["answer"][0].as_py()


def edit_everywhere(tables: DatasetTables, row_id: str, column: str, edit) -> DatasetTables:
    """The dataset with one row's column edited in every config holding it, as a build would."""
    splits = dict(tables.splits)
    for pair, table in tables.splits.items():
        hits = pc.indices_nonzero(pc.equal(table["id"], row_id)).to_pylist()
        if hits:
            values = table[column].to_pylist()
            for hit in hits:
                values[hit] = edit(values[hit])
            splits[pair] = table.set_column(table.schema.get_field_index(column), column, pa.array(values))
    return dataclasses.replace(tables, splits=splits)


@pytest.mark.parametrize(("config", "attribute"), [("patient", "mrn"), ("patient", "name"), ("study", "accession")])
def test_value_leak_fires(clean: DatasetTables, config: str, attribute: str):
    value = _forget_value(clean, config, attribute)
    row_id = clean.table(config, "retain_other")["id"][5].as_py()
    failed = failing(edit_everywhere(clean, row_id, "question", lambda q: f"{q} (see also {value})"))
    assert set(failed) == {"value_leak"}
    assert named(failed["value_leak"]) == {row_id}
    assert {f.config for f in failed["value_leak"]} >= {config}


def test_a_value_is_found_within_one_option_not_across_two():
    """Default preset, seed 2: options "Chest pain" and "Shortness of breath." side by side are
    not the forget node's value "chest pain shortness of breath"."""
    from medforget.schemas.checks import mentions

    value = {"chest pain shortness of breath"}
    assert not mentions("Chest pain | Shortness of breath. | Altered mental status", value)
    assert mentions("Chest pain, shortness of breath | Cough", value)


def test_a_consistent_tamper_of_every_copy_is_caught(clean: DatasetTables):
    """Editing a retain patient's MRN fact, in every config (train included), into a forget
    patient's MRN: who owns that value can then no longer be read from the rows (both nodes
    "have" it, so it looks shared), but the rows no longer match what the build recorded."""
    value = _forget_value(clean, "patient", "mrn")
    retain = clean.table("patient", "retain_other")
    mask = pc.and_(pc.equal(retain["attribute"], "mrn"), pc.equal(retain["task"], "generation"))
    row_id = retain.filter(mask)["id"][0].as_py()
    tampered = edit_everywhere(clean, row_id, "answer", lambda _: value)
    assert row_id in tampered.table("train", "train")["id"].to_pylist()  # the train copy too
    failed = failing(tampered)
    assert set(failed) == {"value_leak"}
    assert "not those the build recorded" in failed["value_leak"][0].detail


@pytest.mark.parametrize("column", ["perturbed_answers", "paraphrased_answer"])
def test_value_leak_fires_on_the_truth_ratio_answers(clean: DatasetTables, column: str):
    """A retain row shows the model its perturbed and paraphrased answers too (truth ratio)."""
    value = _forget_value(clean, "patient", "name")
    retain = clean.table("patient", "retain_other")
    row_id = retain.filter(pc.equal(retain["task"], "generation"))["id"][0].as_py()
    edit = (lambda answers: [*answers[:-1], value]) if column == "perturbed_answers" else (lambda _: f"It is {value}.")
    failed = failing(edit_everywhere(clean, row_id, column, edit))
    assert set(failed) == {"value_leak"}
    assert named(failed["value_leak"]) == {row_id}


def test_holdout_isolation_fires(clean: DatasetTables):
    holdout = clean.table("patient", "holdout").slice(0, 4)
    train = pa.concat_tables([clean.table("train", "train"), holdout])
    failed = failing(replace(clean, "train", "train", train))
    assert set(failed) == {"holdout_isolation"}
    assert named(failed["holdout_isolation"]) == set(holdout["id"].to_pylist())


def test_sibling_coverage_fires(clean: DatasetTables):
    target = clean.manifest["targets"]["study"][0]
    sibling = clean.table("study", "retain_sibling")
    patient = sibling.filter(pc.equal(sibling["study_id"], sibling["study_id"][0]))["patient_id"][0].as_py()
    target_patient = (
        clean.table("study", "forget")
        .filter(pc.equal(clean.table("study", "forget")["study_id"], target))["patient_id"][0]
        .as_py()
    )
    kept = sibling.filter(pc.not_equal(sibling["patient_id"], target_patient))
    failed = failing(replace(clean, "study", "retain_sibling", kept))
    assert set(failed) == {"sibling_coverage"}
    assert target in named(failed["sibling_coverage"])
    assert patient  # the build had sibling rows to remove


def test_manifest_agreement_fires_on_counts_and_expectations(clean: DatasetTables):
    off = replace(clean, "section", "holdout", clean.table("section", "holdout"), recount=False)
    off.manifest["counts"]["section"]["holdout"]["rows"] += 1
    assert set(failing(off)) == {"manifest_agreement"}
    table = clean.table("utility", "test")
    tasks = table["task"].to_pylist()
    tasks[0] = "essay"
    table = table.set_column(table.schema.get_field_index("task"), "task", pa.array(tasks))
    failed = failing(replace(clean, "utility", "test", table))
    assert set(failed) == {"manifest_agreement"}
    assert any("task" in f.detail for f in failed["manifest_agreement"])


def test_manifest_agreement_fires_when_copies_of_a_row_disagree(clean: DatasetTables):
    table = clean.table("study", "retain_other")
    answers = table["answer"].to_pylist()
    answers[2] = answers[2] + " (edited)"
    table = table.set_column(table.schema.get_field_index("answer"), "answer", pa.array(answers))
    failed = failing(replace(clean, "study", "retain_other", table))
    assert set(failed) == {"manifest_agreement"}
    finding = failed["manifest_agreement"][0]
    assert finding.ids == (table["id"][2].as_py(),) and "unique(id)" in finding.detail
    assert "study/retain_other" in finding.where and "train/train" in finding.where
