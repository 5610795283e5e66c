"""The tiny models (LLaVA and Qwen2.5-VL), their tokenizer and processor, the chat format and
the adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.models.adapters import AdapterError, PredictionsFile, TransformersAdapter
from medforget.models.chat import IGNORE_INDEX, TrainingCollator, answer_logits, prompt_text
from medforget.models.families import ModelFamilyError, family_of, load_checkpoint, load_processor
from tests.models.tiny import SMALL


def test_checkpoint_loads_with_the_auto_classes(checkpoint: Path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(checkpoint)
    processor = AutoProcessor.from_pretrained(checkpoint)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert processor.chat_template and processor.tokenizer.eos_token == "</s>"


def test_qwen_checkpoint_is_an_ordinary_qwen2_5_vl(qwen_checkpoint: Path, tiny_rows):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(qwen_checkpoint)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration" and family_of(model).name == "qwen2_5_vl"
    saved = json.loads((qwen_checkpoint / "processor_config.json").read_text())
    assert saved["processor_class"] == "Qwen2_5_VLProcessor"  # loads as such where torchvision is installed
    assert (qwen_checkpoint / "video_preprocessor_config.json").is_file()
    processor = load_processor(qwen_checkpoint)  # here: the image-only processor
    image_row = next(r for r in tiny_rows if r["image"] is not None)
    assert prompt_text(processor, image_row) == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
        f"{image_row['question']}<|im_end|>\n<|im_start|>assistant\n"
    )
    batch = processor(text=[prompt_text(processor, image_row)], images=[image_row["image"].convert("RGB")])
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert batch["input_ids"][0].count(image_id) == SMALL.image_tokens


def test_unknown_architectures_are_named():
    class Config:
        model_type = "blip"

    with pytest.raises(ModelFamilyError, match="'blip' is not a known family"):
        family_of(Config())


def test_prompt_places_the_image_first_and_ends_with_the_assistant_turn(checkpoint: Path, tiny_rows):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(checkpoint)
    image_row = next(r for r in tiny_rows if r["image"] is not None)
    text_row = next(r for r in tiny_rows if r["image"] is None)
    assert prompt_text(processor, image_row) == f"USER: <image>\n{image_row['question']}\nASSISTANT:"
    assert prompt_text(processor, text_row) == f"USER: {text_row['question']}\nASSISTANT:"


def test_collator_supervises_only_the_answer(any_checkpoint: Path, tiny_rows):
    processor = load_processor(any_checkpoint)
    mixed = tiny_rows[8:16]
    batch = TrainingCollator(processor)(mixed)
    for row, labels in zip(mixed, batch["labels"]):
        kept = labels[labels != IGNORE_INDEX]
        assert processor.tokenizer.decode(kept).strip() == f"{row['answer']}{processor.tokenizer.eos_token}"
    images = sum(r["image"] is not None for r in mixed)
    assert images == 4
    if "image_grid_thw" in batch:  # Qwen: patches of every image as rows
        assert batch["image_grid_thw"].shape[0] == images
    else:
        assert batch["pixel_values"].shape[0] == images


def test_collator_remembers_prompt_lengths_without_changing_a_batch(any_checkpoint: Path, tiny_rows):
    """A second epoch meets the same prompts: their lengths come from memory, and the batch
    (labels included) is the one a fresh collator makes."""
    import torch

    processor = load_processor(any_checkpoint)
    seen = TrainingCollator(processor)
    seen(tiny_rows[8:16])
    remembered = len(seen._prompt_lengths)
    assert remembered == len({(r["question"], r["image"] is not None) for r in tiny_rows[8:16]})
    again, fresh = seen(tiny_rows[8:16]), TrainingCollator(processor)(tiny_rows[8:16])
    assert len(seen._prompt_lengths) == remembered
    assert again.keys() == fresh.keys()
    assert all(torch.equal(again[k], fresh[k]) for k in fresh)
    shuffled = tiny_rows[12:20][::-1]  # old prompts beside new ones, in another order
    assert torch.equal(seen(shuffled)["labels"], TrainingCollator(processor)(shuffled)["labels"])


def test_collator_preprocesses_each_image_once_giving_the_same_tensors(any_checkpoint: Path, tiny_rows):
    """The collator's image cache: a batch equals the processor's own (pixels, image grids and
    all) whether its images come from the cache, are new, or overflow the cache's budget."""
    import torch

    from medforget.models.chat import ImageCache, prompt_text

    processor = load_processor(any_checkpoint)
    collate = TrainingCollator(processor)
    image_row = next(r for r in tiny_rows if r["image"] is not None)
    others = [{**image_row, "image": image_row["image"].rotate(90 * k)} for k in (1, 2, 3)]  # new pixels
    rows = [*tiny_rows[8:16], *others, *(r for r in tiny_rows if r["image"] is None)][:16]
    collate(rows[:8])
    cache = collate.processor.image_processor
    assert isinstance(cache, ImageCache) and processor.image_processor is not cache  # the caller's is untouched
    cached = len(cache._done)
    assert cached == len({r["image"].tobytes() for r in rows[:8] if r["image"] is not None})
    for batch_rows in (rows[:8], rows[4:][::-1]):
        images = [r["image"].convert("RGB") for r in batch_rows if r["image"] is not None]
        texts = [prompt_text(processor, r) + f" {r['answer']}{processor.tokenizer.eos_token}" for r in batch_rows]
        expected = processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        got = collate(batch_rows)
        assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert len(cache._done) > cached
    full = TrainingCollator(processor)
    full.processor.image_processor.budget = 0  # nothing fits: every image preprocessed each time
    assert all(torch.equal(full(rows[:8])[k], v) for k, v in collate(rows[:8]).items())
    assert not full.processor.image_processor._done


