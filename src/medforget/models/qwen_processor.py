"""Qwen2.5-VL's processor without its video half: the video processor needs torchvision, which
does not install beside every torch (not beside the CPU wheel here). Images and text behave
exactly as in ``Qwen2_5_VLProcessor``; it saves as an ordinary ``Qwen2_5_VLProcessor``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import Qwen2_5_VLProcessor


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    def __init__(
        self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None, **kwargs: Any
    ):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "processor_class": "Qwen2_5_VLProcessor"}

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> Any:
        """Also writes the video processor's config (the image settings), so that the folder loads
        with ``AutoProcessor`` wherever torchvision is installed."""
        saved = super().save_pretrained(save_directory, **kwargs)
        video = {**self.image_processor.to_dict(), "video_processor_type": "Qwen2VLVideoProcessor"}
        video.pop("image_processor_type", None)
        (Path(save_directory) / "video_preprocessor_config.json").write_text(json.dumps(video, indent=2) + "\n")
        return saved
