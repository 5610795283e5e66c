"""QA rows as chats: the prompt a model sees, and training batches whose loss covers only the
answer. One place decides the format, so training and evaluation agree."""

from __future__ import annotations

import copy
import hashlib
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
    return processor.apply_chat_template(
        messages(row["question"], row["image"] is not None), add_generation_prompt=True
    )


class TrainingCollator:
    """Batches of rows -> model inputs; labels are -100 everywhere but the answer and its end."""

    def __init__(self, processor: Any):
        # a copy whose image processor handles each distinct image once: a run sees every image
        # every epoch, and preprocessing them again was two thirds of a batch's collation
        self.processor = copy.copy(processor)
        self.processor.image_processor = ImageCache(processor.image_processor)
        self.tokenizer = processor.tokenizer
        #: (prompt text, image size) -> the prompt's token count: a training run sees each prompt
        #: every epoch, and tokenizing the prompts again was nearly half of a batch's collation
        self._prompt_lengths: dict[tuple[str, tuple[int, int] | None], int] = {}

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        prompts = [prompt_text(self.processor, r) for r in rows]
        answers = [f" {r['answer']}{self.tokenizer.eos_token}" for r in rows]
        images = [r["image"].convert("RGB") if r["image"] is not None else None for r in rows]
        present = [image for image in images if image is not None]
        self.tokenizer.padding_side = "right"
        batch = self.processor(
            text=[p + a for p, a in zip(prompts, answers)], images=present or None, return_tensors="pt", padding=True
        )
        labels = batch["input_ids"].clone()
        for row, length in enumerate(self._lengths(prompts, images)):
            labels[row, :length] = IGNORE_INDEX
        labels[batch["attention_mask"] == 0] = IGNORE_INDEX
        batch["labels"] = labels
        return dict(batch)

    def _lengths(self, prompts: Sequence[str], images: Sequence[Any]) -> list[int]:
        """Each prompt's token count (its image's tokens included), tokenizing only new ones."""
        keys = [(p, None if image is None else image.size) for p, image in zip(prompts, images)]
        new = {k: (p, image) for k, p, image in zip(keys, prompts, images) if k not in self._prompt_lengths}
        if new:
            texts = [p for p, _ in new.values()]
            present = [image for _, image in new.values() if image is not None]
            counted = self.processor(text=texts, images=present or None)["input_ids"]
            self._prompt_lengths.update(zip(new, (len(ids) for ids in counted)))
        return [self._prompt_lengths[k] for k in keys]


class ImageCache:
    """An image processor that preprocesses each distinct image (by its pixels) once and
    concatenates the cached results: the same tensors as the wrapped processor gives the whole
    list, since it preprocesses every image on its own. It holds at most ``budget`` bytes of
    results (the tiny track's images take 50 KB each; a real model's many times that), and
    preprocesses images beyond it each time. Everything else is the wrapped processor's."""

    def __init__(self, inner: Any, budget: int = 256 * 2**20):
        self.inner = inner
        self.budget = budget
        self._done: dict[bytes, Any] = {}

    def __call__(self, images: Sequence[Any], **kwargs: Any) -> Any:
        import torch
        from transformers import BatchFeature

        each = [self._one(image, kwargs) for image in images]
        return BatchFeature({key: torch.cat([e[key] for e in each]) for key in each[0]})

    def _one(self, image: Any, kwargs: dict[str, Any]) -> Any:
        key = hashlib.blake2b(f"{image.mode}{image.size}".encode() + image.tobytes(), digest_size=16).digest()
        if key in self._done:
            return self._done[key]
        done = self.inner([image], **{**kwargs, "return_tensors": "pt"})
        size = sum(v.numel() * v.element_size() for v in done.values())
        if size <= self.budget:
            self.budget -= size
            self._done[key] = done
        return done

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def answer_logits(model: Any, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """The logits that predict each answer token of a :class:`TrainingCollator` batch, and those
    tokens: ``(logits [n, vocab], targets [n], tokens per row)``.

    The language-model head runs only where a label is set (a few answer tokens of prompts ten
    times longer), which is most of a tiny model's cost otherwise. The mean cross-entropy of
    these logits is the model's own causal-LM loss on the batch.
    """
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = model.model(**inputs).last_hidden_state[:, :-1]
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE_INDEX
    logits = model.get_output_embeddings()(hidden[keep])
    return logits, targets[keep], keep.sum(dim=1).tolist()


def length_order(rows: Sequence[Mapping[str, Any]], with_answer: bool = False) -> list[int]:
    """Row indices from the shortest text to the longest: batches of similar lengths carry
    little padding. Callers put the results back in row order."""

    def size(i: int) -> int:
        return len(rows[i]["question"]) + (len(rows[i]["answer"]) if with_answer else 0)

    return sorted(range(len(rows)), key=size)
