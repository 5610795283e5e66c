"""Why a training-free edit moves a model or does not: how much of the forget answers'
log-probability runs through the units CHIP selects, and how much of that its edit removes.

For each side (forget rows, retain rows) three teacher-forced measurements of the mean answer
token log-probability: the model as it is, the model with the selected units' outputs zeroed
(what runs *through* them), and the model after CHIP's projection (what the edit removes). A
method that barely moves the metrics with ``through`` large and ``removed`` small is a weak edit;
with ``through`` near zero, the knowledge does not run through the units it may touch, and no
projection on them can remove it: that is the model, not the implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medforget.dataset import sample_rows
from medforget.unlearning.chip import Chip, chip, hooked_modules


@dataclass(frozen=True)
class Diagnosis:
    """Mean answer-token log-probability of one side's rows under three models.

    Attributes:
        side: ``forget`` or ``retain``.
        rows: how many rows were measured.
        before: the model as it is.
        ablated: the selected units' outputs zeroed in every hooked module.
        edited: after CHIP's projection.
    """

    side: str
    rows: int
    before: float
    ablated: float
    edited: float

    @property
    def through(self) -> float:
        """How much log-probability the selected units carry (before - ablated)."""
        return self.before - self.ablated

    @property
    def removed(self) -> float:
        """The share of it the edit removes ((before - edited) / through); NaN when nothing runs through."""
        return (self.before - self.edited) / self.through if abs(self.through) > 1e-12 else float("nan")


def diagnose_chip(
    checkpoint: Path, dataset: Path, level: str, config: Chip, seed: int = 0, max_rows: int = 200
) -> list[Diagnosis]:
    """CHIP's edit at ``level`` of ``dataset`` on ``checkpoint``, measured on a seeded sample of
    at most ``max_rows`` forget and retain rows each (the edit itself sees every row, as
    ``medforget unlearn`` runs it)."""
    from medforget.models.adapters import TransformersAdapter
    from medforget.unlearning.data import load_unlearn_data

    data = load_unlearn_data(dataset, level)
    sides = {
        "forget": sample_rows(data.forget, max_rows, seed),
        "retain": sample_rows(data.retain, max_rows, seed),
    }
    adapter = TransformersAdapter(checkpoint, batch_size=config.batch_size, memoise=False)  # its model is edited
    before = {side: _mean(adapter, rows) for side, rows in sides.items()}
    modules = {
        hooked.name: adapter.model.get_submodule(hooked.name) for hooked in hooked_modules(adapter.model, config)
    }
    originals = {name: module.weight.detach().clone() for name, module in modules.items()}  # all CHIP edits
    found = chip(adapter.model, adapter.processor, data, config, seed)  # edits adapter.model in place
    edited = {side: _mean(adapter, rows) for side, rows in sides.items()}
    for name, weight in originals.items():  # the model as it was, so it is loaded once
        modules[name].weight.data.copy_(weight)
    handles = _zeroing(modules, found["units"])
    try:
        ablated = {side: _mean(adapter, rows) for side, rows in sides.items()}
    finally:
        for handle in handles:
            handle.remove()
    return [Diagnosis(side, len(rows), before[side], ablated[side], edited[side]) for side, rows in sides.items()]


def _mean(adapter: Any, rows: Sequence[Mapping[str, Any]]) -> float:
    logprobs = [value for row in adapter.answer_logprobs(rows) for value in row]
    return sum(logprobs) / max(1, len(logprobs))


def _zeroing(modules: Mapping[str, Any], units: Mapping[str, Any]) -> list[Any]:
    """Forward hooks that zero the selected output units of every module CHIP edits."""

    def zero(module: Any, inputs: Any, output: Any, selected: Any) -> Any:
        output = output.clone()
        output[..., selected] = 0
        return output

    return [
        modules[name].register_forward_hook(lambda m, i, o, selected=selected: zero(m, i, o, selected))
        for name, selected in units.items()
        if name in modules
    ]


def table(diagnoses: Sequence[Diagnosis]) -> list[str]:
    """The diagnosis as aligned lines."""
    lines = [f"{'rows':<8}{'n':>6}{'before':>10}{'ablated':>10}{'edited':>10}{'through':>10}{'removed':>10}"]
    for d in diagnoses:
        lines.append(
            f"{d.side:<8}{d.rows:>6}{d.before:>10.4f}{d.ablated:>10.4f}{d.edited:>10.4f}{d.through:>10.4f}"
            f"{d.removed:>10.3f}"
        )
    return lines
