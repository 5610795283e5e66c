"""The hierarchy as a data model: typed, frozen records with deterministic ids.

A dataset is a forest of :class:`Node` records (network > institution > patient > study >
section by default; the level list is data, so a source may declare more levels, e.g. series).
The top level is context every target shares: each level below it gets a split config. Each node
carries typed attributes, which are the facts questions are asked about. Images belong to the
node that owns them (a study for the default source). QA items and split assignments refer to
nodes and images by id.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from medforget.errors import BuildError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

DEFAULT_LEVELS: tuple[str, ...] = ("network", "institution", "patient", "study", "section")
TASKS: tuple[str, ...] = ("generation", "classification", "cloze")
MODALITIES: tuple[str, ...] = ("image", "text")
LEVEL_SPLITS: tuple[str, ...] = (
    "forget",
    "retain_sibling",
    "retain_other",
    "shared_ancestor",
    "holdout",
    "forget_rephrased",
    "retain_rephrased",
)


def stable_digest(*parts: str, length: int = 12) -> str:
    """Hex digest of the parts, stable across processes and platforms (unlike ``hash``)."""
    joined = "\x1f".join(parts).encode("utf-8")
    return hashlib.sha256(joined).hexdigest()[:length]


def stable_int(*parts: str) -> int:
    """A 63-bit integer derived from the parts: a reproducible seed for per-entity randomness."""
    return int(stable_digest(*parts, length=16), 16) >> 1


def make_node_id(level: str, *source_keys: str) -> str:
    """Deterministic node id from the source's own identifiers, never from enumeration order."""
    return f"{level[:3]}-{stable_digest(level, *source_keys)}"


@dataclass(frozen=True)
class Attribute:
    """One fact about a node: ``name`` (e.g. ``mrn``), its value, and how to say it in prose."""

    name: str
    value: str
    label: str  # human wording of the attribute, e.g. "medical record number"


@dataclass(frozen=True)
class Node:
    """One node of the hierarchy.

    ``source_key`` is the identifier the source gave the entity (a report id, a DICOM UID, a
    fictitious identity's key); ``id`` is derived from it with :func:`make_node_id`.
    """

    id: str
    level: str
    parent_id: str | None
    source_key: str
    attributes: tuple[Attribute, ...] = ()

    def attribute(self, name: str) -> str:
        for attr in self.attributes:
            if attr.name == name:
                return attr.value
        raise KeyError(f"node {self.id} ({self.level}) has no attribute {name!r}")


@dataclass(frozen=True)
class Image:
    """An image owned by a node (a study). ``id`` is derived from the owner and view."""

    id: str
    owner_id: str
    png: bytes = field(repr=False)
    sha256: str
    phash: str  # 256-bit perceptual hash (hex), for near-duplicate checks
    width: int
    height: int
    origin: str  # "rendered" or the name of the source that supplied real pixels


@dataclass(frozen=True)
class Provenance:
    """Where a QA item's wording came from."""

    generator: str  # "template" or "llm"
    template_id: str | None = None
    template_version: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    temperature: float | None = None
    cache_key: str | None = None


@dataclass(frozen=True)
class QAItem:
    """One question about one fact, asked with an image or as a text-only twin."""

    id: str
    fact_id: str  # every wording, task and modality of the same fact shares this
    node_id: str | None  # None for utility items, which sit outside the hierarchy
    level: str | None
    attribute: str
    task: str
    modality: str
    question: str
    answer: str
    options: tuple[str, ...]
    image_id: str | None
    network_id: str | None
    institution_id: str | None
    patient_id: str | None
    study_id: str | None
    section: str | None
    rephrased_of: str | None
    provenance: Provenance
    #: TOFU's truth-ratio inputs (generation rows of hierarchy facts): the answer in other
    #: words, and the same answer altered to be wrong (:mod:`medforget.qa.truth`)
    paraphrased_answer: str | None = None
    perturbed_answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SplitAssignment:
    """Which split of which config a QA item belongs to."""

    config: str
    split: str
    qa_id: str


