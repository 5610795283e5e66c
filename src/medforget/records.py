"""JSON records typed by frozen dataclasses: the files one step writes and another reads (a
build's manifest, an evaluation's results) are declared once, as dataclasses, written by
:func:`to_json` and read back by :func:`from_json`, which checks every field's type and names
the first one that is wrong, so no reader indexes a dict by string and trusts what it finds.

Field types are those JSON can carry: ``str``, ``int``, ``float``, ``bool``, ``Path`` (a string), ``None`` unions,
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
from pathlib import Path
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
            values[field.name] = convert(data[field.name], hints[field.name], f"{where}.{field.name}", error)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise error(f"{where} has no {field.name!r}")
    return kind(**values)


def convert(value: Any, kind: Any, where: str, error: type[MedForgetError]) -> Any:
    """``value`` as the declared type ``kind`` (see the module docstring; a path may also be
    given as a string, a tuple as a list or a tuple), or ``error`` naming ``where`` and what it
    must be. The one conversion of typed values: config files use it too."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if all(option in _KINDS for option in options):  # scalars: say every type it may be
            for option in options:
                if (converted := _scalar(value, option)) is not _WRONG:
                    return converted
            raise error(f"{where} must be {describe(kind)}, found {_name(value)}")
        for option in options[:-1]:
            try:
                return convert(value, option, where, error)
            except MedForgetError:
                continue
        return convert(value, options[-1], where, error)
    if origin is typing.Literal:
        if any(value == choice and type(value) is type(choice) for choice in args):
            return value
        raise error(f"{where} must be one of {', '.join(map(repr, args))}, found {_name(value)}")
    if dataclasses.is_dataclass(kind):
        return from_json(kind, value, where, error)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise error(f"{where} must be {describe(kind)}, found {_name(value)}")
        return tuple(convert(item, args[0], f"{where}[{n}]", error) for n, item in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
            raise error(f"{where} must be {describe(kind)}, found {_name(value)}")
        return {key: convert(item, args[1], f"{where}.{key}", error) for key, item in value.items()}
    if kind in _KINDS:
        if (converted := _scalar(value, kind)) is _WRONG:
            raise error(f"{where} must be {describe(kind)}, found {_name(value)}")
        return converted
    raise TypeError(f"{where}: records cannot hold {kind!r}")  # a record declared wrong: a bug


_WRONG = object()


def _scalar(value: Any, kind: type) -> Any:
    """``value`` as the scalar ``kind`` (an int is a float; a bool is neither), or :data:`_WRONG`."""
    if kind is Path:
        return Path(value) if isinstance(value, (str, Path)) and str(value) else _WRONG
    if isinstance(value, bool) and kind is not bool:
        return _WRONG
    if kind is float and isinstance(value, int):
        return float(value)
    return value if isinstance(value, kind) else _WRONG


def describe(kind: Any) -> str:
    """What a value of the declared type is, in words: "an integer or null", "a list of strings"."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is tuple:
        return f"a list of {describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin in (Mapping, dict):
        return f"a mapping of {describe(args[0])} to {describe(args[1])}"
    if dataclasses.is_dataclass(kind):
        return "a JSON object"
    return _KINDS.get(kind, str(kind))


_KINDS: dict[Any, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    Path: "a path",
    type(None): "null",
}


def _name(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:40] + '...'}"
