"""The gradient baselines (docs/benchmark.md section 7) on one shared trainer.

The trainer owns the loop: ``accelerate`` (one or many GPUs, bf16 where there is a GPU,
gradient accumulation), LoRA through ``peft`` (rank 16, alpha 16, dropout 0.05 on the language
model's linear layers, as in the fine-tuning protocol) or full weights, the vision tower frozen,
AdamW, gradient clipping, seeded batch order. Each method overrides one hook, :meth:`loss`:

- ``ga``: gradient ascent, ``-NLL(forget)``;
- ``gd``: gradient difference, ``-NLL(forget) + w * NLL(retain)``;
- ``kl``: KL minimisation, ``-NLL(forget) + w * KL(original || model)`` on retain answers;
- ``npo``: negative preference optimisation against the original model,
  ``-(2 / beta) * log sigmoid(-beta * (log p(forget) - log p_ref(forget)))``.

Checkpoint selection: the weights after the last step. None is chosen by evaluation scores,
which would tune the method on the test splits.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from medforget.unlearning.base import METHODS, Outcome

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, ProcessorMixin

    from medforget.unlearning.data import UnlearnData


@dataclass(frozen=True)
class GradientMethod:
    """The trainer's settings, shared by every gradient method (defaults for 7B checkpoints
    on GPUs)."""

    name: ClassVar[str]
    description: ClassVar[str]
    version: ClassVar[str] = "1.0.0"
    trains: ClassVar[bool] = True
    #: tiny models train all their weights (no LoRA), in fp32, 8 rows a batch
    tiny_track: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"lora": False, "learning_rate": 1e-5, "epochs": 5, "batch_size": 8, "bf16": False}
    )
    uses_retain: ClassVar[bool] = False
    uses_reference: ClassVar[bool] = False

    epochs: int = 5
    learning_rate: float = 1e-5
    batch_size: int = 4
    gradient_accumulation: int = 1
    max_grad_norm: float = 1.0
    lora: bool = True
    lora_rank: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    bf16: bool = True

    def loss(
        self, model: PreTrainedModel, forget: dict[str, Any], retain: dict[str, Any] | None, reference: Any
    ) -> torch.Tensor:
        raise NotImplementedError

    def run(self, model: PreTrainedModel, processor: ProcessorMixin, data: UnlearnData, seed: int) -> Outcome:
        return train(self, model, processor, data, seed)


@METHODS.register
@dataclass(frozen=True)
class GradientAscent(GradientMethod):
    name: ClassVar[str] = "ga"
    description: ClassVar[str] = "gradient ascent on the forget rows' answer loss"

    def loss(self, model, forget, retain, reference):
        return -model(**forget).loss


@METHODS.register
@dataclass(frozen=True)
class GradientDifference(GradientAscent):
    name: ClassVar[str] = "gd"
    description: ClassVar[str] = "gradient difference: ascent on forget, descent on retain"
    uses_retain: ClassVar[bool] = True
    retain_weight: float = 1.0

    def loss(self, model, forget, retain, reference):
        return super().loss(model, forget, retain, reference) + self.retain_weight * model(**retain).loss


@METHODS.register
@dataclass(frozen=True)
class KLMinimisation(GradientAscent):
    name: ClassVar[str] = "kl"
    description: ClassVar[str] = "gradient ascent on forget, KL to the original model on retain"
    uses_retain: ClassVar[bool] = True
    uses_reference: ClassVar[bool] = True
    retain_weight: float = 1.0

    def loss(self, model, forget, retain, reference):
        import torch.nn.functional as F

        logits = model(**_inputs(retain)).logits[:, :-1]
        original = reference(retain).logits[:, :-1]
        answer = retain["labels"][:, 1:] != -100
        per_token = F.kl_div(
            F.log_softmax(logits.float(), -1), F.log_softmax(original.float(), -1), log_target=True, reduction="none"
        ).sum(-1)
        kl = (per_token * answer).sum() / answer.sum().clamp(min=1)
        return super().loss(model, forget, retain, reference) + self.retain_weight * kl


@METHODS.register
@dataclass(frozen=True)
class NPO(GradientMethod):
    name: ClassVar[str] = "npo"
    description: ClassVar[str] = "negative preference optimisation against the original model (Zhang et al. 2024)"
    uses_reference: ClassVar[bool] = True
    beta: float = 0.1

    def loss(self, model, forget, retain, reference):
        import torch.nn.functional as F

        ratio = answer_logprob(model(**_inputs(forget)).logits, forget["labels"]) - answer_logprob(
            reference(forget).logits, forget["labels"]
        )
        return -(2 / self.beta) * F.logsigmoid(-self.beta * ratio).mean()


def answer_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per row, the summed log-probability of its answer tokens (labels other than -100)."""
    import torch

    targets = labels[:, 1:]
    logprobs = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (logprobs * (targets != -100)).sum(-1)


