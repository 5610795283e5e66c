"""check_table: GX 1.x expectations behind ColumnRules, on small synthetic pyarrow tables."""

from __future__ import annotations

import dataclasses
import logging

import pyarrow as pa
import pytest

from medforget.errors import ConfigError
from medforget.schemas.expectations import ColumnRules, ExpectationOutcome, check_table

pytest.importorskip("great_expectations")

RULES = ColumnRules(
    not_null=("id", "task"),
    value_sets={"task": ("vqa", "report"), "level": ("institution", "patient")},
    types={"id": "string", "task": "string", "options": "list", "n": "int"},
    unique=("id",),
    compound_unique=(("fact_id", "task"),),
)


def make(**overrides: list) -> pa.Table:
    columns = {
        "id": ["r0", "r1", "r2", "r3"],
        "task": ["vqa", "vqa", "report", "report"],
        "level": ["patient", None, "institution", "patient"],  # nulls allowed: not in not_null
        "options": [["a", "b"], ["c", "d"], [], None],
        "n": [1, 2, None, 4],
        "fact_id": ["f0", "f1", "f0", "f1"],
        "extra": ["not", "checked", "by", "rules"],
    }
    columns.update(overrides)
    return pa.table(columns)


def by_name(outcomes: list[ExpectationOutcome]) -> dict[str, ExpectationOutcome]:
    return {o.expectation: o for o in outcomes}


def failed(outcomes: list[ExpectationOutcome]) -> dict[str, ExpectationOutcome]:
    return {o.expectation: o for o in outcomes if not o.success}


def test_clean_table_passes_every_expectation_in_rule_order():
    outcomes = check_table(make(), RULES, "clean")
    assert [o.expectation for o in outcomes] == [
        "expect_column_values_to_not_be_null(id)",
        "expect_column_values_to_not_be_null(task)",
        "expect_column_values_to_be_in_set(task)",
        "expect_column_values_to_be_in_set(level)",
        "expect_column_values_to_be_of_type(id)",
        "expect_column_values_to_be_of_type(task)",
        "expect_column_values_to_be_of_type(options)",
        "expect_column_values_to_be_of_type(n)",
        "expect_column_values_to_be_unique(id)",
        "expect_compound_columns_to_be_unique(fact_id,task)",
    ]
    assert all(o.success and o.unexpected_count == 0 and o.unexpected_examples == () for o in outcomes)


def test_null_in_not_null_column_names_the_row_id():
    out = failed(check_table(make(task=["vqa", None, "report", "report"]), RULES, "t"))
    assert set(out) == {"expect_column_values_to_not_be_null(task)"}
    o = out["expect_column_values_to_not_be_null(task)"]
    assert (o.unexpected_count, o.unexpected_examples, o.unexpected_values) == (1, ("r1",), ("null",))


def test_value_outside_the_set_names_id_and_value():
    out = failed(check_table(make(level=["patient", "ward", None, "ward"]), RULES, "t"))
    assert set(out) == {"expect_column_values_to_be_in_set(level)"}
    o = out["expect_column_values_to_be_in_set(level)"]
    assert (o.unexpected_count, o.unexpected_examples, o.unexpected_values) == (2, ("r1", "r3"), ("ward",))


def test_duplicate_id():
    out = failed(check_table(make(id=["r0", "r1", "r1", "r3"]), RULES, "t"))
    assert set(out) == {"expect_column_values_to_be_unique(id)"}
    o = out["expect_column_values_to_be_unique(id)"]
    assert (o.unexpected_count, o.unexpected_examples, o.unexpected_values) == (2, ("r1",), ("r1",))


def test_duplicate_compound_key_names_both_rows():
    out = failed(check_table(make(fact_id=["f0", "f0", "f1", "f2"]), RULES, "t"))
    assert set(out) == {"expect_compound_columns_to_be_unique(fact_id,task)"}
    o = out["expect_compound_columns_to_be_unique(fact_id,task)"]
    assert (o.unexpected_count, o.unexpected_examples, o.unexpected_values) == (2, ("r0", "r1"), ("(f0, vqa)",))


