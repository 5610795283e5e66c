"""What several subcommands parse alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from medforget.errors import ConfigError
from medforget.registry import Registry


def key_value(text: str, option: str, form: str) -> tuple[str, str]:
    """``KEY=VALUE`` of a repeatable option, stripped; anything else is a :class:`ConfigError`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"{option} {text!r}: expected {form}")
    return key.strip(), value.strip()


class Choices:
    """A registry's names as an argparse ``choices``, read only when an argument is checked or
    the help is printed, so building the parser imports no source or method module. Help text
    names them with ``%(choices)s``."""

    def __init__(self, registry: Callable[[], Registry[Any]]):
        self._registry = registry

    def __contains__(self, name: object) -> bool:
        return name in self._registry()

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry().names())
