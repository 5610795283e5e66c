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


@dataclass(frozen=True)
class Hooked:
    """A module to hook: ``kind`` is ``language`` or ``projector``; ``capture`` is ``output``
    or ``input`` (the pruning comparator reads ``down_proj``'s input, the MLP's units)."""

    name: str
    kind: str = "language"
    capture: str = "output"


def collect(model: Any, processor: Any, rows: Sequence[Mapping[str, Any]], groups: Sequence[Sequence[str]],
            modules: Sequence[Hooked], alpha: float | None, include_padding: bool = False,
            batch_size: int = 8) -> dict[str, dict[str, Sums]]:
    """``{group: {module: Sums}}`` over ``rows``, row ``i`` adding into each of ``groups[i]``."""
    import torch

    from medforget.models.chat import TrainingCollator
    from medforget.models.families import family_of

    image_token = processor.tokenizer.convert_tokens_to_ids(family_of(model).image_token)
    collate = TrainingCollator(processor)
    sums: dict[str, dict[str, Sums]] = defaultdict(dict)
    state: dict[str, Any] = {}
    handles = [_register(model, hooked, state) for hooked in modules]
    device = next(model.parameters()).device
    try:
        model.eval()
        for start in range(0, len(rows), batch_size):
            batch = collate(rows[start : start + batch_size])
            batch.pop("labels")
            state.clear()
            with torch.inference_mode():
                model(**{k: v.to(device) for k, v in batch.items()})
            ids, valid = batch["input_ids"], batch["attention_mask"].bool()
            weights = _position_weights(ids == image_token, torch.ones_like(valid) if include_padding else valid, alpha)
            per_row_tokens = (ids == image_token).sum(1).tolist()
            for hooked in (m for m in modules if m.name in state):  # a projector sees no text-only batch
                values, absolute, counts = _pool(state[hooked.name], hooked.kind, weights, per_row_tokens)
                for offset, row_groups in enumerate(groups[start : start + batch_size]):
                    for group in row_groups:
                        _sums(sums[group], hooked.name, values.shape[1]).add(values[offset], absolute[offset],
                                                                             counts[offset])
    finally:
        for handle in handles:
            handle.remove()
    return dict(sums)


def _register(model: Any, hooked: Hooked, state: dict[str, Any]) -> Any:
    def hook(_module: Any, args: tuple[Any, ...], output: Any) -> None:
        value = args[0] if hooked.capture == "input" else output
        state[hooked.name] = (value[0] if isinstance(value, tuple) else value).detach().float().cpu()

    return model.get_submodule(hooked.name).register_forward_hook(hook)


def _sums(by_module: dict[str, Sums], name: str, units: int) -> Sums:
    import torch

    if name not in by_module:
        by_module[name] = Sums(torch.zeros(units), torch.zeros(units), 0)
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


def _pool(activations: torch.Tensor, kind: str, weights: torch.Tensor,
          per_row_tokens: list[int]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Per batch row: the sum of its activation rows, of their absolute values, and their count."""
    import torch

    if kind == "language":
        pooled = torch.einsum("bt,btd->bd", weights, activations)
        return pooled, pooled.abs(), [1] * len(per_row_tokens)
    tokens = activations.reshape(-1, activations.shape[-1])  # one row per visual token, rows of a batch in order
    if tokens.shape[0] != sum(per_row_tokens):
        raise UnlearningError(f"the projector gave {tokens.shape[0]} rows for {sum(per_row_tokens)} image tokens")
    parts = torch.split(tokens, per_row_tokens)
    return (torch.stack([p.sum(0) for p in parts]), torch.stack([p.abs().sum(0) for p in parts]), per_row_tokens)
