"""`medforget sweep`: the reference rows and every method at a level, in one process, written
where the single commands would write them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medforget.cli import main
from medforget.errors import ConfigError
from medforget.unlearning.sweep import Sweep


def test_sweep_evaluates_the_references_and_each_method(knowing: Path, tiny_build: Path, tmp_path: Path, capsys):
    shutil.copytree(knowing, tmp_path / "retain-section")  # stands in for a retain model
    runs = tmp_path / "runs"
    code = main(
        [
            "sweep",
            "--dataset",
            str(tiny_build),
            "--target",
            str(knowing),
            "--retain",
            str(tmp_path / "retain-{level}"),
            "--methods",
            "prune",
            "--levels",
            "section",
            "--models",
            str(tmp_path / "models"),
            "--runs",
            str(runs),
            "--track",
            "tiny",
        ]
    )
    assert code == 0
    results = {
        name: json.loads((runs / name / "section" / "results.json").read_text())
        for name in ("target", "retain", "prune")
    }
    assert {name: r["method"] for name, r in results.items()} == {
        "target": "target",
        "retain": "retain",
        "prune": "prune",
    }
    assert results["prune"]["model"] == str(tmp_path / "models" / "prune-section")
    record = json.loads((tmp_path / "models" / "prune-section" / "medforget_unlearning.json").read_text())
    assert (record["method"]["name"], record["level"], record["model"]) == ("prune", "section", str(knowing))
    names = {m["name"] for m in results["prune"]["metrics"]}
    assert {"sibling_damage", "forget_quality", "privleak_loss", "normalised_forget"} <= names  # target and retain
    assert results["prune"]["references"] == {
        "before": str(runs / "target" / "section"),
        "retain": str(runs / "retain" / "section"),
    }
    assert "sibling_damage" not in {m["name"] for m in results["target"]["metrics"]}
    table = (runs / "table.md").read_text()
    assert capsys.readouterr().out.endswith(table)
    assert [line.split(" | ")[1] for line in table.splitlines()[2:]] == ["prune", "retain", "target"]


def test_sweep_refuses_bad_plans_before_any_work(knowing: Path, tiny_build: Path, tmp_path: Path, capsys):
    args = [
        "sweep",
        "--dataset",
        str(tiny_build),
        "--target",
        str(knowing),
        "--models",
        str(tmp_path / "m"),
        "--runs",
        str(tmp_path / "r"),
    ]
    with pytest.raises(SystemExit) as exited:  # argparse: the method is not a choice of the registry
        main([*args, "--methods", "forget-everything"])
    assert exited.value.code == 2 and "invalid choice: 'forget-everything'" in capsys.readouterr().err
    assert main([*args, "--methods", "prune", "--levels", "ward"]) == 2
    assert "no level ward" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "m").exists()
    with pytest.raises(ConfigError, match=r"\{level\}"):
        Sweep(tiny_build, knowing, ("prune",), ("section",), tmp_path, tmp_path, retain="models/retain")
