"""One generic registry for every kind of named thing (sources, checks, metrics, methods, model
families): the one place a new one is declared, from which everything else is derived (CLI
choices and help, ``medforget ls``, the Makefile's lists, test parametrisation, board columns).

An entry carries its own name (``entry.name``), so it is never written twice; entries keep the
order they were declared in (with ``providers``: the order of their modules in that package,
then of declaration, whatever imported one first); each has a one-line description (its ``description`` attribute or
the first line of its docstring). A registry may name the package whose modules declare its
entries (``providers``): they are imported on the first lookup, so a new module there is found
without being listed anywhere.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Iterator
from typing import Generic, TypeVar

from medforget.errors import MedForgetError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind, in declaration order.

    Args:
        kind: what an entry is, for messages ("unlearning method").
        providers: the package whose modules register entries, imported on the first lookup.
    """

    def __init__(self, kind: str, providers: str | None = None):
        self.kind = kind
        self.providers = providers
        self._entries: dict[str, T] = {}
        self._loaded = providers is None

    def register(self, entry: T) -> T:
        """Add ``entry`` under ``entry.name`` (usable as a class decorator); a name taken is an error."""
        name = getattr(entry, "name", None)
        if not isinstance(name, str) or not name:
            raise MedForgetError(f"a {self.kind} needs a `name` (a non-empty string) to be registered: {entry!r}")
        if name in self._entries:
            raise MedForgetError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        entries = self._all()
        if name not in entries:
            close = difflib.get_close_matches(name, entries, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} (known: {', '.join(entries)})")
        return entries[name]

    def names(self) -> list[str]:
        """Every name, in declaration order."""
        return list(self._all())

    def describe(self) -> list[tuple[str, str]]:
        """(name, one-line description) of every entry, in declaration order."""
        return [(name, description(entry)) for name, entry in self._all().items()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def _all(self) -> dict[str, T]:
        if not self._loaded:
            self._loaded = True
            package = importlib.import_module(self.providers)  # type: ignore[arg-type]
            modules = [module.name for module in pkgutil.iter_modules(package.__path__, f"{self.providers}.")]
            for name in modules:
                importlib.import_module(name)
            # the providers' order, then declaration order: never whichever module was imported first
            rank = {name: index for index, name in enumerate(modules)}
            self._entries = dict(
                sorted(self._entries.items(), key=lambda item: rank.get(getattr(item[1], "__module__", ""), len(rank)))
            )
        return self._entries


def description(entry: object) -> str:
    """An entry's one line: its ``description`` or ``title`` attribute, else its docstring's first line."""
    for attribute in ("description", "title"):
        text = getattr(entry, attribute, None)
        if isinstance(text, str):
            return text.strip().splitlines()[0] if text.strip() else ""
    doc = getattr(entry, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
