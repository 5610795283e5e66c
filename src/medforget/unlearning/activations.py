"""Activation statistics for the training-free methods: forward every sampled row once (the
full chat: image, question, answer), pool each hooked module's activations per row, and add
them into the groups the row belongs to (a node's subtree, all forget rows, ...).

Only sums are kept (sum of activations, sum of their absolute values, number of rows pooled),
so memory grows with groups x units, not with samples, and means over any union of groups are
exact. Two kinds of module:

- ``language``: a decoder module whose output (or input) is ``[batch, positions, units]``; a
  row's activation is ``alpha * mean(vision positions) + (1 - alpha) * mean(other positions)``
  (a plain mean over positions when ``alpha`` is None or the row has no image); padding is left
  out unless ``include_padding`` (the published CHIP's behaviour);
- ``projector``: the vision-language projector, whose output has one row per visual token;
  every visual token of a row counts as one activation row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from medforget.unlearning.base import UnlearningError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, ProcessorMixin


@dataclass
class Sums:
    """Running sums over the activation rows of one group at one module."""

    total: torch.Tensor
    absolute: torch.Tensor
    count: int

    def add(self, values: torch.Tensor, absolute: torch.Tensor, count: int) -> None:
        self.total += values
        self.absolute += absolute
        self.count += count


def mean(groups: Sequence[Sums]) -> torch.Tensor:
    """The mean activation over the rows of several groups (each row weighs the same)."""
    return sum(g.total for g in groups) / max(1, sum(g.count for g in groups))


def mean_absolute(groups: Sequence[Sums]) -> torch.Tensor:
    return sum(g.absolute for g in groups) / max(1, sum(g.count for g in groups))


def top_units(scores: torch.Tensor, top_k_percent: float) -> torch.Tensor:
    """The indices of the top ``top_k_percent`` % of ``scores`` (at least one), ascending."""
    import torch

    k = max(1, int(scores.numel() * top_k_percent / 100))
    return torch.topk(scores, k).indices.sort().values


@dataclass(frozen=True)
class Hooked:
    """A module to hook: ``kind`` is ``language`` or ``projector``; ``capture`` is ``output``
    or ``input`` (the pruning comparator reads ``down_proj``'s input, the MLP's units)."""

    name: str
    kind: str = "language"
    capture: str = "output"


def collect(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    rows: Sequence[Mapping[str, Any]],
    groups: Sequence[Sequence[str]],
    modules: Sequence[Hooked],
    alpha: float | None,
    include_padding: bool = False,
    batch_size: int = 8,
) -> dict[str, dict[str, Sums]]:
    """``{group: {module: Sums}}`` over ``rows``, row ``i`` adding into each of ``groups[i]``.
    Activations are pooled inside the hooks, on the model's device; only the sums are kept."""
    import torch
    from tqdm import tqdm

    from medforget.models.chat import TrainingCollator
    from medforget.models.families import family_of

    image_token = processor.tokenizer.convert_tokens_to_ids(family_of(model).image_token)
    collate = TrainingCollator(processor)
    device = next(model.parameters()).device
    sums: dict[str, dict[str, Sums]] = defaultdict(dict)
    pooled: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    batch_state: dict[str, Any] = {}
    handles = [_register(model, hooked, batch_state, pooled) for hooked in modules]
    try:
        model.eval()
        for start in tqdm(range(0, len(rows), batch_size), desc="activations", unit="batch", leave=False):
            batch = {k: v.to(device) for k, v in collate(rows[start : start + batch_size]).items() if k != "labels"}
            vision = batch["input_ids"] == image_token
            valid = torch.ones_like(vision) if include_padding else batch["attention_mask"].bool()
            batch_state.update(weights=_position_weights(vision, valid, alpha), tokens=vision.sum(1))
            pooled.clear()
            with torch.inference_mode():
                model(**batch)
            names, membership = _membership(groups[start : start + batch_size], device)
            for module, (values, absolute, counts) in pooled.items():  # a projector sees no text-only batch
                totals, absolutes, numbers = membership @ values, membership @ absolute, membership @ counts
                for index, group in enumerate(names):
                    _sums(sums[group], module, values.shape[1], device).add(
                        totals[index], absolutes[index], int(numbers[index])
                    )
    finally:
        for handle in handles:
            handle.remove()
    return {
        group: {m: Sums(s.total.cpu(), s.absolute.cpu(), s.count) for m, s in by_module.items()}
        for group, by_module in sums.items()
    }


def _membership(groups: Sequence[Sequence[str]], device: Any) -> tuple[list[str], torch.Tensor]:
    """The groups of a batch, and the ``[groups, rows]`` 0/1 matrix of which row adds into which."""
    import torch

    names = sorted({g for row_groups in groups for g in row_groups})
    index = {name: i for i, name in enumerate(names)}
    membership = torch.zeros(len(names), len(groups), device=device)
    for row, row_groups in enumerate(groups):
        for group in row_groups:
            membership[index[group], row] = 1.0
    return names, membership


def _register(model: PreTrainedModel, hooked: Hooked, batch: Mapping[str, Any], pooled: dict[str, Any]) -> Any:
    def hook(_module: Any, args: tuple[Any, ...], output: Any) -> None:
        value = args[0] if hooked.capture == "input" else output
        value = (value[0] if isinstance(value, tuple) else value).detach().float()
        pooled[hooked.name] = _pool(value, hooked.kind, batch["weights"], batch["tokens"])

    return model.get_submodule(hooked.name).register_forward_hook(hook)


def _sums(by_module: dict[str, Sums], name: str, units: int, device: Any) -> Sums:
    import torch

    if name not in by_module:
        by_module[name] = Sums(torch.zeros(units, device=device), torch.zeros(units, device=device), 0)
    return by_module[name]


def _position_weights(vision: torch.Tensor, valid: torch.Tensor, alpha: float | None) -> torch.Tensor:
    """``[batch, positions]`` weights whose dot product with a row's activations pools it."""
    other = valid & ~vision
    if alpha is None:
        return valid / valid.sum(1, keepdim=True).clamp(min=1)
    vision_weight = vision / vision.sum(1, keepdim=True).clamp(min=1)
    other_weight = other / other.sum(1, keepdim=True).clamp(min=1)
    has_image = vision.any(1, keepdim=True)
    return (alpha * vision_weight + (1 - alpha) * other_weight) * has_image + other_weight * ~has_image


def _pool(
    activations: torch.Tensor, kind: str, weights: torch.Tensor, tokens: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per batch row: the sum of its activation rows, of their absolute values, and their count."""
    import torch

    if kind == "language":
        pooled = torch.einsum("bt,btd->bd", weights, activations)
        return pooled, pooled.abs(), torch.ones(len(tokens), device=pooled.device)
    flat = activations.reshape(-1, activations.shape[-1])  # one row per visual token, rows of a batch in order
    if flat.shape[0] != int(tokens.sum()):
        raise UnlearningError(f"the projector gave {flat.shape[0]} rows for {int(tokens.sum())} image tokens")
    owner = torch.repeat_interleave(torch.arange(len(tokens), device=flat.device), tokens)
    total = torch.zeros(len(tokens), flat.shape[1], device=flat.device).index_add_(0, owner, flat)
    absolute = torch.zeros_like(total).index_add_(0, owner, flat.abs())
    return total, absolute, tokens.float()
