"""The import graph follows the pipeline: no package imports one that imports it back, and no
module is part of an import cycle (lazy imports inside functions count: they are dependencies
too). docs/architecture.md says what each package may import. And the repository cites nothing
outside itself."""

from __future__ import annotations

import ast
import subprocess
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "src" / "medforget"


def _module(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def _imports() -> dict[str, set[str]]:
    """module -> the medforget modules it imports (``from medforget.x import y`` of a module y counts as y)."""
    modules = {_module(p) for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        source = _module(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            graph[source] |= {name for name in names if name in modules and name != source}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package(module: str) -> str:
    """medforget.builders.dicom -> builders; a module at the package root is its own node."""
    return module.split(".")[1] if module != "medforget" else module


def test_no_package_imports_one_that_imports_it_back():
    packages: dict[str, set[str]] = defaultdict(set)
    for source, targets in _imports().items():
        packages[_package(source)] |= {_package(t) for t in targets} - {_package(source), "medforget"}
    assert _cycles(packages) == []


def test_no_module_is_in_an_import_cycle():
    assert _cycles(_imports()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_in_the_repository_cites_a_path_outside_it():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = "../" + "shared"  # written so, this file is not a citation itself
    citing = [
        name
        for name in tracked
        if (ROOT / name).is_file()
        and name.endswith((".py", ".md", ".j2", ".toml", ".json", ".yaml", "Makefile", ".txt", ".html"))
        and outside in (ROOT / name).read_text(encoding="utf-8")
    ]
    assert citing == []


def _allowed() -> dict[str, set[str] | None]:
    """docs/architecture.md's table: package -> what it may import (None: anything)."""
    allowed: dict[str, set[str] | None] = {}
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = [name.split("(")[0].strip("` /") for name in cells[0].split(",")]
        may = (
            None
            if cells[2] == "anything"
            else set()
            if cells[2] == "nothing"
            else {name.strip() for name in cells[2].split(",")}
        )
        allowed.update(dict.fromkeys(names, may))
    return allowed


def test_every_import_is_one_docs_architecture_allows():
    allowed = _allowed()
    found = []
    for source, targets in _imports().items():
        package = _package(source)
        assert package in allowed, f"docs/architecture.md does not list {package}"
        may = allowed[package]
        found += [
            f"{source} imports {t}"
            for t in sorted(targets)
            if may is not None and _package(t) not in may | {package, "medforget"}
        ]
    assert found == []
