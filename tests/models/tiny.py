"""The small random tiny models the tests share (``tests/conftest.py`` builds one of each
family per session): their spec, and how one is saved."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from medforget.models.tiny import TinySpec, build_model, build_processor, train_tokenizer

SMALL = TinySpec(vision_hidden=32, vision_layers=1, text_hidden=32, text_layers=1, heads=2, vocab_size=600)


def save_tiny(rows: list[dict], out: Path, family: str = "llava") -> Path:
    """A random tiny model of ``family`` with a tokenizer trained on ``rows``' text, saved to ``out``."""
    spec = dataclasses.replace(SMALL, family=family)
    tokenizer = train_tokenizer(
        [t for r in rows for t in (r["question"], r["answer"], *r["options"])], spec.vocab_size, family
    )
    build_model(tokenizer, spec, seed=0).save_pretrained(out)
    build_processor(tokenizer, spec).save_pretrained(out)
    return out
