"""The tiny LLaVA, its tokenizer and processor, the chat format and both adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.models.adapters import AdapterError, PredictionsFile, TransformersAdapter
from medforget.models.chat import IGNORE_INDEX, TrainingCollator, prompt_text
from medforget.models.tiny import TinySpec, build_model, build_processor, train_tokenizer
from medforget.training.data import load_rows

SMALL = TinySpec(vision_hidden=32, vision_layers=1, text_hidden=32, text_layers=1, heads=2, vocab_size=600)


@pytest.fixture(scope="module")
def rows(tiny_build: Path) -> list[dict]:
    every = load_rows(tiny_build, "train", "train")  # image rows first, text-only rows last
    return every[:12] + every[-12:]


@pytest.fixture(scope="module")
def checkpoint(rows, tmp_path_factory) -> Path:
    tokenizer = train_tokenizer([t for r in rows for t in (r["question"], r["answer"], *r["options"])], SMALL.vocab_size)
    out = tmp_path_factory.mktemp("tiny")
    build_model(tokenizer, SMALL, seed=0).save_pretrained(out)
    build_processor(tokenizer, SMALL).save_pretrained(out)
    return out


def test_checkpoint_loads_with_the_auto_classes(checkpoint: Path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(checkpoint)
    processor = AutoProcessor.from_pretrained(checkpoint)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert processor.chat_template and processor.tokenizer.eos_token == "</s>"


def test_prompt_places_the_image_first_and_ends_with_the_assistant_turn(checkpoint: Path, rows):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(checkpoint)
    image_row = next(r for r in rows if r["image"] is not None)
    text_row = next(r for r in rows if r["image"] is None)
    assert prompt_text(processor, image_row) == f"USER: <image>\n{image_row['question']}\nASSISTANT:"
    assert prompt_text(processor, text_row) == f"USER: {text_row['question']}\nASSISTANT:"


def test_collator_supervises_only_the_answer(checkpoint: Path, rows):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(checkpoint)
    mixed = rows[8:16]
    batch = TrainingCollator(processor)(mixed)
    for row, labels in zip(mixed, batch["labels"]):
        kept = labels[labels != IGNORE_INDEX]
        assert processor.tokenizer.decode(kept).strip() == f"{row['answer']}</s>"
    assert batch["pixel_values"].shape[0] == sum(r["image"] is not None for r in mixed) == 4


def test_transformers_adapter_generates_and_scores_answers(checkpoint: Path, rows):
    adapter = TransformersAdapter(checkpoint, batch_size=8, max_new_tokens=4)
    answers = adapter.generate(rows[8:18])
    assert len(answers) == 10 and all(isinstance(a, str) for a in answers)
    logprobs = adapter.answer_logprobs(rows[8:18])
    assert [len(lp) > 0 for lp in logprobs] == [True] * 10
    assert all(x <= 0 for lp in logprobs for x in lp)
    with pytest.raises(AdapterError, match="not a model checkpoint"):
        TransformersAdapter(checkpoint.parent)


def test_predictions_file_refuses_bad_input(tmp_path: Path, rows):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps({"id": r["id"], "prediction": r["answer"]}) for r in rows[:3]))
    adapter = PredictionsFile(path)
    assert adapter.generate(rows[:3]) == [r["answer"] for r in rows[:3]]
    assert adapter.answer_logprobs(rows[:3]) is None
    with pytest.raises(AdapterError, match="no prediction for 1 rows"):
        adapter.generate(rows[:4])
    path.write_text('{"id": "a", "prediction": "x"}\n{"id": "a", "prediction": "y"}\n')
    with pytest.raises(AdapterError, match="duplicate prediction"):
        PredictionsFile(path)
    path.write_text("not json\n")
    with pytest.raises(AdapterError, match=":1: expected a JSON object"):
        PredictionsFile(path)