def _inputs(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if k != "labels"}


class _Reference:
    """The model before unlearning, frozen: a copy, or (under LoRA) the base with the adapter off."""

    def __init__(self, model: PreTrainedModel, lora: bool):
        self.model = model if lora else copy.deepcopy(model).eval().requires_grad_(False)
        self.lora = lora

    def __call__(self, batch: dict[str, Any]) -> Any:
        import contextlib

        import torch

        off = self.model.disable_adapter() if self.lora else contextlib.nullcontext()
        with torch.no_grad(), off:
            return self.model(**_inputs(batch))


def train(
    method: GradientMethod, model: PreTrainedModel, processor: ProcessorMixin, data: UnlearnData, seed: int
) -> Outcome:
    import torch
    from accelerate import Accelerator
    from tqdm import tqdm

    from medforget.models.chat import TrainingCollator
    from medforget.training.lora import freeze_vision, language_linear_modules

    accelerator = Accelerator(
        mixed_precision="bf16" if method.bf16 and torch.cuda.is_available() else "no",
        gradient_accumulation_steps=method.gradient_accumulation,
    )
    torch.manual_seed(seed)
    freeze_vision(model)
    if method.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=method.lora_rank,
                lora_alpha=method.lora_alpha,
                lora_dropout=method.lora_dropout,
                target_modules=language_linear_modules(model),
            ),
        )
    collate = TrainingCollator(processor)
    loaders = [
        torch.utils.data.DataLoader(
            rows,
            batch_size=method.batch_size,
            shuffle=True,
            collate_fn=collate,
            generator=torch.Generator().manual_seed(seed + offset),
        )
        for offset, rows in enumerate([data.forget] + ([data.retain] if method.uses_retain else []))
    ]
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=method.learning_rate, fused=True)
    model, optimizer, *loaders = accelerator.prepare(model, optimizer, *loaders)
    reference = _Reference(accelerator.unwrap_model(model), method.lora) if method.uses_reference else None
    retain = itertools.cycle(loaders[1]) if method.uses_retain else itertools.repeat(None)
    model.train()
    losses: list[float] = []
    for number in range(method.epochs):
        epoch = []
        for forget in tqdm(
            loaders[0],
            desc=f"{method.name} epoch {number + 1}/{method.epochs}",
            leave=False,
            disable=not accelerator.is_main_process,
        ):
            with accelerator.accumulate(model):
                loss = method.loss(model, forget, next(retain), reference)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), method.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            epoch.append(loss.item())
        losses.append(sum(epoch) / max(1, len(epoch)))
    model.eval()
    accelerator.wait_for_everyone()
    return Outcome(
        accelerator.unwrap_model(model),
        adapter=method.lora,
        summary={
            "batches": method.epochs * len(loaders[0]),
            "epoch_losses": [round(x, 4) for x in losses],
            "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "selection": "last step",
        },
    )
