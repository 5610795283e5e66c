"""The builder base: a source turns its own files into a :class:`SourceData`.

The base owns what every source shares: the bad-input policy and the count of skipped inputs
with their reasons (recorded in the manifest), the source's licence, and the registry. A source
adds only how to list and read its items.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from medforget.config import BuildConfig
from medforget.errors import ConfigError, SourceError
from medforget.hierarchy import Hierarchy
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
class StudyImagePlan:
    """What the image step needs to make one study's image."""

    study_id: str
    anatomy_key: str  # studies with the same key look alike (the patient)
    findings: tuple[str, ...]
    real_image: Path | None = None


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
    description: ClassVar[str]
    citation: ClassVar[str]  # BibTeX of the source, carried into the manifest and the card

    def __init__(self, config: BuildConfig, skips: SkipLog):
        self.config = config
        self.skips = skips

    @abstractmethod
    def load(self) -> SourceData:
        """Read the source and return its hierarchy and image plan."""


BUILDERS: Registry[type[Builder]] = Registry("source")
