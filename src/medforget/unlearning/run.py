"""``medforget unlearn``: load a checkpoint, run one method at one level, save the result.

The output folder is an ordinary checkpoint (or a LoRA adapter whose ``adapter_config.json``
names the input checkpoint as its base), with the processor, the method's artefacts in
``unlearning_state.safetensors`` (CHIP: selected units, directions and bases per module;
pruning: the pruned units) and ``medforget_unlearning.json``: method and version,
hyperparameters, seed, input model, dataset manifest and split hashes, row counts, wall time and
the code commit. It is written to a temporary folder and moved into place when complete.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import medforget
from medforget.outputs import check_replaceable, folder_in_place
from medforget.records import to_json
from medforget.unlearning.base import METHODS, Outcome, configure

UNLEARNING_VERSION = "1.0.0"

if TYPE_CHECKING:
    from transformers import ProcessorMixin


def method_for(name: str, params: Mapping[str, Any], track: str = "model") -> Any:
    """The method ``name`` with the track's defaults (its ``tiny_track`` for ``tiny``), then
    ``params``, over its own."""
    cls = METHODS.get(name)
    return configure(cls, {**(cls.tiny_track if track == "tiny" else {}), **params})


def unlearn(
    method: Any, level: str, model_path: Path, dataset: Path, out: Path, seed: int = 0, threads: int | None = None
) -> dict[str, Any]:
    """Run ``method`` on ``model_path`` at ``level`` of ``dataset``; write the result to ``out``
    (replacing only a folder this command wrote there: checked before the work, not after)."""
    import torch

    check_replaceable(out)
    from medforget.models.families import load_checkpoint
    from medforget.reproducibility import code_commit, machine
    from medforget.unlearning.data import load_unlearn_data

    data = load_unlearn_data(dataset, level)
    model, processor = load_checkpoint(model_path)
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
    torch.manual_seed(seed)
    if torch.cuda.is_available() and not method.trains:  # the trainer places what it trains
        model = model.to("cuda")
    start = time.perf_counter()
    outcome = method.run(model, processor, data, seed)
    seconds = time.perf_counter() - start
    record = {
        "unlearning_version": UNLEARNING_VERSION,
        "medforget_version": medforget.__version__,
        "commit": code_commit(),
        "method": {"name": method.name, "version": method.version, "hyperparameters": dataclasses.asdict(method)},
        "seed": seed,
        "level": level,
        "model": str(model_path),
        "output": "lora" if outcome.adapter else "checkpoint",
        "dataset": to_json(data.record),
        "rows": {"forget": len(data.forget), "retain": len(data.retain)},
        "seconds": round(seconds, 2),
        "machine": machine(),
        "summary": outcome.summary,
    }
    from accelerate import PartialState

    if PartialState().is_main_process:  # under `accelerate launch`, one process writes
        _save(outcome, processor, model_path, out, record)
    return record


def _save(outcome: Outcome, processor: ProcessorMixin, base: Path, out: Path, record: Mapping[str, Any]) -> None:
    from safetensors.torch import save_file

    with folder_in_place(out) as staging:
        if outcome.adapter:
            outcome.model.peft_config["default"].base_model_name_or_path = str(base.resolve())
        outcome.model.save_pretrained(staging)
        processor.save_pretrained(staging)
        if outcome.tensors:
            tensors = {k: v.detach().cpu().contiguous() for k, v in outcome.tensors.items()}
            save_file(tensors, str(staging / "unlearning_state.safetensors"))
        (staging / "medforget_unlearning.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
