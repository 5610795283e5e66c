"""The LoRA protocol for real checkpoints, exercised on CPU with small random LLaVA and Qwen2.5-VL models."""

from __future__ import annotations

import json
from pathlib import Path

from medforget.models.families import family_of
from medforget.training.lora import LoraRecipe, finetune_lora, freeze_vision, language_linear_modules


def test_lora_targets_every_language_linear_and_freezes_vision(any_checkpoint: Path):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(any_checkpoint)
    targets = language_linear_modules(model)
    assert targets and all(".language_model." in t for t in targets)
    assert {t.rsplit(".", 1)[1] for t in targets} == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert freeze_vision(model) > 0
    tower = getattr(model.model, family_of(model).vision_tower)
    assert not any(p.requires_grad for p in tower.parameters())


def test_finetune_writes_an_adapter_naming_its_base(any_checkpoint: Path, tiny_build: Path, tmp_path: Path):
    recipe = LoraRecipe(epochs=1, batch_size=4, gradient_accumulation=2, max_rows=8, learning_rate=1e-3)
    record = finetune_lora(any_checkpoint, tiny_build, tmp_path / "lora", recipe, without=("study", "forget"))
    config = json.loads((tmp_path / "lora" / "adapter_config.json").read_text())
    assert config["r"] == 16 and config["lora_alpha"] == 16 and config["lora_dropout"] == 0.05
    assert record["base_model"] == str(any_checkpoint) and record["rows"] == 8 and record["steps"] == 2
    assert (tmp_path / "lora" / "medforget_training.json").is_file()


def test_the_adapter_loads_for_evaluation(checkpoint: Path, tiny_build: Path, tmp_path: Path, tiny_rows):
    from medforget.models.adapters import TransformersAdapter

    finetune_lora(checkpoint, tiny_build, tmp_path / "lora", LoraRecipe(epochs=1, max_rows=4))
    adapter = TransformersAdapter(tmp_path / "lora", max_new_tokens=2)
    assert len(adapter.generate(tiny_rows[:3])) == 3
