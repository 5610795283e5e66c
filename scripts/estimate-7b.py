"""What ``scripts/gpu-board.sh`` needs for a 7B VLM on one 80 GB GPU, estimated from what is
measured here (README, "The GPU path"):

- the work: every row and prompt the board's fine-tunes, methods and evaluations process on the
  dataset (an evaluation is counted by running ``medforget.evaluators.run.evaluate`` with an
  adapter that records what it is asked), its text tokens counted with SmolLM2's tokenizer;
- FLOPs per token of a forward pass and of a LoRA training step, measured with torch's
  ``FlopCounterMode`` on the SmolLM2-135M VLM, as multiples of 2N (N: the language model's
  matmul parameters, the output head included);
- activation memory: the bytes autograd saves for a LoRA step, per token, layer and hidden unit,
  measured on the same model (its MLP is 2.67 times its width, LLaVA-1.5-7B's 2.69).

Scaled to LLaVA-1.5-7B (Vicuna-7B, 576 image tokens). Assumed, not measured: 40 % of the GPU's
peak bf16 FLOP/s for training and prefill, decoding bound by reading the weights once a step.

    .venv/bin/python scripts/estimate-7b.py medforget-tiny
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import torch

#: LLaVA-1.5-7B's shape
SEVEN_B = {"hidden": 4096, "layers": 32, "intermediate": 11008, "vocab": 32064, "image_tokens": 576}
SEVEN_B_PARAMS = {"language model": 6.74e9, "vision tower": 0.30e9, "projector": 0.02e9}
GPUS = {"H100 80GB (989 TFLOP/s bf16, 3.35 TB/s)": (989e12, 3.35e12), "A100 80GB (312, 2.0)": (312e12, 2.0e12)}
MFU = 0.40
LORA_RANK, BATCH, EVAL_BATCH, FINETUNE_EPOCHS, METHOD_EPOCHS = 16, 4, 32, 3, 5
GRADIENT_METHODS = {"ga": 1, "gd": 2, "kl": 2, "npo": 1}  # batches a step trains on (forget, retain)
EVALUATIONS_PER_LEVEL = 8  # six methods' models, the target and the retain model


class Recorder:
    """An adapter that answers nothing and records every row it is asked to generate or score."""

    name = "recorder"

    def __init__(self) -> None:
        self.generated: list[dict] = []
        self.scored: list[dict] = []

    def generate(self, rows):
        self.generated += rows
        return [""] * len(rows)

    def answer_logprobs(self, rows):
        self.scored += rows
        return [[-1.0] for _ in rows]


def tokens(tokenizer, rows, image_tokens: int) -> tuple[float, float]:
    """Mean prompt tokens (question, chat markup, the image's tokens) and answer tokens of rows."""
    if not rows:
        return 0.0, 0.0
    prompt = [len(tokenizer(r["question"]).input_ids) + 12 + (image_tokens if r["image"] else 0) for r in rows]
    answer = [len(tokenizer(f" {r['answer']}").input_ids) + 1 for r in rows]
    return sum(prompt) / len(rows), sum(answer) / len(rows)


def measured(vlm: Path, rows: list[dict]) -> dict[str, float]:
    """FLOPs per token (forward, LoRA step) over 2N, and saved bytes per token, layer and hidden unit."""
    from peft import LoraConfig, get_peft_model
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from medforget.models.chat import TrainingCollator
    from medforget.training.lora import language_linear_modules

    model = AutoModelForImageTextToText.from_pretrained(vlm, dtype=torch.float32)
    config = model.config.text_config
    batch = TrainingCollator(AutoProcessor.from_pretrained(vlm))(rows[:BATCH])
    n_tokens = int(batch["attention_mask"].sum())
    language = model.model.language_model
    matmul = sum(p.numel() for n, p in language.named_parameters() if "embed" not in n and p.dim() == 2)
    matmul += model.lm_head.weight.numel()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**batch)
    forward = counter.get_total_flops()
    model = get_peft_model(model, LoraConfig(r=LORA_RANK, lora_alpha=16, target_modules=language_linear_modules(model)))
    saved: Counter[str] = Counter()
    seen: set[tuple[int, int]] = set()

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = (tensor.untyped_storage().data_ptr(), tensor.untyped_storage().nbytes())
        if key not in seen:
            seen.add(key)
            saved["vocab" if tensor.dim() and tensor.shape[-1] == config.vocab_size else "rest"] += key[1]
        return tensor

    with FlopCounterMode(display=False) as counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(**batch).loss.backward()
    step = counter.get_total_flops()
    padded = batch["input_ids"].numel()
    return {
        "forward / 2N": forward / (2 * matmul * padded),
        "LoRA step / forward": step / forward,
        "saved elements per token, layer, hidden unit": saved["rest"]
        / 4
        / (padded * config.num_hidden_layers * config.hidden_size),
        "saved vocab-wide fp32 tensors per token": saved["vocab"] / 4 / (padded * config.vocab_size),
        "tokens in the batch": n_tokens,
    }


