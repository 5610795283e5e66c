"""What an unlearning method is given: one level's forget and retain rows of a built dataset,
with the hashes that identify them, and the hierarchy those rows form."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medforget.errors import ConfigError

if TYPE_CHECKING:
    from medforget.evaluators.results import EvaluatedData

#: the splits a method may preserve: every QA of the level that the model should still know
RETAIN_SPLITS = ("retain_sibling", "retain_other", "shared_ancestor")


@dataclass(frozen=True)
class UnlearnData:
    """One level's forget and retain rows.

    Attributes:
        level: the level whose targets are forgotten.
        levels: the dataset's levels, outer to inner.
        forget: the ``forget`` split (the targets' subtrees).
        retain: the :data:`RETAIN_SPLITS`, concatenated in that order.
        record: manifest sha256 and per-split hashes (as ``medforget eval`` records them).
    """

    level: str
    levels: tuple[str, ...]
    forget: list[dict[str, Any]] = field(repr=False)
    retain: list[dict[str, Any]] = field(repr=False)
    record: EvaluatedData = field(repr=False)


def load_unlearn_data(dataset: Path, level: str) -> UnlearnData:
    from medforget.dataset import load_rows, read_manifest
    from medforget.evaluators.run import dataset_record

    manifest = read_manifest(dataset)
    record = dataset_record(dataset, manifest, level)  # names the dataset's levels when ``level`` is not one
    retain = [row for split in RETAIN_SPLITS for row in load_rows(dataset, level, split)]
    return UnlearnData(level, manifest.hierarchy.levels, load_rows(dataset, level, "forget"), retain, record)


@dataclass(frozen=True)
class RowTree:
    """The hierarchy spanned by QA rows: every node on the path of some row, its parent and
    level, and, per node, the indices of the rows of its subtree (the node's and its
    descendants'), kept apart for the forget and the retain rows."""

    parent: dict[str, str | None]
    level: dict[str, str]
    forget: dict[str, list[int]]
    retain: dict[str, list[int]]

    def children(self, node: str | None) -> list[str]:
        return sorted(n for n, p in self.parent.items() if p == node)

    def at_level(self, level: str, side: Mapping[str, list[int]]) -> list[str]:
        return sorted(n for n in side if self.level[n] == level)


def row_path(row: Mapping[str, Any], levels: Sequence[str]) -> list[tuple[str, str]]:
    """``(level, node id)`` from the top of the hierarchy down to the row's own node; ancestors
    come from the row's ``<level>_id`` columns."""
    if row["level"] not in levels:
        raise ConfigError(f"row {row['id']} has level {row['level']!r}, not one of {levels}")
    depth = levels.index(row["level"])
    path = [(level, row.get(f"{level}_id")) for level in levels[:depth]]
    missing = [level for level, node in path if node is None]
    if missing:
        raise ConfigError(f"row {row['id']} ({row['level']}) has no {', '.join(f'{m}_id' for m in missing)}")
    return [*path, (row["level"], row["node_id"])]


def row_tree(
    forget: Sequence[Mapping[str, Any]], retain: Sequence[Mapping[str, Any]], levels: Sequence[str]
) -> RowTree:
    """The :class:`RowTree` of ``forget`` and ``retain`` rows (utility rows, outside the
    hierarchy, are not given here)."""
    parent: dict[str, str | None] = {}
    level: dict[str, str] = {}
    sides: tuple[dict[str, list[int]], dict[str, list[int]]] = (defaultdict(list), defaultdict(list))
    for rows, side in zip((forget, retain), sides):
        for index, row in enumerate(rows):
            above = None
            for node_level, node in row_path(row, levels):
                parent.setdefault(node, above)
                level[node] = node_level
                side[node].append(index)
                above = node
    return RowTree(parent, level, dict(sides[0]), dict(sides[1]))
