"""The tiny track's models: a small vision-language model built from a config with random
weights, and a byte-level BPE tokenizer trained on the dataset's own text.

Two families, so code that must work on real checkpoints is tested on both: ``llava`` (CLIP
vision tower + Llama, the tiny track's reference models) and ``qwen2_5_vl`` (Qwen2.5-VL's
windowed vision tower and merger + Qwen2 with multimodal rotary positions). Everything is
offline and CPU-sized (about 4M parameters at the defaults, 64x64 images, 16 image tokens). A
saved folder is an ordinary checkpoint: ``AutoModelForImageTextToText`` and ``AutoProcessor``
load it like any model of its family.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from medforget.models.families import FAMILIES

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

IMAGE_TOKEN = "<image>"


@dataclass(frozen=True)
class TinySpec:
    """Sizes of a tiny model. The defaults fit the CPU speeds in environment.md.

    ``patch_size`` is the vision tower's patch for LLaVA; Qwen2.5-VL uses half of it and merges
    2x2 patches, so both give ``image_tokens`` tokens per image.
    """

    family: str = "llava"
    image_size: int = 64
    patch_size: int = 16
    vision_hidden: int = 128
    vision_layers: int = 2
    text_hidden: int = 256
    text_layers: int = 4
    heads: int = 4
    vocab_size: int = 4096
    max_positions: int = 512

    def __post_init__(self) -> None:
        FAMILIES.get(self.family)  # an unknown family fails here, naming the known ones

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


@dataclass(frozen=True)
class _Chat:
    """A family's chat format: its special tokens, in vocabulary order, and its template."""

    specials: tuple[str, ...]
    roles: dict[str, str]  # pad_token, eos_token, unk_token[, bos_token] -> one of ``specials``
    template: str


_CHATS = {
    # "USER: <image>\n{question}\nASSISTANT: {answer}</s>"
    "llava": _Chat(
        ("<pad>", "<s>", "</s>", "<unk>", IMAGE_TOKEN),
        {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
        "{% for message in messages %}"
        "{% if message['role'] == 'user' %}{{ 'USER: ' }}"
        "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ '<image>\\n' }}"
        "{% else %}{{ part['text'] }}{% endif %}{% endfor %}{{ '\\n' }}"
        "{% else %}{{ 'ASSISTANT: ' }}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{{ '</s>\\n' }}"
        "{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}",
    ),
    # Qwen's ChatML: "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>{question}<|im_end|>\n..."
    "qwen2_5_vl": _Chat(
        (
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<unk>",
            "<|vision_start|>",
            "<|vision_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
        ),
        {"pad_token": "<|endoftext|>", "eos_token": "<|im_end|>", "unk_token": "<unk>"},
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
        "{% for part in message['content'] %}{% if part['type'] == 'image' %}"
        "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}{% else %}{{ part['text'] }}{% endif %}{% endfor %}"
        "{{ '<|im_end|>\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    ),
}


def train_tokenizer(texts: Iterable[str], vocab_size: int, family: str = "llava") -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts``, with ``family``'s special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    chat = _CHATS[FAMILIES.get(family).name]
    tokenizer = Tokenizer(models.BPE(unk_token=chat.roles["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(chat.specials),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    image_token = {"image_token": FAMILIES.get(family).image_token}
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, extra_special_tokens=image_token, **chat.roles)
    wrapped.chat_template = chat.template
    return wrapped


def build_processor(tokenizer: PreTrainedTokenizerFast, spec: TinySpec) -> Any:
    """The family's processor at ``spec.image_size`` (PIL image processors: no torchvision needed)."""
    chat_template = _CHATS[spec.family].template
    if spec.family == "qwen2_5_vl":
        from transformers import Qwen2VLImageProcessorPil

        from medforget.models.qwen_processor import ImageOnlyQwen2_5_VLProcessor

        pixels = spec.image_size * spec.image_size
        images = Qwen2VLImageProcessorPil(
            min_pixels=pixels, max_pixels=pixels, patch_size=spec.patch_size // 2, merge_size=2, temporal_patch_size=2
        )
        return ImageOnlyQwen2_5_VLProcessor(image_processor=images, tokenizer=tokenizer, chat_template=chat_template)
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    images = CLIPImageProcessorPil(
        size={"shortest_edge": spec.image_size},
        crop_size={"height": spec.image_size, "width": spec.image_size},
        do_convert_rgb=True,
    )
    return LlavaProcessor(
        image_processor=images,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,
        vision_feature_select_strategy="default",
        chat_template=chat_template,
        num_additional_image_tokens=1,
    )


def build_model(tokenizer: PreTrainedTokenizerFast, spec: TinySpec, seed: int) -> Any:
    """A randomly initialised tiny model of ``spec.family``; ``seed`` makes the weights reproducible."""
    import torch
    from transformers import AutoModelForImageTextToText

    config = (_qwen_config if spec.family == "qwen2_5_vl" else _llava_config)(tokenizer, spec)
    config.tiny_spec = asdict(spec)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def _text_sizes(tokenizer: PreTrainedTokenizerFast, spec: TinySpec) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": spec.text_hidden,
        "intermediate_size": spec.text_hidden * 2,
        "num_hidden_layers": spec.text_layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.heads,
        "max_position_embeddings": spec.max_positions,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def _llava_config(tokenizer: PreTrainedTokenizerFast, spec: TinySpec) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        hidden_size=spec.vision_hidden,
        intermediate_size=spec.vision_hidden * 2,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.heads,
        projection_dim=spec.vision_hidden,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=LlamaConfig(**_text_sizes(tokenizer, spec)),
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=spec.image_tokens,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )


def _qwen_config(tokenizer: PreTrainedTokenizerFast, spec: TinySpec) -> Any:
    from transformers import Qwen2_5_VLConfig

    frequencies = spec.text_hidden // spec.heads // 2  # rotary frequencies per head, split over time, height, width
    time = frequencies // 4
    height = (frequencies - time) // 2
    mrope = [time, height, frequencies - time - height]
    patch = spec.patch_size // 2
    vision = {
        "depth": spec.vision_layers,
        "hidden_size": spec.vision_hidden,
        "intermediate_size": spec.vision_hidden * 2,
        "num_heads": spec.heads,
        "out_hidden_size": spec.text_hidden,
        "patch_size": patch,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": patch * 4,
        "fullatt_block_indexes": [spec.vision_layers - 1],
    }
    text = {**_text_sizes(tokenizer, spec), "rope_parameters": {"rope_type": "default", "mrope_section": mrope}}
    ids = {
        name: tokenizer.convert_tokens_to_ids(token)
        for name, token in (
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        )
    }
    return Qwen2_5_VLConfig(vision_config=vision, text_config=text, **ids)
