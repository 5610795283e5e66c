"""Unlearning methods: the gradient baselines (GA, GD, KL, NPO) on one shared trainer, a
pruning comparator, and CHIP, each registered in :data:`METHODS` by its module (found on the
first lookup; nothing lists them). ``medforget unlearn`` runs any of them through
:func:`medforget.unlearning.run.unlearn`."""

from medforget.unlearning.base import METHODS

__all__ = ["METHODS"]
