"""The tiny preset built with LLM rephrasings by a real model, SmolLM2-135M-Instruct, behind the
local OpenAI-compatible server (`make llm-serve`, then `pytest -m llm tests/llm/test_smollm2.py`):
the build passes its leak checks, some rephrasings are the model's, the rest fell back to templates
and say so, and a rebuild sends no request."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medforget.build.pipeline import build
from medforget.config import LLMConfig, preset
from medforget.llm.client import Endpoint
from medforget.llm.serve import DEFAULT_PORT, MODEL_NAME

pytestmark = [pytest.mark.slow, pytest.mark.llm]
BASE_URL = os.environ.get("LLM_BASE_URL") or f"http://127.0.0.1:{os.environ.get('LLM_PORT') or DEFAULT_PORT}/v1"


@pytest.fixture(scope="module")
def server() -> str:
    try:
        with urllib.request.urlopen(f"{BASE_URL}/models", timeout=5) as response:
            models = json.load(response)
    except OSError:
        pytest.skip(f"no LLM server at {BASE_URL}: start one with `make llm-serve`")
    assert MODEL_NAME in {m["id"] for m in models["data"]}
    return BASE_URL


def test_tiny_with_smollm2_rephrasings_validates_and_rebuilds_from_the_cache(server: str, tmp_path: Path):
    llm = LLMConfig(
        Endpoint(server, MODEL_NAME, concurrency=2, timeout=180, cache_dir=tmp_path / "cache"),
        tasks=("rephrase",),
        fallback=True,
        max_attempts=2,
    )  # two replies a question bound a CPU run's time
    config = dataclasses.replace(preset("tiny"), n_rephrasings=1, llm=llm)  # one twin a question: half the tokens
    start = time.perf_counter()
    built = build(config, tmp_path / "first")  # raises unless every leak check passes
    seconds = time.perf_counter() - start
    first = built.manifest.llm
    again = build(config, tmp_path / "again").manifest.llm
    assert first["requests"] > 0 and first["rows"].get("llm", 0) > 0
    replies = first["requests"] - first["retries"] + first["cache_hits"]  # every reply the build used
    assert again["requests"] == 0 and again["cache_hits"] == replies
    assert again["rows"] == first["rows"] and again["fallbacks"] == first["fallbacks"]
    shards = sorted((tmp_path / "first").glob("*/*_rephrased-*.parquet"))
    rows = list({row["id"]: row for shard in shards for row in pq.read_table(shard).to_pylist()}.values())
    made = [row for row in rows if row["provenance"]["generator"] == "llm"]
    fell_back = [row for row in rows if row["provenance"]["generator"] == "llm-fallback"]
    assert all(row["provenance"]["model"] == MODEL_NAME for row in made + fell_back)
    assert rows and len(made) + len(fell_back) == len(rows)  # every rephrased row went through the model
    _summary(first, again, seconds, built.timings["qa"], made)


def _summary(first: dict, again: dict, seconds: float, qa_seconds: float, made: list[dict]) -> None:
    """What a person wants to see of the run (pytest -s shows it): no number here is asserted."""
    hits = again["cache_hits"] / max(1, again["cache_hits"] + again["requests"])
    print(
        f"\nSmolLM2 tiny build: {seconds:.0f}s ({qa_seconds:.0f}s QA), {first['requests']} requests "
        f"({first['requests'] / qa_seconds:.2f}/s), rows {first['rows']}, {first['invalid_replies']} invalid replies "
        f"retried, {first['fallbacks']['count']} of {sum(first['calls'].values())} calls fell back; "
        f"rebuild: {again['requests']} requests, cache hit rate {hits:.0%}"
    )
    for row in [r for r in made if r["level"] != "section"][:3]:  # made-up identities, not report text
        print(f"  {row['question']!r} -> {row['answer']!r}")
