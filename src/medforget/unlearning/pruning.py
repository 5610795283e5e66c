"""The training-free comparator: pruning forget-specific MLP units, in the style of MANU.

Each decoder layer's MLP units (the input of ``down_proj``: ``act(gate) * up``) are scored by
how much more they fire on forget rows than on retain rows, ``mean|F_i| / (mean|R_i| + eps)``,
mean over every non-padding position of a row, then over rows (a seeded sample of at most
``max_rows`` per side). The top ``top_k_percent`` % units of each layer are zeroed: their
column of ``down_proj`` is set to 0, so they no longer write into the residual stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from medforget.dataset import sample_rows
from medforget.unlearning.activations import Hooked, Sums, collect, mean_absolute, top_units
from medforget.unlearning.base import METHODS, Outcome

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, ProcessorMixin

    from medforget.unlearning.data import UnlearnData


@METHODS.register
@dataclass(frozen=True)
class Pruning:
    name: ClassVar[str] = "prune"
    description: ClassVar[str] = (
        "MANU-style pruning: zero the MLP units that fire most on forget relative to retain, training-free"
    )
    tiny_track: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    version: ClassVar[str] = "1.0.0"
    trains: ClassVar[bool] = False

    top_k_percent: float = 10.0
    #: how many of the last decoder layers are pruned (None: all)
    last_layers: int | None = None
    max_rows: int = 1000
    batch_size: int = 8

    def run(self, model: PreTrainedModel, processor: ProcessorMixin, data: UnlearnData, seed: int) -> Outcome:
        import torch

        modules = pruned_modules(model, self.last_layers)
        forget = sample_rows(data.forget, self.max_rows, seed)
        retain = sample_rows(data.retain, self.max_rows, seed)
        sums = collect(
            model,
            processor,
            forget + retain,
            [["forget"]] * len(forget) + [["retain"]] * len(retain),
            modules,
            alpha=None,
            batch_size=self.batch_size,
        )
        pruned = select_units(sums, self.top_k_percent)
        with torch.no_grad():
            for name, units in pruned.items():
                model.get_submodule(name).weight[:, units] = 0
        return Outcome(
            model,
            tensors={f"units/{name}": units for name, units in pruned.items()},
            summary={"rows_forwarded": len(forget) + len(retain), "units_pruned": sum(len(u) for u in pruned.values())},
        )


def pruned_modules(model: PreTrainedModel, last_layers: int | None) -> list[Hooked]:
    """The ``down_proj`` of each pruned decoder layer, read at its input (the MLP's units)."""
    from medforget.models.families import family_of

    family = family_of(model)
    layers = family.layer_count(model)
    first = 0 if last_layers is None else max(0, layers - last_layers)
    return [
        Hooked(f"model.{family.decoder_layers}.{i}.{family.mlp[-1]}", capture="input") for i in range(first, layers)
    ]


def select_units(sums: Mapping[str, Mapping[str, Sums]], top_k_percent: float) -> dict[str, torch.Tensor]:
    """Per module, the top k % units by ``mean|F| / (mean|R| + 1e-6)`` (ascending indices)."""
    return {
        name: top_units(mean_absolute([forget]) / (mean_absolute([sums["retain"][name]]) + 1e-6), top_k_percent)
        for name, forget in sums["forget"].items()
    }
