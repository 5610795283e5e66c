"""`medforget table`: eval runs side by side, read from their results.json."""

from __future__ import annotations

from pathlib import Path

from medforget.cli import main
from tests.evaluators.test_run import run


def test_the_table_shows_each_run_headline_numbers(tiny_build: Path, tmp_path: Path, capsys):
    run(tmp_path, tiny_build, lambda row, split: row["answer"], "right", "--method", "target")
    run(
        tmp_path,
        tiny_build,
        lambda row, split: "" if "forget" in split else row["answer"],
        "unlearned",
        "--method",
        "oracle",
        "--before",
        str(tmp_path / "right"),
    )
    capsys.readouterr()
    assert main(["table", str(tmp_path / "unlearned"), str(tmp_path / "right")]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = {line.split("|")[2].strip(): [c.strip() for c in line.strip("|").split("|")] for line in lines[2:]}
    assert header[:6] == ["level", "method", "forget", "retain_sibling", "retain_other kept", "utility kept"]
    oracle = dict(zip(header, cells["oracle"]))
    assert oracle["forget"] == "0.000" and oracle["retain_sibling"] == "1.000" and oracle["sibling damage"] == "0.000"
    assert oracle["forget-retain gap"] == "1.000" and oracle["child leak"] == "0.000"
    assert dict(zip(header, cells["target"]))["retain_other kept"] == ""  # no --before: not measured


def test_a_folder_that_is_not_a_run_is_named(tmp_path: Path, capsys):
    assert main(["table", str(tmp_path)]) == 2
    assert "pass the --out folder of `medforget eval`" in capsys.readouterr().err
