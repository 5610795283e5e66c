"""The fine-tuning protocol for real checkpoints (docs/benchmark.md section 7): LoRA rank 16, alpha
16, dropout 0.05, AdamW lr 1e-4, on every linear layer of the language model, vision tower
frozen; ``accelerate`` for one or many GPUs, bf16 and gradient accumulation.

    accelerate launch -m medforget train --base-model llava-hf/llava-1.5-7b-hf --dataset medforget \\
        --out models/llava-target          # local path; the Hub is not reached here

Runs on CPU (fp32) for tiny models, which is how the tests exercise it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from medforget.errors import MedForgetError

LORA_VERSION = "1.0.0"


@dataclass(frozen=True)
class LoraRecipe:
    rank: int = 16
    alpha: int = 16
    dropout: float = 0.05
    learning_rate: float = 1e-4
    epochs: int = 3
    batch_size: int = 4
    gradient_accumulation: int = 4
    bf16: bool = True  # on GPUs; CPUs train in fp32
    seed: int = 0
    max_rows: int | None = None


def language_linear_modules(model: Any) -> list[str]:
    """Names of every ``nn.Linear`` inside the language model (not the vision tower, the
    projector or the output head): LoRA's targets."""
    import torch

    language = getattr(getattr(model, "model", model), "language_model", None)
    if language is None:
        raise MedForgetError(f"{type(model).__name__} has no model.language_model; add its layout to lora.py")
    prefix = next(name for name, module in model.named_modules() if module is language)
    return sorted(
        f"{prefix}.{name}" for name, module in language.named_modules() if isinstance(module, torch.nn.Linear)
    )


def freeze_vision(model: Any) -> int:
    """Freeze the vision tower (the family's ``vision_tower``: LLaVA's, Qwen2.5-VL's ``visual``);
    returns how many parameters were frozen."""
    from medforget.models.families import family_of

    tower = getattr(getattr(model, "model", model), family_of(model).vision_tower)
    frozen = 0
    for parameter in tower.parameters():
        parameter.requires_grad_(False)
        frozen += parameter.numel()
    return frozen


def finetune_lora(
    base: Path, dataset: Path, out: Path, recipe: LoraRecipe, without: tuple[str, str] | None = None
) -> dict[str, Any]:
    """Fine-tune a LoRA adapter on ``dataset``'s train config (less ``without``) into ``out``."""
    import torch
    from accelerate import Accelerator
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from medforget.dataset import load_rows
    from medforget.models.chat import TrainingCollator
    from medforget.models.families import load_processor
    from medforget.reproducibility import machine
    from medforget.training.data import training_rows

    start = time.perf_counter()
    use_bf16 = recipe.bf16 and torch.cuda.is_available()
    accelerator = Accelerator(
        mixed_precision="bf16" if use_bf16 else "no", gradient_accumulation_steps=recipe.gradient_accumulation
    )
    torch.manual_seed(recipe.seed)
    processor = load_processor(base)
    model = AutoModelForImageTextToText.from_pretrained(base)
    freeze_vision(model)
    config = LoraConfig(
        r=recipe.rank,
        lora_alpha=recipe.alpha,
        lora_dropout=recipe.dropout,
        target_modules=language_linear_modules(model),
    )
    model = get_peft_model(model, config)
    rows = training_rows(load_rows(dataset, "train", "train"), dataset, without, recipe.max_rows, recipe.seed)
    loader = torch.utils.data.DataLoader(
        rows,
        batch_size=recipe.batch_size,
        shuffle=True,
        collate_fn=TrainingCollator(processor),
        generator=torch.Generator().manual_seed(recipe.seed),
    )
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=recipe.learning_rate, fused=True)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    model.train()
    losses = []
    for _ in range(recipe.epochs):
        for batch in loader:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad()
            losses.append(loss.item())
    accelerator.wait_for_everyone()
    record = {
        "lora_version": LORA_VERSION,
        "base_model": str(base),
        "without": list(without) if without else None,
        "recipe": asdict(recipe),
        "rows": len(rows),
        "steps": len(losses),
        "final_loss": sum(losses[-10:]) / max(1, len(losses[-10:])),
        "seconds": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(out)
        processor.save_pretrained(out)
        (out / "medforget_training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record