def test_transformers_adapter_generates_and_scores_answers(any_checkpoint: Path, tiny_rows):
    adapter = TransformersAdapter(any_checkpoint, batch_size=8, max_new_tokens=4)
    answers = adapter.generate(tiny_rows[8:18])
    assert len(answers) == 10 and all(isinstance(a, str) for a in answers)
    logprobs = adapter.answer_logprobs(tiny_rows[8:18])
    assert [len(lp) > 0 for lp in logprobs] == [True] * 10
    assert all(x <= 0 for lp in logprobs for x in lp)
    with pytest.raises(AdapterError, match="not a model checkpoint"):
        TransformersAdapter(any_checkpoint.parent)


def test_answer_logits_give_the_models_own_loss(any_checkpoint: Path, tiny_rows):
    import torch

    model, processor = load_checkpoint(any_checkpoint)
    batch = TrainingCollator(processor)(tiny_rows[8:16])
    with torch.inference_mode():
        logits, targets, counts = answer_logits(model, batch)
        loss = model(**batch).loss
    assert counts == [int((labels != IGNORE_INDEX).sum()) for labels in batch["labels"]]
    assert torch.nn.functional.cross_entropy(logits.float(), targets).item() == pytest.approx(loss.item(), abs=1e-5)


def test_batches_by_length_give_each_row_its_own_answer(any_checkpoint: Path, tiny_rows):
    """Rows are batched shortest first and put back: the same as one row at a time."""
    mixed = tiny_rows[:24]
    batched = TransformersAdapter(any_checkpoint, batch_size=8, max_new_tokens=6)
    alone = TransformersAdapter(any_checkpoint, batch_size=1, max_new_tokens=6)
    in_batches, one_by_one = batched.generate(mixed), alone.generate(mixed)
    # padding sums the same logits in another order: a greedy answer may flip where its two best
    # tokens nearly tie (the closest here: 5e-5 apart); a row put back in the wrong place changes most
    assert sum(a != b for a, b in zip(in_batches, one_by_one, strict=True)) <= 1
    for together, single in zip(batched.answer_logprobs(mixed), alone.answer_logprobs(mixed)):
        assert together == pytest.approx(single, abs=1e-4)


def test_each_distinct_prompt_is_answered_once(any_checkpoint: Path, tiny_rows):
    """The same question on the same pixels (under another id, from another split or level)
    is decoded once; another question or other pixels are not taken for it."""
    adapter = TransformersAdapter(any_checkpoint, batch_size=8, max_new_tokens=4)
    decoded: list[int] = []
    decode = adapter._decode
    adapter._decode = lambda rows: decoded.append(len(rows)) or decode(rows)  # type: ignore[method-assign]
    rows = tiny_rows[:6]
    again = [{**r, "id": r["id"] + "-copy"} for r in rows]
    first = adapter.generate(rows)
    assert adapter.generate(again + rows[:2]) == first + first[:2] and decoded == [6, 0]
    pictured = [r for r in rows if r["image"] is not None]
    other_pixels = [{**pictured[0], "image": pictured[0]["image"].rotate(90)}]
    other_question = [{**rows[0], "question": rows[0]["question"] + " Answer briefly."}]
    adapter.generate(other_pixels + other_question)
    assert decoded == [6, 0, 2]
    fresh = TransformersAdapter(any_checkpoint, batch_size=8, max_new_tokens=4, memoise=False)
    assert fresh.answer_logprobs(rows) == adapter.answer_logprobs(again) == adapter.answer_logprobs(rows)


def test_predictions_file_refuses_bad_input(tmp_path: Path, tiny_rows):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps({"id": r["id"], "prediction": r["answer"]}) for r in tiny_rows[:3]))
    adapter = PredictionsFile(path)
    assert adapter.generate(tiny_rows[:3]) == [r["answer"] for r in tiny_rows[:3]]
    assert adapter.answer_logprobs(tiny_rows[:3]) is None
    with pytest.raises(AdapterError, match="no prediction for 1 rows"):
        adapter.generate(tiny_rows[:4])
    path.write_text('{"id": "a", "prediction": "x"}\n{"id": "a", "prediction": "y"}\n')
    with pytest.raises(AdapterError, match="duplicate prediction"):
        PredictionsFile(path)
    path.write_text("not json\n")
    with pytest.raises(AdapterError, match=":1: expected a JSON object"):
        PredictionsFile(path)
    path.write_text('{"id": "a", "prediction": "x", "logprobs": ["high"]}\n')
    with pytest.raises(AdapterError, match="'logprobs' must be a list of numbers"):
        PredictionsFile(path)
    path.write_text('{"id": "a#paraphrased", "logprobs": [-0.5]}\n')  # a truth-ratio answer: no prediction
    only = PredictionsFile(path)
    assert only.answer_logprobs([{"id": "a#paraphrased"}]) == [[-0.5]] and not only.predictions
