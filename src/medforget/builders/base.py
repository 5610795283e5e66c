"""The builder base: a source turns its own files into a :class:`SourceData`.

The base owns what every source shares: the bad-input policy and the count of skipped inputs
with their reasons (recorded in the manifest), the source's licence, and the registry. A source
adds only how to list and read its items.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from medforget.config import BuildConfig
from medforget.errors import ConfigError, SourceError
from medforget.hierarchy import Hierarchy, StudyImagePlan
from medforget.registry import Registry

logger = logging.getLogger(__name__)

POLICIES = ("raise", "warn", "skip")


@dataclass(frozen=True)
class Licence:
    """A source's licence, carried into the manifest and the card."""

    spdx: str
    url: str
    redistribution: str  # what may be published of data derived from the source, in words
    #: whether data derived from the source may go to a public repository; when False,
    #: ``medforget publish`` needs an explicit acknowledgement and a private repository
    public_derivatives: bool


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
        self.reasons[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 5:
            self.examples[reason].append(item)

    def to_record(self) -> list[dict[str, object]]:
        return [
            {"reason": reason, "count": count, "examples": self.examples[reason]}
            for reason, count in sorted(self.reasons.items())
        ]


class Builder(ABC):
    """Base of every source. Subclasses set the class attributes and implement :meth:`load`."""

    name: ClassVar[str]
    version: ClassVar[str]
    licence: ClassVar[Licence]
    description: str  # a class attribute; a source may say more per build (DICOM: its key policy)
    citation: ClassVar[str]  # BibTeX of the source, carried into the manifest and the card
    #: what of the hierarchy is real and what synthetic, for the card (``hierarchy``, ``real``,
    #: ``synthetic``, ``identifiers``); None: the card's default wording
    provenance: ClassVar[Mapping[str, str] | None] = None

    def __init__(self, config: BuildConfig, skips: SkipLog, num_proc: int = 1):
        self.config = config
        self.skips = skips
        #: processes a source may spread its per-file work over (``medforget.workers.pmap``)
        self.num_proc = num_proc

    @abstractmethod
    def load(self) -> SourceData:
        """Read the source and return its hierarchy and image plan."""

    def fingerprint(self) -> str | None:
        """sha256 identifying the source's input, recorded in the manifest (``sources[].archive_sha256``)
        so builds from different data are never compared. Default: the file :meth:`archive` returns,
        when the builder has one; folder sources override it (e.g. a hash of their index files)."""
        archive = getattr(self, "archive", None)
        if not callable(archive):
            return None
        from medforget.outputs import sha256_file  # pyarrow: imported only when a manifest is written

        return sha256_file(archive())


BUILDERS: Registry[type[Builder]] = Registry("source", providers="medforget.builders")
