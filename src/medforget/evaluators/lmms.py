"""MedForget as lmms-eval tasks (https://github.com/EvolvingLMMs-Lab/lmms-eval), so a GPU user
scores any model lmms-eval runs on a build.

``medforget export --format lmms-eval --dataset DIR --out TASKS`` writes one task YAML per level,
split and task (``medforget_<level>_<split>_<task>``; the utility set as
``medforget_utility_test_<task>``), a group per level, and a ``utils.py`` that imports this
module's functions (``medforget`` must be installed beside lmms-eval):

- ``doc_to_visual``: the row's image (none for a text-only twin);
- ``doc_to_text``: the row's question (classification questions carry their lettered options);
- ``doc_to_target``: the reference answer;
- ``process_results``: our metrics on the model's answer (:func:`medforget.evaluators.metrics.score_row`),
  each aggregated by its mean, so a task's numbers are those ``medforget eval --predictions``
  gives for that split and task;
- ``<task>_docs``: the rows of one task (``process_docs``).

Run ``lmms-eval --include_path TASKS --tasks medforget_patient --model ...``. The YAMLs read the
build folder with ``datasets.load_dataset(path, name)``; generation is greedy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medforget.dataset import read_manifest
from medforget.evaluators.metrics import PRIMARY, TASKS, metrics_for, score_row
from medforget.hierarchy import LEVEL_SPLITS
from medforget.outputs import folder_in_place, sha256_file, write_json

LMMS_EXPORT_VERSION = "1.0.0"
#: longest answer, in new tokens (the references are at most a report sentence)
MAX_NEW_TOKENS = 64

UTILS = '''"""lmms-eval hooks of the MedForget tasks: medforget's own functions (pip install medforget)."""

from medforget.evaluators.lmms import (  # noqa: F401
    classification_docs,
    cloze_docs,
    doc_to_target,
    doc_to_text,
    doc_to_visual,
    generation_docs,
    process_results,
)
'''


def doc_to_visual(doc: Mapping[str, Any]) -> list[Any]:
    return [] if doc["image"] is None else [doc["image"].convert("RGB")]


def doc_to_text(doc: Mapping[str, Any], lmms_eval_specific_kwargs: Mapping[str, Any] | None = None) -> str:
    return str(doc["question"])


def doc_to_target(doc: Mapping[str, Any]) -> str:
    return str(doc["answer"])


def process_results(doc: Mapping[str, Any], results: Sequence[str]) -> dict[str, float]:
    """Every metric of the row's task, and ``primary`` (the task's primary metric)."""
    score = score_row(results[0] if results else "", doc)
    return {**score.values, "primary": score.primary_value}


def _task_docs(task: str) -> Any:
    def docs(dataset: Any) -> Any:
        return dataset.filter(lambda kind: kind == task, input_columns="task")  # images stay undecoded

    docs.__name__ = f"{task}_docs"
    return docs


classification_docs = _task_docs("classification")
generation_docs = _task_docs("generation")
cloze_docs = _task_docs("cloze")


@dataclass(frozen=True)
class LmmsExport:
    out: Path
    tasks: tuple[str, ...]
    groups: tuple[str, ...]


def export_lmms_eval(dataset: Path, out: Path) -> LmmsExport:
    """The task YAMLs, groups and ``utils.py`` of ``dataset``'s build into ``out`` (replaced
    whole, and only over what an earlier export wrote)."""
    manifest = read_manifest(dataset)  # a wrong folder fails before anything is written
    location = str(dataset.resolve())
    parts = [(level, split) for level in manifest.targets for split in LEVEL_SPLITS] + [("utility", "test")]
    tasks: list[tuple[str, str, str, str]] = []
    for config, split in parts:
        counts = manifest.counts.get(config, {}).get(split)
        tasks += [
            (config, split, task, _name(config, split, task)) for task in TASKS if counts and counts.by_task.get(task)
        ]
    with folder_in_place(out) as tmp:
        for config, split, task, name in tasks:
            (tmp / f"{name}.yaml").write_text(
                _task_yaml(name, location, config, split, task, manifest), encoding="utf-8"
            )
        groups = sorted({config for config, *_ in tasks})
        for group in groups:
            members = [name for config, *_, name in tasks if config == group]
            body = {"group": f"medforget_{group}", "task": members}
            (tmp / f"_medforget_{group}.yaml").write_text(_yaml(body), encoding="utf-8")
        (tmp / "utils.py").write_text(UTILS, encoding="utf-8")
        write_json(
            tmp / "medforget_lmms_export.json",
            {
                "export_version": LMMS_EXPORT_VERSION,
                "dataset": location,
                "manifest_sha256": sha256_file(dataset / "manifest.json"),
                "tasks": [name for *_, name in tasks],
            },
        )
    return LmmsExport(out, tuple(name for *_, name in tasks), tuple(f"medforget_{g}" for g in groups))


def _name(config: str, split: str, task: str) -> str:
    return f"medforget_{config}_{split}_{task}"


def _task_yaml(name: str, location: str, config: str, split: str, task: str, manifest: Any) -> str:
    metrics = [m.name for m in metrics_for(task)] + ["primary"]
    lines = [
        f"# MedForget {config} / {split}, {task} rows (medforget export --format lmms-eval); primary: {PRIMARY[task]}",
        _yaml(
            {
                "task": name,
                "dataset_path": location,
                "dataset_name": config,
                "test_split": split,
                "output_type": "generate_until",
            }
        ),
        f"process_docs: !function utils.{task}_docs",
        "doc_to_visual: !function utils.doc_to_visual",
        "doc_to_text: !function utils.doc_to_text",
        "doc_to_target: !function utils.doc_to_target",
        "process_results: !function utils.process_results",
        _yaml(
            {
                "generation_kwargs": {
                    "max_new_tokens": MAX_NEW_TOKENS,
                    "temperature": 0,
                    "do_sample": False,
                    "num_beams": 1,
                },
                # higher_is_better is the metric's own sense; on a forget split, unlearning wants it low
                "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metrics],
                "metadata": {
                    "version": LMMS_EXPORT_VERSION,
                    "medforget_version": manifest.medforget_version,
                    "level": config,
                    "split": split,
                    "task": task,
                },
            }
        ),
    ]
    return "\n".join(lines)


def _yaml(data: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
