"""Column rules checked with Great Expectations 1.x, behind one function.

The rest of MedForget never imports ``great_expectations``: it describes what a table must satisfy
with :class:`ColumnRules` and calls :func:`check_table`, which returns one
:class:`ExpectationOutcome` per expectation, in a stable order (not-null, value sets, types, unique,
compound unique; columns in the order the rules name them).

How a ``pyarrow.Table`` is handed to GX: only the columns the rules name are converted, each to an
``object`` pandas column of plain Python values (``str``, ``int``, ``list``, ``None`` for nulls),
with the default RangeIndex; GX reports the positions of the first offending rows and the ``id``
column, when the table has one, names them (read straight from arrow). That keeps the checks independent of the
pandas version's default dtypes (pandas 3 turns arrow strings into ``str`` dtype, nullable ints into
floats) and makes GX check types value by value, so a type failure names the offending rows too.

Great Expectations is imported lazily, on the first :func:`check_table` call (about 2 s), with
``GX_ANALYTICS_ENABLED=false`` set first; one ephemeral (in-memory) context, pandas data source,
dataframe asset and whole-dataframe batch definition are made once per process and reused; GX's
progress bars are switched off in that context. Suites, definitions and results live in memory only
for the call; nothing is written to disk (GX names a temporary docs-site directory and removes it at
once), nothing goes on the network.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medforget.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import pyarrow

__all__ = ["MAX_EXAMPLES", "TYPE_NAMES", "ColumnRules", "ExpectationOutcome", "check_table"]

#: rule type name -> the type name GX's expect_column_values_to_be_of_type is given
TYPE_NAMES: Mapping[str, str] = {"string": "str", "list": "list", "int": "int"}
#: how many offending values / row ids an outcome carries at most
MAX_EXAMPLES = 20
#: the column whose values name offending rows, when the table has it
ID_COLUMN = "id"


@dataclass(frozen=True)
class ColumnRules:
    """What a table's columns must satisfy. Every column named must exist in the table."""

    #: columns without nulls
    not_null: tuple[str, ...] = ()
    #: column -> allowed values (nulls allowed unless the column is in not_null)
    value_sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: column -> "string" | "list" | "int" (nulls are not checked here; use not_null)
    types: Mapping[str, str] = field(default_factory=dict)
    #: columns whose non-null values are all distinct
    unique: tuple[str, ...] = ()
    #: column groups whose value combinations are all distinct
    compound_unique: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ExpectationOutcome:
    """The result of one expectation on one table."""

    #: e.g. "expect_column_values_to_be_in_set(task)"
    expectation: str
    success: bool
    #: offending rows (for uniqueness: every row of a duplicated value, not only the extra ones)
    unexpected_count: int
    #: up to 20 ``id`` values of offending rows when the table has an ``id`` column, else up to 20
    #: offending values (for not_null without ``id``: "row N", N the 0-based row position)
    unexpected_examples: tuple[str, ...]
    #: up to 20 distinct offending values ("null" for a null, "[a, b]" for a list, "(a, b)" for a compound key)
    unexpected_values: tuple[str, ...] = ()


# --------------------------------------------------------------------------- rules -> expectations


@dataclass(frozen=True)
class _Spec:
    label: str  # the ExpectationOutcome.expectation string, also the key to match GX's result
    kind: str  # GX expectation class name
    kwargs: Mapping[str, Any]


def _specs(rules: ColumnRules) -> list[_Spec]:
    specs: list[_Spec] = []
    for column in dict.fromkeys(rules.not_null):
        specs.append(
            _Spec(f"expect_column_values_to_not_be_null({column})", "ExpectColumnValuesToNotBeNull", {"column": column})
        )
    for column, allowed in rules.value_sets.items():
        specs.append(
            _Spec(
                f"expect_column_values_to_be_in_set({column})",
                "ExpectColumnValuesToBeInSet",
                {"column": column, "value_set": list(allowed)},
            )
        )
    for column, type_name in rules.types.items():
        specs.append(
            _Spec(
                f"expect_column_values_to_be_of_type({column})",
                "ExpectColumnValuesToBeOfType",
                {"column": column, "type_": TYPE_NAMES[type_name]},
            )
        )
    for column in dict.fromkeys(rules.unique):
        specs.append(
            _Spec(f"expect_column_values_to_be_unique({column})", "ExpectColumnValuesToBeUnique", {"column": column})
        )
    for group in dict.fromkeys(tuple(g) for g in rules.compound_unique):
        specs.append(
            _Spec(
                f"expect_compound_columns_to_be_unique({','.join(group)})",
                "ExpectCompoundColumnsToBeUnique",
                {"column_list": list(group)},
            )
        )
    return specs


