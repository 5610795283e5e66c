"""An output folder is replaced only when MedForget wrote all of it: a user's folder survives
every command that writes one, a failed write leaves the previous output as it was, and the
leftovers of a killed run are cleared without touching anything that merely looks like one."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from medforget import outputs
from medforget.cli import main
from medforget.outputs import WRITTEN, OutputError, folder_in_place


def write_once(out: Path, text: str = "a") -> None:
    with folder_in_place(out) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "file.txt").write_text(text)


def user_folder(tmp_path: Path) -> Path:
    """The issue's case: a manifest.json of the user's own beside their thesis."""
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "thesis.tex").write_text("two years of work")
    (folder / "manifest.json").write_text("{}")
    return folder


def test_build_refuses_a_folder_holding_a_manifest_and_the_users_files(tmp_path, capsys):
    folder = user_folder(tmp_path)
    assert main(["build", "--preset", "tiny", "--out", str(folder)]) == 2
    assert "never replaced" in capsys.readouterr().err
    assert (folder / "thesis.tex").read_text() == "two years of work"


def test_an_own_output_is_replaced_but_not_once_a_file_is_added_or_edited(tmp_path):
    out = tmp_path / "out"
    write_once(out)
    write_once(out, "b")  # what it wrote, unchanged: replaced
    assert (out / "sub" / "file.txt").read_text() == "b"
    (out / "sub" / "notes.md").write_text("mine")
    with pytest.raises(OutputError, match="did not write there.*sub/notes.md"):
        write_once(out, "c")
    (out / "sub" / "notes.md").unlink()
    (out / "sub" / "file.txt").write_text("edited by hand")
    with pytest.raises(OutputError, match="changed since.*sub/file.txt"):
        write_once(out, "c")
    assert (out / "sub" / "file.txt").read_text() == "edited by hand"


def test_a_record_that_lists_what_it_did_not_write_is_not_enough(tmp_path):
    out = tmp_path / "out"
    write_once(out)
    (out / WRITTEN).write_text(json.dumps({"files": ["sub/file.txt"]}))  # not the hashes it writes
    with pytest.raises(OutputError, match="not written by this MedForget"):
        write_once(out)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p / "file.txt", "is not a folder"),
        (lambda p: Path("."), "current folder"),
        (lambda p: p / ("n" * 256), "over 255 bytes"),
    ],
)
def test_outs_that_cannot_be_a_folder_are_refused_before_any_work(make, reason, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("mine")
    out = make(tmp_path)
    assert main(["build", "--preset", "tiny", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err
    assert (tmp_path / "file.txt").read_text() == "mine"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_is_an_error_and_the_previous_output_survives(code, tmp_path):
    out = tmp_path / "out"
    write_once(out)
    with (
        pytest.raises(OutputError, match=f"{os.strerror(code)}.*nothing was changed there"),
        folder_in_place(out) as tmp,
    ):
        (tmp / "half.parquet").write_bytes(b"x")
        raise OSError(code, os.strerror(code))  # what the disk answers part-way through
    assert (out / "sub" / "file.txt").read_text() == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left


def test_a_killed_runs_leftovers_are_removed_but_not_lookalikes(tmp_path):
    out = tmp_path / "out"
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)  # a process id that is gone
    leftover = tmp_path / f".out.tmp-{dead}"
    leftover.mkdir()
    (leftover / outputs.PARTIAL).write_text(str(dead))
    (leftover / "shard.parquet").write_bytes(b"x" * 1000)
    lookalike = tmp_path / f".out.tmp-{dead + 1}"  # a user's folder of that name: no marker
    lookalike.mkdir()
    (lookalike / "keep.txt").write_text("mine")
    alive = tmp_path / f".out.tmp-{os.getppid()}"  # a run still going
    alive.mkdir()
    (alive / outputs.PARTIAL).write_text(str(os.getppid()))
    write_once(out)
    assert not leftover.exists()
    assert (lookalike / "keep.txt").read_text() == "mine" and alive.exists()


def test_a_track_without_its_dataset_says_which_option(tmp_path, capsys):
    shutil.copytree(
        Path(__file__).parents[1] / "leaderboard",
        tmp_path / "board",
        ignore=shutil.ignore_patterns("submissions", "plots"),
    )
    assert main(["leaderboard", "build", "--board", str(tmp_path / "board"), "--dataset", "medforget-tiny"]) == 2
    assert "--dataset 'medforget-tiny': expected TRACK=DIR" in capsys.readouterr().err
