"""The builder base: a source reads its own files; the base makes the hierarchy of them.

A source implements three things: :meth:`Builder.read` (its patients, in its own form, and the
findings of what it left unused), :meth:`Builder.patient` (one patient as a
:class:`PatientRecord`: attributes and studies) and :meth:`Builder.patient_key`. The base owns
the rest, the same for every source (the ``datasets`` library's template method):

- the sites: patients are dealt by the seed into synthetic institutions and health networks
  (:mod:`medforget.builders.sites`), unless the source names real ones (:meth:`Builder.site`);
- the nodes (ids from the source's keys), the image plans and the levels: the levels the data
  has, the optional ones (series, section) only where ``targets_per_level`` names a count;
- a check that every target level can be filled, saying what to lower when it cannot;
- the bad-input policy and the count of skipped inputs with their reasons (the manifest's
  ``skipped``), the source's licence, its options class, and the registry.
"""

from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from medforget.config import BuildConfig, check_types, suggest
from medforget.dataset import Licence, Skipped
from medforget.errors import ConfigError, SourceError
from medforget.hierarchy import Attribute, Hierarchy, Image, ImageSource, Node, StudyImagePlan, make_node_id
from medforget.registry import Registry

if TYPE_CHECKING:
    from medforget.builders.identities import IdentityFactory

logger = logging.getLogger(__name__)

POLICIES = ("raise", "warn", "skip")
#: every level a source may give, top to bottom; the hierarchy keeps those the data has
LEVELS = ("network", "institution", "patient", "study", "series", "section")
#: levels kept only when ``targets_per_level`` names a count for them (leaves of a study)
OPTIONAL_LEVELS = ("series", "section")

P = TypeVar("P")  # a source's own patient: whatever it groups a patient's studies in


@dataclass(frozen=True)
class SourceOptions:
    """A source's own settings (``source_options:`` in a config file; ``--root``, ``--images``
    and ``--option KEY=VALUE`` on the command line). A source with options subclasses this
    frozen dataclass; this one has none."""

    @classmethod
    def parse(cls, source: str, values: Mapping[str, Any]) -> SourceOptions:
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in fields:
                known = f"{suggest(key, fields)}" if fields else " (it takes none)"
                raise ConfigError(f"the {source} source has no option {key!r}{known}")
        return cls(**check_types(cls, values, "source_options."))


@dataclass(frozen=True)
class StudyRecord:
    """One study as a source gives it: the base makes its node, the series and section nodes
    under it, and its image plan."""

    key: str  # unique in the source: the study's node id derives from it
    attributes: tuple[Attribute, ...]
    #: (name, fact sentence) of the report's usable sections, in node order; the node's id
    #: derives from the name, its ``section`` attribute reads it in lower case
    sections: tuple[tuple[str, str], ...] = ()
    #: (key, attributes) of the study's series nodes, where the source has series (DICOM)
    series: tuple[tuple[str, tuple[Attribute, ...]], ...] = ()
    #: canonical findings the rendered image shows (:mod:`medforget.builders.findings`)
    findings: tuple[str, ...] = ()
    #: real pixels: an image file PIL opens, or an :class:`ImageSource`; None: rendered
    real_image: Path | ImageSource | None = None
    #: the image, when the source has made it already (see :class:`StudyImagePlan`)
    image: Image | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PatientRecord:
    """One patient as a source gives it."""

    key: str  # unique in the source: the patient's node id derives from it
    attributes: tuple[Attribute, ...]
    studies: tuple[StudyRecord, ...]


@dataclass(frozen=True)
class Patients(Generic[P]):
    """What a source read: the patients it chose, and the findings of the studies it left unused
    (the utility images draw their profiles from them)."""

    chosen: Sequence[P]
    spare_findings: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class SourceData:
    """A source's output: the hierarchy, the image plan, and findings profiles left unused."""

    hierarchy: Hierarchy
    images: tuple[StudyImagePlan, ...]
    spare_findings: tuple[tuple[str, ...], ...] = ()


