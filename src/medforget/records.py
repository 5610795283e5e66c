"""JSON records typed by frozen dataclasses: the files one step writes and another reads (a
build's manifest, an evaluation's results) are declared once, as dataclasses, written by
:func:`to_json` and read back by :func:`from_json`, which checks every field's type and names
the first one that is wrong, so no reader indexes a dict by string and trusts what it finds.

Field types are those JSON can carry: ``str``, ``int``, ``float``, ``bool``, ``None`` unions,
``Literal[...]`` choices, ``tuple[X, ...]`` (a JSON list), ``Mapping[str, X]`` (an object),
nested records, and ``Any`` for what the record passes through unread. Keys a record does not
declare are ignored (the schema version says what a file holds); a declared key without a
default is required. A field declared with :func:`optional` is left out of the JSON while it
holds its default, so a fact only some entries have does not add a null to every other one.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from medforget.errors import MedForgetError

R = TypeVar("R")
_OMIT_DEFAULT = "medforget.records.omit_default"


def optional(default: Any = None) -> Any:
    """A field left out of the JSON while it holds ``default`` (and read back as it when absent)."""
    return dataclasses.field(default=default, metadata={_OMIT_DEFAULT: True})


def to_json(record: Any) -> Any:
    """A record (or any value inside one) as JSON-ready values, fields in declaration order."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {
            f.name: to_json(getattr(record, f.name))
            for f in dataclasses.fields(record)
            if not (f.metadata.get(_OMIT_DEFAULT) and getattr(record, f.name) == f.default)
        }
    if isinstance(record, Mapping):
        return {key: to_json(value) for key, value in record.items()}
    if isinstance(record, (list, tuple)):
        return [to_json(value) for value in record]
    return record


def from_json(kind: type[R], data: Any, where: str, error: type[MedForgetError]) -> R:
    """``data`` (parsed JSON) as the record ``kind``, or ``error`` naming the first wrong field
    by its path from ``where`` (e.g. ``manifest.json: shards[3].rows must be an integer``)."""
    if not isinstance(data, Mapping):
        raise error(f"{where} must be a JSON object, found {_name(data)}")
    hints = typing.get_type_hints(kind)
    values = {}
    for field in dataclasses.fields(kind):  # type: ignore[arg-type]
        if field.name in data:
            values[field.name] = _value(data[field.name], hints[field.name], f"{where}.{field.name}", error)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise error(f"{where} has no {field.name!r}")
    return kind(**values)


def _value(value: Any, kind: Any, where: str, error: type[MedForgetError]) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options[:-1]:
            try:
                return _value(value, option, where, error)
            except MedForgetError:
                continue
        return _value(value, options[-1], where, error)
    if origin is typing.Literal:
        if any(value == choice and type(value) is type(choice) for choice in args):
            return value
        raise error(f"{where} must be one of {', '.join(map(repr, args))}, found {_name(value)}")
    if dataclasses.is_dataclass(kind):
        return from_json(kind, value, where, error)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, list):
            raise error(f"{where} must be a list, found {_name(value)}")
        return tuple(_value(item, args[0], f"{where}[{n}]", error) for n, item in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
            raise error(f"{where} must be an object, found {_name(value)}")
        return {key: _value(item, args[1], f"{where}.{key}", error) for key, item in value.items()}
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (str, int, float, bool) and isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    if kind in (str, int, float, bool):
        raise error(f"{where} must be {_KINDS[kind]}, found {_name(value)}")
    raise TypeError(f"{where}: records cannot hold {kind!r}")  # a record declared wrong: a bug


_KINDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _name(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:40] + '...'}"
