"""Unlearning methods: the gradient baselines (GA, GD, KL, NPO) on one shared trainer, a
pruning comparator, and CHIP. ``medforget unlearn`` runs any of them through
:func:`medforget.unlearning.run.unlearn`."""

from medforget.unlearning import chip, gradient, pruning  # noqa: F401  (register the methods)
from medforget.unlearning.base import METHODS

__all__ = ["METHODS"]
