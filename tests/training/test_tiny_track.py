import dataclasses
import json
from pathlib import Path

import pytest
import torch

from medforget.training.tiny_track import TrainConfig, train_tiny
from tests.models.tiny import SMALL

SMOKE = TrainConfig(epochs=3, batch_size=4, learning_rate=5e-3, warmup_steps=2, max_rows=16, threads=1, spec=SMALL)


@pytest.fixture(scope="module")
def trained(tiny_build: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "target"
    train_tiny(tiny_build, out, SMOKE)
    return out


def test_training_writes_a_checkpoint_and_its_record(trained: Path, tiny_build: Path):
    record = json.loads((trained / "medforget_training.json").read_text())
    assert record["rows"] == 16 and record["steps"] == 12 and record["without"] is None
    assert record["final_loss"] < 10
    ran = record["machine"]  # what the bit-for-bit promise is relative to
    assert ran["threads"] == SMOKE.threads and ran["kernels"] == torch.backends.cpu.get_cpu_capability() and ran["cpu"]
    assert (trained / "config.json").is_file() and (trained / "model.safetensors").is_file()
    card = (trained / "README.md").read_text()
    assert card.startswith("---\n") and "# MedForget tiny-track target model" in card
    assert "| rows trained on | 16 |" in card and record["dataset_manifest_sha256"] in card


def test_same_seed_same_weights(trained: Path, tiny_build: Path, tmp_path: Path):
    again = tmp_path / "again"
    train_tiny(tiny_build, again, SMOKE)
    assert (again / "model.safetensors").read_bytes() == (trained / "model.safetensors").read_bytes()


def test_retain_model_leaves_out_the_forget_split(tiny_build: Path, tmp_path: Path):
    result = train_tiny(
        tiny_build,
        tmp_path / "retain",
        dataclasses.replace(SMOKE, max_rows=None, epochs=0),
        without=("patient", "forget"),
    )
    manifest = json.loads((tiny_build / "manifest.json").read_text())
    counts = manifest["counts"]
    assert result.rows == counts["train"]["train"]["rows"] - counts["patient"]["forget"]["rows"]


def test_the_tiny_track_trains_a_qwen2_5_vl_too(tiny_build: Path, tmp_path: Path):
    from medforget.dataset import load_rows
    from medforget.models.adapters import TransformersAdapter

    spec = dataclasses.replace(SMALL, family="qwen2_5_vl")
    result = train_tiny(tiny_build, tmp_path / "qwen", dataclasses.replace(SMOKE, epochs=1, max_rows=8, spec=spec))
    assert result.steps == 2
    config = json.loads((tmp_path / "qwen" / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl" and config["tiny_spec"]["family"] == "qwen2_5_vl"
    rows = load_rows(tiny_build, "patient", "forget")[:2]
    assert len(TransformersAdapter(tmp_path / "qwen", max_new_tokens=2).generate(rows)) == 2


def test_a_model_fine_tuned_from_a_base_starts_from_its_weights_and_names_it(
    base_build: Path, tiny_build: Path, tmp_path: Path
):
    from safetensors.torch import load_file

    base = train_tiny(base_build, tmp_path / "base", SMOKE).out
    fine_tune = dataclasses.replace(SMOKE, epochs=2, rehearsal_rows=8, rehearsal_per_epoch=4, freeze_vision=True)
    target = train_tiny(tiny_build, tmp_path / "target", fine_tune, base=base).out
    record = json.loads((target / "medforget_training.json").read_text())
    assert record["base"]["path"] == str(base) and record["base"]["training"]["dataset"] == str(base_build)
    assert record["rows"] == 16 + 8  # the dataset's sample and the pool of rehearsed base rows
    assert record["steps"] == 2 * (16 + 4) // 4  # each epoch: the sample and 4 rows drawn from the pool
    assert (target / "tokenizer.json").read_bytes() == (base / "tokenizer.json").read_bytes()  # the base's vocabulary
    before, after = load_file(base / "model.safetensors"), load_file(target / "model.safetensors")
    vision = [k for k in before if "vision_tower" in k]
    assert vision and all(torch.equal(before[k], after[k]) for k in vision)  # frozen
    assert not all(torch.equal(before[k], after[k]) for k in before)  # the rest trained


def test_a_base_not_trained_on_a_base_corpus_is_refused(trained: Path, tiny_build: Path, tmp_path: Path):
    from medforget.errors import ConfigError

    with pytest.raises(ConfigError, match="not a base corpus: it was built without --option exclude"):
        train_tiny(tiny_build, tmp_path / "target", SMOKE, base=trained)
