"""QA rows as chats: the prompt a model sees, and training batches whose loss covers only the
answer. One place decides the format, so training and evaluation agree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100


def messages(question: str, with_image: bool, answer: str | None = None) -> list[dict[str, Any]]:
    """The chat of one row: the user's question (after the image, if any), and the answer."""
    content: list[dict[str, str]] = [{"type": "image"}] if with_image else []
    chat: list[dict[str, Any]] = [{"role": "user", "content": [*content, {"type": "text", "text": question}]}]
    if answer is not None:
        chat.append({"role": "assistant", "content": [{"type": "text", "text": f" {answer}"}]})
    return chat


def prompt_text(processor: Any, row: Mapping[str, Any]) -> str:
    return processor.apply_chat_template(messages(row["question"], row["image"] is not None), add_generation_prompt=True)


class TrainingCollator:
    """Batches of rows -> model inputs; labels are -100 everywhere but the answer and its end."""

    def __init__(self, processor: Any):
        self.processor = processor
        self.tokenizer = processor.tokenizer

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        prompts = [prompt_text(self.processor, r) for r in rows]
        answers = [f" {r['answer']}{self.tokenizer.eos_token}" for r in rows]
        images = [r["image"].convert("RGB") for r in rows if r["image"] is not None]
        self.tokenizer.padding_side = "right"
        batch = self.processor(text=[p + a for p, a in zip(prompts, answers)], images=images or None,
                               return_tensors="pt", padding=True)
        prompt_lengths = [len(ids) for ids in self.processor(text=prompts, images=images or None)["input_ids"]]
        labels = batch["input_ids"].clone()
        for row, length in enumerate(prompt_lengths):
            labels[row, :length] = IGNORE_INDEX
        labels[batch["attention_mask"] == 0] = IGNORE_INDEX
        batch["labels"] = labels
        return dict(batch)
