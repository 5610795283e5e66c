"""Model families: the few facts that differ between vision-language architectures, one record
each, so adapters, LoRA and the unlearning methods read them instead of branching on class
names. Adding a family is one :class:`Family` record (and, for the tiny track, a builder in
:mod:`medforget.models.tiny`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medforget.errors import MedForgetError
from medforget.registry import Registry


class ModelFamilyError(MedForgetError):
    """A checkpoint's architecture is not one MedForget knows, or its processor cannot load."""


@dataclass(frozen=True)
class Family:
    """What MedForget needs to know about one architecture.

    Attributes:
        name: registry name.
        model_types: the ``config.model_type`` values of its checkpoints.
        vision_tower: attribute of ``model.model`` holding the vision encoder (frozen by LoRA).
        projector: the vision-language projector's linear layers, as module names of
            ``model.model`` (hooked by CHIP when asked).
        image_token: the placeholder token that image features replace in the sequence; its
            positions are the vision-token span (Qwen2.5-VL: the tokens between
            ``<|vision_start|>`` and ``<|vision_end|>``; LLaVA: the expanded ``<image>`` tokens).
        hook_projector: whether the published CHIP hooks the projector for this family.
        decoder_layers: module name, under ``model.model``, of the language model's layer list.
        mlp: the MLP's linear layers, as module names of one decoder layer, in forward order.
    """

    name: str
    model_types: tuple[str, ...]
    vision_tower: str
    projector: tuple[str, ...]
    image_token: str
    hook_projector: bool
    decoder_layers: str = "language_model.layers"
    mlp: tuple[str, ...] = ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")

    @property
    def description(self) -> str:
        return (
            f"checkpoints of model_type {' or '.join(self.model_types)}; vision tower {self.vision_tower}, "
            f"image token {self.image_token}"
        )

    def module(self, model: Any, name: str) -> Any:
        """The submodule ``name`` of ``model.model`` (where every name above points)."""
        return model.get_submodule(f"model.{name}")

    def layer_count(self, model: Any) -> int:
        return len(self.module(model, self.decoder_layers))


FAMILIES: Registry[Family] = Registry("model family")
for _family in (
    Family(
        "llava",
        ("llava",),
        "vision_tower",
        ("multi_modal_projector.linear_1", "multi_modal_projector.linear_2"),
        "<image>",
        hook_projector=False,
    ),
    Family(
        "qwen2_5_vl",
        ("qwen2_5_vl", "qwen2_vl"),
        "visual",
        ("visual.merger.mlp.0", "visual.merger.mlp.2"),
        "<|image_pad|>",
        hook_projector=True,
    ),
):
    FAMILIES.register(_family)


def family_of(model_or_config: Any) -> Family:
    """The family of a model (or its config), by ``model_type``."""
    config = getattr(model_or_config, "config", model_or_config)
    model_type = getattr(config, "model_type", None)
    for name in FAMILIES:
        if model_type in FAMILIES.get(name).model_types:
            return FAMILIES.get(name)
    known = ", ".join(t for name in FAMILIES for t in FAMILIES.get(name).model_types)
    raise ModelFamilyError(
        f"model_type {model_type!r} is not a known family (known: {known}); "
        "add a Family record in medforget/models/families.py"
    )


def load_processor(path: Path) -> Any:
    """``AutoProcessor.from_pretrained(path)``; for Qwen2-VL-style checkpoints on a machine
    without torchvision (their video processor needs it), the same processor without video."""
    from transformers import AutoConfig, AutoProcessor

    try:
        return AutoProcessor.from_pretrained(path)
    except (ImportError, OSError) as err:
        if family_of(AutoConfig.from_pretrained(path)).name != "qwen2_5_vl":
            raise ModelFamilyError(f"cannot load the processor of {path}: {err}") from err
    from medforget.models.qwen_processor import ImageOnlyQwen2_5_VLProcessor

    return ImageOnlyQwen2_5_VLProcessor.from_pretrained(path)


def is_lora_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").is_file()


def load_checkpoint(path: Path) -> tuple[Any, Any]:
    """``(model, processor)`` of a local checkpoint, or of a LoRA adapter merged into its base
    (the base named in ``adapter_config.json``, itself a checkpoint or an adapter)."""
    from transformers import AutoModelForImageTextToText

    if is_lora_adapter(path):
        from peft import PeftConfig, PeftModel

        base, _ = load_checkpoint(Path(PeftConfig.from_pretrained(path).base_model_name_or_path))
        return PeftModel.from_pretrained(base, path).merge_and_unload(), load_processor(path)
    if not (path / "config.json").is_file():
        raise ModelFamilyError(f"{path} is not a model checkpoint (no config.json) nor a LoRA adapter")
    return AutoModelForImageTextToText.from_pretrained(path), load_processor(path)
