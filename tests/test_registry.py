"""The registries are the one place a new source, check, metric, method or model family is
declared: an entry is named once (by itself), kept in declaration order, described in one line,
and found without being listed anywhere; a forgotten registration fails here."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
import types

import pytest

import medforget
from medforget.builders.base import Builder
from medforget.cli import main
from medforget.cli.ls import KINDS, registry
from medforget.errors import MedForgetError, UnknownNameError
from medforget.registry import Registry


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    description: str = ""


def test_a_name_is_taken_from_the_entry_once_and_misses_suggest():
    found: Registry[Entry] = Registry("metric")
    found.register(Entry("rouge_l", "ROUGE-L F1"))
    found.register(Entry("exact_match"))
    with pytest.raises(MedForgetError, match="registered twice"):
        found.register(Entry("rouge_l"))
    with pytest.raises(MedForgetError, match="needs a `name`"):
        found.register(object())
    with pytest.raises(UnknownNameError, match="did you mean 'rouge_l'"):
        found.get("rouge")
    assert found.names() == ["rouge_l", "exact_match"]  # declaration order, not sorted
    assert found.describe() == [("rouge_l", "ROUGE-L F1"), ("exact_match", "")]


def test_a_providers_module_is_found_without_being_listed(tmp_path, monkeypatch):
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from medforget.registry import Registry\nTHINGS = Registry('thing', 'plugins')\n"
    )
    (package / "new_one.py").write_text(
        "from plugins import THINGS\n\n@THINGS.register\nclass NewOne:\n    '''A thing added in one module.'''\n"
        "    name = 'new-one'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    things = importlib.import_module("plugins").THINGS
    assert things.describe() == [("new-one", "A thing added in one module.")]


def _every_module() -> list[types.ModuleType]:
    """Every module of the package that imports here (the optional extras' may not)."""
    found = []
    for info in pkgutil.walk_packages(medforget.__path__, "medforget."):
        if info.name.endswith("__main__"):  # runs the command
            continue
        try:
            found.append(importlib.import_module(info.name))
        except ModuleNotFoundError as err:
            if (err.name or "").startswith("medforget"):
                raise
    return found


def test_every_registration_is_found_by_a_lookup_alone():
    """Importing every module registers nothing a lookup in a fresh process does not find: an
    entry declared outside its registry's providers, or in a module nothing imports, is lost."""
    code = (
        "import json; from medforget.cli.ls import KINDS, registry; "
        "print(json.dumps({kind: registry(kind).names() for kind in KINDS}))"
    )
    alone = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    _every_module()
    assert alone == {kind: registry(kind).names() for kind in KINDS}


def test_no_source_or_method_class_is_left_unregistered():
    modules = _every_module()
    sources = {
        c
        for m in modules
        for c in vars(m).values()
        if inspect.isclass(c) and issubclass(c, Builder) and not inspect.isabstract(c)
    }
    assert sources == {registry("sources").get(name) for name in registry("sources").names()}
    methods = {
        c
        for m in modules
        if m.__name__.startswith("medforget.unlearning.")
        for c in vars(m).values()
        if inspect.isclass(c)
        and dataclasses.is_dataclass(c)
        and callable(getattr(c, "run", None))
        and isinstance(vars(c).get("name"), str)
    }
    assert methods == {registry("methods").get(name) for name in registry("methods").names()}


@pytest.mark.parametrize("kind", KINDS)
def test_every_entry_says_what_it_is_in_one_line(kind: str):
    described = registry(kind).describe()
    assert described and all(text and "\n" not in text for _, text in described), described


def test_ls_lists_each_kind_and_its_names(capsys):
    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    assert all(f"{kind}:" in out for kind in KINDS) and "value_leak" in out and "npo" in out
    assert main(["ls", "methods", "--names"]) == 0
    assert capsys.readouterr().out.split() == registry("methods").names()


def test_the_order_is_the_providers_whatever_was_imported_first():
    """A module imported early (by a test, a CLI path) must not move its entries to the front."""
    code = (
        "import medforget.builders.openi, medforget.unlearning.pruning; from medforget.cli.ls import registry; "
        "print(registry('sources').names()[0], registry('methods').names()[0])"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert first == ["dicom", "chip"]  # the providers' first modules, as a lookup alone gives them
