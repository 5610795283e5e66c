import json
import subprocess
import sys
from pathlib import Path

from medforget.cli import main


def test_help_imports_nothing_heavy():
    heavy = ("datasets", "pyarrow", "PIL", "numpy", "faker")
    code = f"import sys, medforget.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    help_text = subprocess.run(
        [sys.executable, "-m", "medforget", "build", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--preset" in help_text and "--images" in help_text and "--seed" in help_text


def test_user_errors_are_one_line_and_exit_2(capsys, tmp_path: Path):
    assert main(["build", "--preset", "tinny", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medforget: error: unknown preset 'tinny'; did you mean 'tiny'?")
    assert "Traceback" not in err


def test_build_command_with_yaml_config_and_seed_flag(tmp_path: Path, small_config, capsys):
    config = tmp_path / "build.yaml"
    config.write_text(
        f"preset: tiny\nsource_options: {{reports_archive: {small_config.source_options['reports_archive']}}}\n"
        "n_utility_images: 4\n"
        "targets_per_level: {institution: 1, patient: 1, study: 1, section: 1}\n"
    )
    out = tmp_path / "ds"
    assert main(["build", "--config", str(config), "--seed", "3", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["preset"], manifest["seed"]) == ("tiny", 3)
    summary = capsys.readouterr().out
    assert f"into {out}" in summary and "QA rows" in summary


def test_eval_and_train_name_bad_paths_and_levels(capsys, tmp_path: Path, tiny_build: Path):
    assert (
        main(
            [
                "eval",
                "--predictions",
                str(tmp_path / "p.jsonl"),
                "--dataset",
                str(tmp_path / "nothing"),
                "--level",
                "patient",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 2
    )
    assert "is missing or not JSON" in capsys.readouterr().err
    assert (
        main(
            [
                "eval",
                "--predictions",
                str(tmp_path / "p.jsonl"),
                "--dataset",
                str(tiny_build),
                "--level",
                "patient",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 2
    )
    assert "p.jsonl does not exist" in capsys.readouterr().err
    assert main(["train", "--dataset", str(tiny_build), "--without", "ward", "--out", str(tmp_path / "m")]) == 2
    assert "--without 'ward'" in capsys.readouterr().err and not (tmp_path / "m").exists()
    assert main(["train", "--dataset", str(tiny_build), "--threads", "0", "--out", str(tmp_path / "m")]) == 2
    assert "--threads 0" in capsys.readouterr().err and not (tmp_path / "m").exists()
    lora = ["train", "--dataset", str(tiny_build), "--base-model", str(tmp_path), "--threads", "1"]
    assert main([*lora, "--out", str(tmp_path / "m")]) == 2
    assert "--threads" in capsys.readouterr().err and not (tmp_path / "m").exists()
