"""What several subcommands parse alike."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from medforget.errors import ConfigError
from medforget.registry import Registry

if TYPE_CHECKING:
    from medforget.llm.data_use import DataUse


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


def add_data_use(parser: argparse._ActionsContainer) -> None:
    """The flags of :mod:`medforget.llm.data_use`: where text a licence keeps local may go."""
    parser.add_argument(
        "--llm-local-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host of your own that counts as local for data whose licence keeps its text on this machine "
        "(MIMIC-CXR, DICOM folders); repeatable; also $MEDFORGET_LOCAL_HOSTS, comma-separated",
    )
    parser.add_argument(
        "--acknowledge-data-use",
        action="store_true",
        help="send such text to a non-local endpoint: you confirm your data-use agreement allows that endpoint",
    )


def data_use(args: argparse.Namespace) -> DataUse:
    from medforget.llm.data_use import DataUse

    return DataUse.from_user(args.llm_local_host, args.acknowledge_data_use)