def _validate_rules(table: pyarrow.Table, rules: ColumnRules, name: str) -> list[str]:
    """The columns the rules name, in first-named order; ConfigError for any rule the table cannot take."""
    import pyarrow as pa

    named: dict[str, None] = {}
    for column in rules.not_null:
        named[column] = None
    for column in rules.value_sets:
        named[column] = None
    for column in rules.types:
        named[column] = None
    for column in rules.unique:
        named[column] = None
    for group in rules.compound_unique:
        if isinstance(group, str) or len(group) < 2:
            raise ConfigError(
                f"table {name!r}: compound_unique takes groups of at least two column names, got {group!r}; "
                "put a single column in unique"
            )
        for column in group:
            named[column] = None

    present = set(table.column_names)
    missing = [c for c in named if c not in present]
    if missing:
        raise ConfigError(
            f"table {name!r} has no column {', '.join(repr(c) for c in missing)} named in its rules; "
            f"its columns are: {', '.join(table.column_names) or '(none)'}. Fix the rule or the table."
        )
    for column, type_name in rules.types.items():
        if type_name not in TYPE_NAMES:
            raise ConfigError(
                f"table {name!r}: unknown type {type_name!r} for column {column!r}; use one of {sorted(TYPE_NAMES)}"
            )
    for column, allowed in rules.value_sets.items():
        if isinstance(allowed, str):
            raise ConfigError(
                f"table {name!r}: the value set of column {column!r} must be a sequence of values, "
                f"got the string {allowed!r}"
            )

    def is_list(column: str) -> bool:
        t = table.schema.field(column).type
        return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)

    hashed = [*rules.value_sets, *rules.unique, *(c for g in rules.compound_unique for c in g)]
    for column in dict.fromkeys(hashed):
        if is_list(column):
            raise ConfigError(
                f"table {name!r}: column {column!r} holds lists; value-set and uniqueness rules need scalar "
                "columns (a list column can only have not_null and type rules)"
            )
    return list(named)


# --------------------------------------------------------------------------- arrow -> pandas


def _to_object_series(column: pyarrow.ChunkedArray) -> pandas.Series:
    """One arrow column as an object Series of plain Python values, None for nulls."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    t = column.type
    if pa.types.is_dictionary(t):
        column = column.cast(t.value_type)
        t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        values = column.to_numpy()  # object ndarray of str, None for nulls
    elif pa.types.is_integer(t) and column.null_count == 0:
        values = column.to_numpy().astype(object)  # Python ints
    else:  # lists stay Python lists (pandas keeps them as elements), nullable ints stay ints
        return pd.Series(column.to_pylist(), dtype=object)
    return pd.Series(np.asarray(values, dtype=object), dtype=object, copy=False)


def _to_frame(table: pyarrow.Table, columns: list[str]) -> pandas.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: _to_object_series(table.column(c)) for c in columns}, copy=False)


# --------------------------------------------------------------------------- GX, once per process


class _Gx:
    """The GX module and the in-memory objects reused across calls."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx

        # GX sets its loggers to INFO ("Created temporary directory ..."); keep them at WARNING
        # unless the application asked for more
        level = max(logging.getLogger().level, logging.WARNING)
        for name in [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]:
            logging.getLogger(name).setLevel(level)
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        # V0 validator reads this to decide whether tqdm shows "Calculating Metrics" bars
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.source = self.context.data_sources.add_pandas(name="medforget")
        self.asset = self.source.add_dataframe_asset(name="tables")
        self.batch_definition = self.asset.add_batch_definition_whole_dataframe("whole")

    def run(self, name: str, specs: list[_Spec], frame: pandas.DataFrame, result_format: dict[str, Any]) -> Any:
        """Validate ``frame`` once against a suite built from ``specs``.

        A ValidationDefinition fetches the batch once; ``Batch.validate`` would fetch (and fingerprint,
        which costs about as much as the checks themselves on large frames) the dataframe twice.
        The suite and definition live only for this call.
        """
        gx = self.gx
        key = f"medforget.{name}.{uuid.uuid4().hex}"
        suite = gx.ExpectationSuite(
            name=key,
            expectations=[getattr(gx.expectations, s.kind)(**s.kwargs, meta={"medforget": s.label}) for s in specs],
        )
        suite = self.context.suites.add(suite)
        try:
            definition = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=key, data=self.batch_definition, suite=suite)
            )
            try:
                return definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
            finally:
                self.context.validation_definitions.delete(key)
        finally:
            self.context.suites.delete(key)

    def release(self) -> None:
        """Drop the frame, metrics and results GX keeps from the last validation (memory, no stale metric)."""
        store = self.context.validation_results_store
        for key in store.list_keys():
            store.remove_key(key)
        engine = self.source.get_execution_engine()
        cache = getattr(engine, "_metric_cache", None)
        if isinstance(cache, dict):
            cache.clear()
        manager = getattr(engine, "batch_manager", None)
        if manager is not None:
            manager.reset_batch_cache()
            data_cache = getattr(manager, "_batch_data_cache", None)
            if isinstance(data_cache, dict):
                data_cache.clear()


