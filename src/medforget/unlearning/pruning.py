"""The training-free comparator: pruning forget-specific MLP units, in the style of MANU.

Each decoder layer's MLP units (the input of ``down_proj``: ``act(gate) * up``) are scored by
how much more they fire on forget rows than on retain rows, ``mean|F_i| / (mean|R_i| + eps)``,
mean over every non-padding position of a row, then over rows (a seeded sample of at most
``max_rows`` per side). The top ``top_k_percent`` % units of each layer are zeroed: their
column of ``down_proj`` is set to 0, so they no longer write into the residual stream.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar

from medforget.unlearning.activations import Hooked, collect, mean_absolute
from medforget.unlearning.base import METHODS, Outcome


@METHODS.register("prune")
@dataclass(frozen=True)
class Pruning:
    name: ClassVar[str] = "prune"
    version: ClassVar[str] = "1.0.0"
    trains: ClassVar[bool] = False

    top_k_percent: float = 10.0
    #: how many of the last decoder layers are pruned (None: all)
    last_layers: int | None = None
    max_rows: int = 1000
    batch_size: int = 8

    def run(self, model: Any, processor: Any, data: Any, seed: int) -> Outcome:
        import torch

        from medforget.models.families import family_of

        family = family_of(model)
        layers = family.layer_count(model)
        first = 0 if self.last_layers is None else max(0, layers - self.last_layers)
        down = family.mlp[-1]
        modules = [Hooked(f"model.{family.decoder_layers}.{i}.{down}", capture="input") for i in range(first, layers)]
        forget = _sample(data.forget, self.max_rows, seed)
        retain = _sample(data.retain, self.max_rows, seed)
        sums = collect(model, processor, forget + retain, [["forget"]] * len(forget) + [["retain"]] * len(retain),
                       modules, alpha=None, batch_size=self.batch_size)
        pruned = {}
        for hooked in modules:
            scores = mean_absolute([sums["forget"][hooked.name]]) / (mean_absolute([sums["retain"][hooked.name]]) + 1e-6)
            k = max(1, int(scores.numel() * self.top_k_percent / 100))
            units = torch.topk(scores, k).indices.sort().values
            with torch.no_grad():
                model.get_submodule(hooked.name).weight[:, units] = 0
            pruned[f"units/{hooked.name}"] = units
        return Outcome(model, tensors=pruned, summary={"rows_forwarded": len(forget) + len(retain),
                                                       "units_pruned": sum(len(u) for u in pruned.values())})


def _sample(rows: list[dict[str, Any]], cap: int, seed: int) -> list[dict[str, Any]]:
    return rows if len(rows) <= cap else random.Random(seed).sample(rows, cap)