@dataclass
class SkipLog:
    """Bad inputs met during a build: raised, warned or skipped by policy, always counted."""

    policy: str = "skip"
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ConfigError(f"unknown bad-input policy {self.policy!r}; use one of {POLICIES}")

    def skip(self, item: str, reason: str) -> None:
        if self.policy == "raise":
            raise SourceError(f"{item}: {reason} (run with the skip policy to count and skip it)")
        if self.policy == "warn":
            logger.warning("skipping %s: %s", item, reason)
        self.count(item, reason)

    def count(self, item: str, reason: str) -> None:
        """Count ``item`` under ``reason`` whatever the policy (a drop that is not a bad input)."""
        self.reasons[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(item)

    def entries(self) -> tuple[Skipped, ...]:
        """What the manifest records: each reason, its count and up to five examples."""
        return tuple(
            Skipped(reason, count, tuple(self.examples[reason])) for reason, count in sorted(self.reasons.items())
        )


class Builder(ABC, Generic[P]):
    """Base of every source. Subclasses set the class attributes and implement :meth:`read`,
    :meth:`patient` and :meth:`patient_key`; :meth:`load` is the same for all."""

    name: ClassVar[str]
    version: ClassVar[str]
    licence: ClassVar[Licence]
    description: str  # a class attribute; a source may say more per build (DICOM: its key policy)
    citation: ClassVar[str]  # BibTeX of the source, carried into the manifest and the card
    #: what of the hierarchy is real and what synthetic, for the card (``hierarchy``, ``real``,
    #: ``synthetic``, ``identifiers``); None: the card's default wording
    provenance: ClassVar[Mapping[str, str] | None] = None
    #: the source's own settings, parsed from ``BuildConfig.source_options``
    Options: ClassVar[type[SourceOptions]] = SourceOptions

    def __init__(self, config: BuildConfig, skips: SkipLog, num_proc: int = 1):
        self.config = config
        self.options = self.Options.parse(self.name, config.source_options)
        self.skips = skips
        #: processes a source may spread its per-file work over (``medforget.workers.pmap``)
        self.num_proc = num_proc

    # what a source implements ------------------------------------------------------------

    @abstractmethod
    def read(self) -> Patients[P]:
        """Read the source: the patients to build from (trained and held out alike)."""

    @abstractmethod
    def patient(self, patient: P) -> PatientRecord:
        """One patient's attributes and studies. Called in the hierarchy's order, so identities
        drawn here (:attr:`identities`) do not depend on the order :meth:`read` listed them in."""

    @abstractmethod
    def patient_key(self, patient: P) -> str:
        """A stable key of the patient: synthetic sites are ordered and named by the smallest
        key of their patients."""

    def site(self, patient: P) -> str | None:
        """The real institution a patient belongs to (its key), or None: patients are dealt into
        synthetic institutions and networks (the default)."""
        return None

    def institution(self, site: str, patients: Sequence[P]) -> tuple[Attribute, ...]:
        """The attributes of a real institution (a source whose :meth:`site` names one)."""
        raise NotImplementedError(f"the {self.name} source names real sites but gives no institution attributes")

    def fingerprint(self) -> str | None:
        """sha256 identifying the source's input, recorded in the manifest (``sources[].archive_sha256``)
        so builds from different data are never compared. Default: the file :meth:`archive` returns,
        when the builder has one; folder sources override it (e.g. a hash of their index files)."""
        archive = getattr(self, "archive", None)
        if not callable(archive):
            return None
        from medforget.outputs import sha256_file  # pyarrow: imported only when a manifest is written

        return sha256_file(archive())

    @cached_property
    def identities(self) -> IdentityFactory:
        """Fictitious identities, seeded per entity by the build's seed (Faker: made on first use)."""
        from medforget.builders.identities import IdentityFactory

        return IdentityFactory(self.config.seed)

    def study_keys(self) -> set[str]:
        """The source key of every study this build holds, holdout patients included."""
        return {study.key for patient in self.read().chosen for study in self.patient(patient).studies}

    # the template ------------------------------------------------------------------------

    def load(self) -> SourceData:
        """The hierarchy and image plan of what :meth:`read` chose."""
        read = self.read()
        plans: list[StudyImagePlan] = []
        nodes = self._sites(read.chosen, lambda patient, parent: self._patient_nodes(patient, parent, plans))
        levels = self._levels(nodes)
        hierarchy = Hierarchy([n for n in nodes if n.level in levels], levels)
        self._check_fillable(hierarchy)
        return SourceData(hierarchy=hierarchy, images=tuple(plans), spare_findings=read.spare_findings)

    def _sites(self, patients: Sequence[P], below: Callable[[P, str], list[Node]]) -> list[Node]:
        from medforget.builders.sites import real_sites, synthetic_sites  # Faker: made only when loading

        sites = [self.site(p) for p in patients]
        if all(s is None for s in sites):
            return synthetic_sites(self.name, self.config, self.identities, patients, self.patient_key, below)
        if any(s is None for s in sites):
            raise SourceError(f"the {self.name} source names the site of some patients only")
        return real_sites(self.name, patients, self.site, self.institution, below)

    def _patient_nodes(self, item: P, parent: str, plans: list[StudyImagePlan]) -> list[Node]:
        patient = self.patient(item)
        node = self._node("patient", patient.key, parent, patient.attributes)
        nodes = [node]
        for study in patient.studies:
            nodes.extend(self._study_nodes(study, node.id))
            plans.append(
                StudyImagePlan(
                    make_node_id("study", self.name, study.key),
                    node.id,
                    study.findings,
                    real_image=study.real_image,
                    image=study.image,
                )
            )
        return nodes

    def _study_nodes(self, study: StudyRecord, parent: str) -> list[Node]:
        node = self._node("study", study.key, parent, study.attributes)
        series = [self._node("series", key, node.id, attributes) for key, attributes in study.series]
        sections = [
            Node(
                id=make_node_id("section", self.name, study.key, name),
                level="section",
                parent_id=node.id,
                source_key=f"{study.key}/{name}",
                attributes=(Attribute("section", name.lower(), "section"), Attribute("text", text, "text")),
            )
            for name, text in study.sections
        ]
        return [node, *series, *sections]

    def _node(self, level: str, key: str, parent: str, attributes: tuple[Attribute, ...]) -> Node:
        return Node(
            id=make_node_id(level, self.name, key),
            level=level,
            parent_id=parent,
            source_key=key,
            attributes=attributes,
        )

    def _levels(self, nodes: Sequence[Node]) -> tuple[str, ...]:
        """The levels the data has, top to bottom; an optional one only where ``targets_per_level``
        names a count for it."""
        present = {n.level for n in nodes}
        levels = []
        for level in LEVELS:
            if level not in present:
                continue
            if level in OPTIONAL_LEVELS and level not in self.config.targets_per_level:
                logger.warning(
                    "the %s source has %s nodes, but targets_per_level names no %s count: the %s level is "
                    "left out (add %s: N to targets_per_level to keep it)",
                    self.name,
                    level,
                    level,
                    level,
                    level,
                )
                continue
            levels.append(level)
        return tuple(levels)

    def _check_fillable(self, hierarchy: Hierarchy) -> None:
        """Each target level needs as many nodes with a sibling as it has targets, and held-out
        patients need institutions with another patient: else say what to lower, before the
        split step fails deeper down."""
        wanted = self.config.targets_per_level
        for level in hierarchy.target_levels:
            with_sibling = sum(1 for n in hierarchy.at_level(level) if hierarchy.siblings(n.id))
            need = wanted.get(level)
            if need is None:
                raise ConfigError(
                    f"targets_per_level names no count for level {level!r}; give one for each of "
                    f"{hierarchy.target_levels}"
                )
            if with_sibling < need:
                raise SourceError(
                    f"the {self.name} source has {with_sibling} {level} nodes with a sibling (same parent), and "
                    f"targets_per_level asks for {need} {level} targets, each needing one; lower "
                    f"targets_per_level[{level!r}] to at most {max(with_sibling - 1, 1)} or add data"
                )
        spare = sum(max(len(hierarchy.children(s.id)) - 1, 0) for s in hierarchy.at_level("institution"))
        if spare < self.config.n_holdout_patients:
            raise SourceError(
                f"the {self.name} source allows {spare} held-out patients (each institution keeps one trained "
                f"patient), and n_holdout_patients is {self.config.n_holdout_patients}; lower it or add patients"
            )


BUILDERS: Registry[type[Builder[Any]]] = Registry("source", providers="medforget.builders")