class Hierarchy:
    """An indexed, validated forest of nodes with subtree and sibling queries."""

    def __init__(self, nodes: Iterable[Node], levels: Sequence[str] = DEFAULT_LEVELS):
        self.levels = tuple(levels)
        self.nodes: dict[str, Node] = {}
        self._children: dict[str | None, list[str]] = defaultdict(list)
        for node in nodes:
            self._add(node)
        self._check_parents()

    def _add(self, node: Node) -> None:
        if node.level not in self.levels:
            raise BuildError(f"node {node.id} has level {node.level!r}; levels are {self.levels}")
        if node.id in self.nodes:
            raise BuildError(
                f"duplicate node id {node.id} (source keys {self.nodes[node.id].source_key!r} "
                f"and {node.source_key!r}): the source has two entities with the same identifier"
            )
        self.nodes[node.id] = node
        self._children[node.parent_id].append(node.id)

    def _check_parents(self) -> None:
        for node in self.nodes.values():
            depth = self.levels.index(node.level)
            if node.parent_id is None:
                if depth != 0:
                    raise BuildError(f"{node.level} node {node.id} has no parent")
                continue
            parent = self.nodes.get(node.parent_id)
            if parent is None or self.levels.index(parent.level) >= depth:
                raise BuildError(f"node {node.id} points at a missing or lower parent {node.parent_id}")

    @property
    def target_levels(self) -> tuple[str, ...]:
        """Levels that get a split config: all but the top one.

        A top-level target has no ancestors and no cousins, so its shared_ancestor and
        retain_other splits would be empty; the top level is the context its children share.
        """
        return self.levels[1:]

    def __len__(self) -> int:
        return len(self.nodes)

    def at_level(self, level: str) -> list[Node]:
        return sorted((n for n in self.nodes.values() if n.level == level), key=lambda n: n.id)

    def children(self, node_id: str | None) -> list[Node]:
        return [self.nodes[c] for c in sorted(self._children.get(node_id, ()))]

    def subtree(self, node_id: str) -> Iterator[Node]:
        """The node and all its descendants."""
        stack = [node_id]
        while stack:
            current = stack.pop()
            yield self.nodes[current]
            stack.extend(self._children.get(current, ()))

    def ancestors(self, node_id: str) -> list[Node]:
        """Ancestors from the parent up to the root."""
        out, parent = [], self.nodes[node_id].parent_id
        while parent is not None:
            out.append(self.nodes[parent])
            parent = self.nodes[parent].parent_id
        return out

    def siblings(self, node_id: str) -> list[Node]:
        """Nodes with the same parent; for roots, every other root."""
        parent = self.nodes[node_id].parent_id
        return [n for n in self.children(parent) if n.id != node_id]

    def ancestor_at(self, node_id: str, level: str) -> Node | None:
        """The node itself or its ancestor at ``level`` (None if the node is above it)."""
        node = self.nodes[node_id]
        if node.level == level:
            return node
        return next((a for a in self.ancestors(node_id) if a.level == level), None)


# --- image plans: what a source says about each study's image ----------------------------


@runtime_checkable
class ImageSource(Protocol):
    """Real pixels a source supplies some other way than an image file PIL opens (e.g. a DICOM
    instance to window): small, frozen and picklable, so plans can cross process boundaries;
    ``open`` raises :class:`SourceError` naming the input when the pixels cannot be read."""

    def open(self) -> PILImage: ...


@dataclass(frozen=True)
class StudyImagePlan:
    """What the image step needs to make one study's image."""

    study_id: str
    anatomy_key: str  # studies with the same key look alike (the patient)
    findings: tuple[str, ...]
    #: real pixels: an image file PIL opens, or an :class:`ImageSource`; None: rendered
    real_image: Path | ImageSource | None = None
    #: the image, when the source made it already (DICOM decodes its pixels to drop near-duplicate
    #: studies): the image step keeps it instead of decoding the pixels again
    image: Image | None = field(default=None, repr=False)
