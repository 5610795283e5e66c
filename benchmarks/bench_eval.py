"""Evaluation throughput: QA answered per second by the transformers adapter on the tiny model,
against one plain batched forward pass over the same tokens (prompt and generated answer),
both measured in this process on the same rows; then one adapter asked every level's splits of
the tiny build (as `medforget sweep` asks the target), each distinct prompt decoded once,
against decoding every row asked.

    make bench   # or: python benchmarks/bench_eval.py [--model DIR] [--rows N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

LEVELS = ("institution", "patient", "study", "section")


def tiny_model(dataset: Path, out: Path) -> Path:
    """An untrained tiny LLaVA (throughput does not depend on training)."""
    from medforget.dataset import load_rows
    from medforget.models.tiny import TinySpec, build_model, build_processor, train_tokenizer

    rows = load_rows(dataset, "train", "train")
    tokenizer = train_tokenizer([t for r in rows for t in (r["question"], r["answer"], *r["options"])], 4096)
    build_model(tokenizer, TinySpec(), seed=0).save_pretrained(out)
    build_processor(tokenizer, TinySpec()).save_pretrained(out)
    return out


def main() -> None:
    import torch

    from medforget.build.pipeline import build
    from medforget.config import preset
    from medforget.dataset import load_rows
    from medforget.models.adapters import TransformersAdapter
    from medforget.models.chat import prompt_text

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="a checkpoint (default: an untrained tiny LLaVA)")
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = build(preset("tiny"), Path(tmp) / "medforget").out
        rows = load_rows(dataset, "patient", "retain_other")[: args.rows]
        model = args.model or tiny_model(dataset, Path(tmp) / "model")
        adapter = TransformersAdapter(
            model, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, memoise=False
        )
        adapter.generate(rows[: args.batch_size])  # warm up
        start = time.perf_counter()
        answers = adapter.generate(rows)
        generate = time.perf_counter() - start
        full = [{**r, "answer": a} for r, a in zip(rows, answers)]
        processor = adapter.processor
        start = time.perf_counter()
        for i in range(0, len(full), args.batch_size):
            chunk = full[i : i + args.batch_size]
            texts = [prompt_text(processor, r) + " " + r["answer"] for r in chunk]
            images = [r["image"].convert("RGB") for r in chunk if r["image"] is not None]
            with torch.inference_mode():
                adapter.model(**processor(text=texts, images=images or None, return_tensors="pt", padding=True))
        forward = time.perf_counter() - start
        levels = [load_rows(dataset, level, split) for level in LEVELS for split in ("forget", "retain_sibling")]
        asked = sum(len(level) for level in levels)
        times = {}
        for memoise in (False, True):
            sweep = TransformersAdapter(
                model, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, memoise=memoise
            )
            start = time.perf_counter()
            for level_rows in levels:
                sweep.generate(level_rows)
            times[memoise] = time.perf_counter() - start
    print(f"evaluation, greedy generation (<= {args.max_new_tokens} new tokens): {len(rows) / generate:7.1f} QA/s")
    print(f"one batched forward pass over the same tokens          : {len(rows) / forward:7.1f} QA/s")
    print(f"ratio generation / forward                             : {generate / forward:7.2f} x")
    print(f"forget and retain_sibling of every level, {asked} rows asked: every row decoded {times[False]:6.1f} s")
    print(f"each distinct prompt decoded once                      : {times[True]:6.1f} s")
    print(f"ratio every row / distinct prompts                     : {times[False] / times[True]:7.2f} x")


if __name__ == "__main__":
    main()
