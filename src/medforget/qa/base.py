"""What every QA generator is, and the registry of them: the build's QA step asks
:func:`qa_generator` for the one its config names and calls :meth:`QAGenerator.generate`.

A generator is a class registered in :data:`QA_GENERATORS` by its module in this package (found
on the first lookup), with a ``name``, a one-line ``description`` and ``from_config``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from medforget.registry import Registry

if TYPE_CHECKING:
    from medforget.builders.base import SkipLog
    from medforget.config import BuildConfig
    from medforget.hierarchy import Hierarchy, Image, QAItem
    from medforget.splits import SplitPlan


class QAGenerator(Protocol):
    """Writes the QA rows of a hierarchy (the build's QA step)."""

    name: ClassVar[str]
    description: ClassVar[str]

    @classmethod
    def from_config(cls, config: BuildConfig) -> QAGenerator: ...

    def generate(
        self, hierarchy: Hierarchy, images: Sequence[Image], plan: SplitPlan, skips: SkipLog
    ) -> list[QAItem]: ...

    def record(self) -> dict[str, Any] | None:
        """What the manifest keeps of this generator beyond the template versions (None: nothing)."""
        ...


QA_GENERATORS: Registry[type[QAGenerator]] = Registry("QA generator", providers="medforget.qa")


def qa_generator(config: BuildConfig) -> QAGenerator:
    """Templates, or templates reworded and extended by an LLM when ``config.llm`` is set."""
    return QA_GENERATORS.get("templates" if config.llm is None else "llm").from_config(config)
