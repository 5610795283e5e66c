"""medforget export --format lmms-eval: task YAMLs whose functions, applied to the rows the YAMLs
load, score a model exactly as ``medforget eval --predictions`` does."""

from __future__ import annotations

import importlib.util
import json
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from medforget.cli import main
from medforget.dataset import load_rows, read_manifest
from medforget.evaluators.metrics import PRIMARY, metrics_for
from medforget.evaluators.run import evaluate
from medforget.hierarchy import LEVEL_SPLITS
from medforget.models.adapters import PredictionsFile

LEVEL = "patient"


@pytest.fixture(scope="module")
def tasks(tiny_build: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lmms") / "tasks"
    assert main(["export", "--format", "lmms-eval", "--dataset", str(tiny_build), "--out", str(out)]) == 0
    return out


def _load(tasks: Path, name: str) -> dict:
    """A task YAML as lmms-eval reads it: ``!function utils.f`` is f of the folder's utils.py."""
    spec = importlib.util.spec_from_file_location("medforget_lmms_utils", tasks / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor(
        "!function", lambda loader, node: getattr(utils, loader.construct_scalar(node).split(".")[1])
    )
    return yaml.load((tasks / f"{name}.yaml").read_text(), Loader=Loader)


def test_a_task_per_level_split_and_task_and_a_group_per_level(tasks: Path, tiny_build: Path):
    manifest = read_manifest(tiny_build)
    expected = {
        f"medforget_{config}_{split}_{task}"
        for config, split in [(level, s) for level in manifest.targets for s in LEVEL_SPLITS] + [("utility", "test")]
        for task, n in manifest.counts[config][split].by_task.items()
        if n
    }
    assert {p.stem for p in tasks.glob("medforget_*.yaml")} == expected
    group = yaml.safe_load((tasks / f"_medforget_{LEVEL}.yaml").read_text())
    assert group["group"] == f"medforget_{LEVEL}" and set(group["task"]) == {t for t in expected if f"_{LEVEL}_" in t}
    task = _load(tasks, f"medforget_{LEVEL}_forget_generation")
    assert task["dataset_path"] == str(tiny_build.resolve()) and task["dataset_name"] == LEVEL
    assert task["test_split"] == "forget" and task["output_type"] == "generate_until"
    assert task["generation_kwargs"]["do_sample"] is False
    assert {m["metric"] for m in task["metric_list"]} == {m.name for m in metrics_for("generation")} | {"primary"}
    assert json.loads((tasks / "medforget_lmms_export.json").read_text())["tasks"]


def _predictions(rows: list[dict]) -> dict[str, str]:
    """Right on some rows, wrong or half right on others, unparseable on a few."""
    out = {}
    for n, row in enumerate(rows):
        kind = n % 4
        out[row["id"]] = (
            row["answer"] if kind == 0 else "no idea" if kind == 1 else row["answer"][: len(row["answer"]) // 2] or "x"
        )
    return out


def test_the_exported_functions_score_as_medforget_eval_does(tasks: Path, tiny_build: Path, tmp_path: Path):
    rows = [r for split in LEVEL_SPLITS for r in load_rows(tiny_build, LEVEL, split, images=False)]
    rows += load_rows(tiny_build, "utility", "test", images=False)
    predictions = _predictions(rows)
    file = tmp_path / "predictions.jsonl"
    file.write_text("".join(json.dumps({"id": k, "prediction": v}) + "\n" for k, v in predictions.items()))
    results = evaluate(tiny_build, LEVEL, PredictionsFile(file), tmp_path / "run", reconstruction=False)

    from datasets import load_dataset

    compared = 0
    for path in sorted(tasks.glob("medforget_*.yaml")):
        task = _load(tasks, path.stem)
        if task["dataset_name"] not in (LEVEL, "utility"):
            continue
        docs = task["process_docs"](load_dataset(task["dataset_path"], task["dataset_name"], split=task["test_split"]))
        kind = task["metadata"]["task"]
        assert len(docs) and set(docs["task"]) == {kind}
        scored: dict[str, list[float]] = defaultdict(list)
        for doc in docs:
            assert task["doc_to_text"](doc) == doc["question"] and task["doc_to_target"](doc) == doc["answer"]
            assert len(task["doc_to_visual"](doc)) == (doc["image"] is not None)
            for metric, value in task["process_results"](doc, [predictions[doc["id"]]]).items():
                scored[metric].append(value)
        split = "utility" if task["dataset_name"] == "utility" else task["test_split"]
        for entry in task["metric_list"]:
            metric = PRIMARY[kind] if entry["metric"] == "primary" else entry["metric"]
            mean = sum(scored[entry["metric"]]) / len(scored[entry["metric"]])
            assert mean == pytest.approx(results.value(metric, split, kind), abs=1e-12), (path.stem, metric)
            compared += 1
    assert compared >= 30
