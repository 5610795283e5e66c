"""``medforget submit`` writes only where it may: never over a user's folder or file, and only
the archive kinds it makes."""

from __future__ import annotations

import json

import pytest

from medforget.cli import main
from tests.test_outputs import user_folder

RUNS = ("institution", "patient", "study", "section")


def test_submit_refuses_a_users_folder(board, tmp_path, capsys):
    folder = user_folder(tmp_path)
    runs = [board / "runs" / "oracle" / level for level in RUNS]
    assert main(["submit", *map(str, runs), "--name", "x", "--hardware", "test", "--out", str(folder)]) == 2
    assert "never replaced" in capsys.readouterr().err
    assert (folder / "thesis.tex").read_text() == "two years of work"
    out = tmp_path / "mine"  # its own earlier submission it replaces
    for _ in range(2):
        assert main(["submit", *map(str, runs), "--name", "x", "--hardware", "test", "--out", str(out)]) == 0
    assert json.loads((out / "submission.json").read_text())["name"] == "x"


@pytest.mark.parametrize(("name", "reason"), [("x.rar", "a submission archive is a"), ("taken.zip", "exists")])
def test_submit_refuses_an_archive_kind_it_does_not_write_and_an_existing_file(name, reason, board, tmp_path, capsys):
    (tmp_path / "taken.zip").write_bytes(b"the user's archive")
    runs = [board / "runs" / "oracle" / level for level in RUNS]
    assert main(["submit", *map(str, runs), "--name", "x", "--hardware", "test", "--out", str(tmp_path / name)]) == 2
    assert reason in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.zip"]
    assert (tmp_path / "taken.zip").read_bytes() == b"the user's archive"