def main(dataset: Path) -> None:
    from transformers import AutoTokenizer

    from medforget.dataset import load_rows, read_manifest
    from medforget.evaluators.run import evaluate
    from medforget.llm.serve import checkpoint
    from medforget.models.smollm import smollm2_vlm
    from medforget.unlearning.data import load_unlearn_data

    levels = list(read_manifest(dataset).targets)
    train = load_rows(dataset, "train", "train")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path.home() / ".cache" / "medforget" / "models"
        vlm = smollm2_vlm(checkpoint(cache), Path(tmp) / "vlm")
        tokenizer = AutoTokenizer.from_pretrained(vlm)
        ratios = measured(vlm, [r for r in train if r["image"] is not None])
        work: dict[str, tuple[float, float, float]] = {}  # job -> (rows, prompt tokens, answer tokens) of its passes
        image_row = sum(tokens(tokenizer, [r for r in train if r["image"]], SEVEN_B["image_tokens"]))
        prompt, answer = tokens(tokenizer, train, SEVEN_B["image_tokens"])
        work["fine-tune (target or a retain model)"] = (FINETUNE_EPOCHS * len(train), prompt, answer)
        evaluations = []
        for level in levels:
            data = load_unlearn_data(dataset, level)
            prompt, answer = tokens(tokenizer, data.forget, SEVEN_B["image_tokens"])
            work[f"gradient method, {level} ({len(data.forget)} forget rows)"] = (
                METHOD_EPOCHS * len(data.forget) * sum(GRADIENT_METHODS.values()) / len(GRADIENT_METHODS),
                prompt,
                answer,
            )
            recorder = Recorder()
            evaluate(dataset, level, recorder, Path(tmp) / level)
            evaluations.append((level, recorder))
    parameters = sum(SEVEN_B_PARAMS.values())
    n7 = SEVEN_B_PARAMS["language model"] + SEVEN_B["vocab"] * SEVEN_B["hidden"]
    hidden, intermediate = SEVEN_B["hidden"], SEVEN_B["intermediate"]
    lora = SEVEN_B["layers"] * LORA_RANK * (4 * 2 * hidden + 3 * (hidden + intermediate))  # q k v o, gate up down
    tokens_per_batch = round(BATCH * image_row)  # a batch of image rows
    activations = (
        ratios["saved elements per token, layer, hidden unit"] * tokens_per_batch * SEVEN_B["layers"] * hidden * 2
    )
    logits = ratios["saved vocab-wide fp32 tensors per token"] * tokens_per_batch * SEVEN_B["vocab"] * 4
    memory = {
        "weights, bf16": parameters * 2,
        f"LoRA rank {LORA_RANK} ({lora / 1e6:.0f}M parameters): weights, gradients, AdamW states, fp32": lora * 16,
        f"activations, batch {BATCH} x {tokens_per_batch // BATCH} tokens, bf16": activations,
        "logits and loss, fp32": logits,
    }
    print("measured on the SmolLM2-135M VLM:", json.dumps({k: round(v, 3) for k, v in ratios.items()}))
    print("\nmemory of a LoRA step, LLaVA-1.5-7B (gd and kl hold two batches' activations):")
    for what, size in memory.items():
        print(f"  {what}: {size / 1e9:.1f} GB")
    print(f"  total: {sum(memory.values()) / 1e9:.1f} GB (plus the CUDA context and allocator slack, 1-3 GB)")
    for gpu, (flops, bandwidth) in GPUS.items():
        print(f"\ntime on one {gpu}, at {MFU:.0%} of peak:")
        total = 0.0
        for job, (rows, prompt, answer) in work.items():
            step = 2 * n7 * ratios["forward / 2N"] * ratios["LoRA step / forward"]  # FLOPs per token
            seconds = rows * (prompt + answer) * step / (flops * MFU)
            total += seconds * (5 if job.startswith("fine-tune") else len(GRADIENT_METHODS))
            print(f"  {job}: {seconds:.0f} s")
        for level, recorder in evaluations:
            asked = recorder.generated + recorder.scored
            prompt, answer = tokens(tokenizer, asked, SEVEN_B["image_tokens"])
            prefill = len(asked) * (prompt + answer) * 2 * n7 * ratios["forward / 2N"] / (flops * MFU)
            # a batch decodes until its longest answer ends: about 1.5 times the mean answer (rows
            # are batched by answer length)
            decode_steps = len(recorder.generated) / EVAL_BATCH * tokens(tokenizer, recorder.generated, 0)[1] * 1.5
            context = prompt + answer  # a step reads the weights and the batch's key-value cache
            cache = EVAL_BATCH * context * SEVEN_B["layers"] * 2 * hidden * 2
            decode = decode_steps * (parameters * 2 + cache) / bandwidth
            seconds = prefill + decode
            total += seconds * EVALUATIONS_PER_LEVEL
            print(
                f"  evaluation, {level} ({len(recorder.generated)} rows generated, {len(recorder.scored)} scored):"
                f" {seconds:.0f} s (prefill {prefill:.0f}, decoding {decode:.0f})"
            )
        evaluations_in_all = EVALUATIONS_PER_LEVEL * len(levels)
        print(
            f"  the whole board (5 fine-tunes, the gradient methods at {len(levels)} levels, {evaluations_in_all}"
            f" evaluations; CHIP and prune are forward passes, left out): {total / 3600:.1f} h"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