_lock = threading.Lock()
_gx: _Gx | None = None


def _get_gx() -> _Gx:
    global _gx
    if _gx is None:
        _gx = _Gx()
    return _gx


# --------------------------------------------------------------------------- results


def _fmt(value: Any, compound: bool = False) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and value != value:
        return "null"
    if isinstance(value, dict):  # compound key as GX reports it in partial_unexpected_list
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_fmt(v) for v in value)
        return f"({inner})" if compound else f"[{inner}]"
    return str(value)


def _first(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))[:MAX_EXAMPLES]


def _outcome(spec: _Spec, result: Any, ids: pyarrow.ChunkedArray | None) -> ExpectationOutcome:
    info = result.result or {}
    count = int(info.get("unexpected_count") or 0)
    counts = info.get("partial_unexpected_counts") or []
    compound = spec.kind == "ExpectCompoundColumnsToBeUnique"
    if counts:
        values = _first([_fmt(c.get("value"), compound) for c in counts])
    else:
        values = _first([_fmt(v, compound) for v in info.get("partial_unexpected_list") or []])
    # the frame has a RangeIndex, so GX's index list holds the row positions of the first offenders
    positions = [int(i) for i in info.get("partial_unexpected_index_list") or [] if not isinstance(i, dict)]
    if ids is not None:
        found = ids.take(positions).to_pylist() if positions else []
        examples = _first([f"row {p}" if i is None else str(i) for p, i in zip(positions, found)])
    elif spec.kind == "ExpectColumnValuesToNotBeNull":
        examples = _first([f"row {p}" for p in positions])
    else:
        examples = values
    return ExpectationOutcome(
        expectation=spec.label,
        success=bool(result.success),
        unexpected_count=count,
        unexpected_examples=examples,
        unexpected_values=values,
    )


def _raise_if_errored(result: Any, spec: _Spec, name: str) -> None:
    """GX catches exceptions inside an expectation and reports failure; make them loud instead."""
    info = result.exception_info or {}
    errors = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for error in errors:
        if error.get("raised_exception"):
            raise RuntimeError(
                f"great_expectations failed to evaluate {spec.label} on table {name!r}: "
                f"{error.get('exception_message')}\n{error.get('exception_traceback') or ''}"
            )


# --------------------------------------------------------------------------- entry point


def check_table(table: pyarrow.Table, rules: ColumnRules, name: str) -> list[ExpectationOutcome]:
    """Check ``table`` against ``rules`` with Great Expectations; one outcome per expectation.

    Raises ConfigError when a rule names a column the table lacks (the message names the column and
    ``name``), an unknown type, or a value-set/uniqueness rule on a list column. Exceptions raised by
    GX propagate; an exception GX caught inside an expectation is re-raised as RuntimeError.
    """
    columns = _validate_rules(table, rules, name)
    specs = _specs(rules)
    if not specs:
        return []
    frame = _to_frame(table, columns)
    ids = table.column(ID_COLUMN) if ID_COLUMN in table.column_names else None
    result_format: dict[str, Any] = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": MAX_EXAMPLES,
        "return_unexpected_index_query": False,
    }

    with _lock:
        gx = _get_gx()
        try:
            validation = gx.run(name, specs, frame, result_format)
        finally:
            gx.release()

    by_label = {r.expectation_config.meta.get("medforget"): r for r in validation.results}
    outcomes = []
    for spec in specs:
        result = by_label[spec.label]
        _raise_if_errored(result, spec, name)
        outcomes.append(_outcome(spec, result, ids))
    return outcomes