@pytest.mark.parametrize(
    ("column", "values", "expected_values"),
    [
        ("options", ["a", "b", "c", "d"], ("a", "b", "c", "d")),  # strings where lists are expected
        ("n", ["1", "2", "3", "4"], ("1", "2", "3", "4")),  # strings where ints are expected
        ("n", [1.0, 2.5, None, 4.0], ("1.0", "2.5", "4.0")),  # floats where ints are expected
        ("task", [["vqa"], ["vqa"], ["report"], ["report"]], ("[vqa]", "[report]")),  # lists, strings expected
    ],
)
def test_wrong_type_fails_and_names_rows(column, values, expected_values):
    rules = dataclasses.replace(RULES, value_sets={}, compound_unique=()) if column == "task" else RULES
    out = failed(check_table(make(**{column: values}), rules, "t"))
    name = f"expect_column_values_to_be_of_type({column})"
    assert name in out
    o = out[name]
    non_null = sum(v is not None for v in values)
    assert o.unexpected_count == non_null
    assert o.unexpected_examples == tuple(f"r{i}" for i, v in enumerate(values) if v is not None)
    if expected_values is not None:
        assert o.unexpected_values == expected_values


def test_without_id_column_examples_are_values_or_row_positions():
    table = pa.table({"task": ["vqa", None, "bad", "vqa"]})
    rules = ColumnRules(not_null=("task",), value_sets={"task": ("vqa",)}, unique=("task",))
    out = by_name(check_table(table, rules, "t"))
    assert out["expect_column_values_to_not_be_null(task)"].unexpected_examples == ("row 1",)
    assert out["expect_column_values_to_be_in_set(task)"].unexpected_examples == ("bad",)
    assert out["expect_column_values_to_be_unique(task)"].unexpected_examples == ("vqa",)


def test_examples_are_capped_at_twenty():
    n = 100
    table = pa.table({"id": [f"r{i}" for i in range(n)], "task": [f"t{i}" for i in range(n)]})
    (o,) = check_table(table, ColumnRules(value_sets={"task": ("vqa",)}), "t")
    assert o.unexpected_count == n
    assert len(o.unexpected_examples) == 20 and len(o.unexpected_values) == 20


def test_chunked_dictionary_and_large_string_columns():
    table = pa.concat_tables([make(), make(id=["r4", "r5", "r6", "r7"])])
    table = table.set_column(1, "task", table.column("task").dictionary_encode())
    table = table.set_column(0, "id", table.column("id").cast(pa.large_string()))
    assert table.column("id").num_chunks == 2
    out = failed(check_table(table, RULES, "chunked"))
    assert set(out) == {"expect_compound_columns_to_be_unique(fact_id,task)"}  # the copy repeats the keys
    assert out["expect_compound_columns_to_be_unique(fact_id,task)"].unexpected_count == 8


def test_results_do_not_leak_between_calls():
    bad = make(level=["ward"] * 4)
    assert failed(check_table(bad, RULES, "bad"))
    assert not failed(check_table(make(), RULES, "good"))


def test_empty_table_passes():
    assert all(o.success for o in check_table(make().slice(0, 0), RULES, "empty"))


def test_no_rules_is_no_outcomes():
    assert check_table(make(), ColumnRules(), "t") == []


def test_unknown_column_raises_config_error_naming_column_and_table():
    rules = ColumnRules(not_null=("id",), compound_unique=(("fact_id", "modality"),))
    with pytest.raises(ConfigError, match=r"'modality'.*") as info:
        check_table(make(), rules, "default/forget")
    assert "default/forget" in str(info.value)
    with pytest.raises(ConfigError, match="nope"):
        check_table(make(), ColumnRules(value_sets={"nope": ("x",)}), "t")


@pytest.mark.parametrize(
    "rules",
    [
        ColumnRules(types={"id": "float"}),
        ColumnRules(unique=("options",)),
        ColumnRules(value_sets={"task": "vqa"}),
        ColumnRules(compound_unique=(("id",),)),
    ],
)
def test_bad_rules_raise_config_error(rules):
    with pytest.raises(ConfigError):
        check_table(make(), rules, "t")


def test_quiet(capfd, caplog):
    caplog.set_level(logging.WARNING)
    check_table(make(task=["vqa", None, "x", "report"]), RULES, "t")
    captured = capfd.readouterr()
    assert "Calculating Metrics" not in captured.err + captured.out
    assert captured.err == ""
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_exception_caught_inside_gx_is_raised(monkeypatch):
    from medforget.schemas import expectations

    monkeypatch.setitem(expectations.TYPE_NAMES, "weird", "no_such_type")  # GX raises inside the metric
    with pytest.raises(RuntimeError, match=r"expect_column_values_to_be_of_type\(id\).*'t'.*no_such_type"):
        check_table(make(), ColumnRules(types={"id": "weird"}), "t")


def test_offending_row_with_null_id_is_named_by_position():
    (o,) = check_table(make(id=["r0", None, "r2", "r3"]), ColumnRules(not_null=("id",)), "t")
    assert o.unexpected_examples == ("row 1",)
