"""The checker recomputes every score from the predictions and rejects hostile submissions."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from medforget.cli import main
from medforget.evaluators.results import read_results
from medforget.leaderboard import check as checker
from medforget.leaderboard.check import check
from medforget.leaderboard.submission import SubmissionError


def copy(board: Path, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(board / "submissions" / name, tmp_path / name))


def test_recomputed_scores_equal_the_evaluator_on_the_same_predictions(board, tiny_build, tmp_path):
    before = check(board / "submissions" / "target", tiny_build, tmp_path / "target").runs
    retain = check(board / "submissions" / "retain", tiny_build, tmp_path / "retain", before).runs
    checked = check(board / "submissions" / "oracle", tiny_build, tmp_path / "oracle", before, retain)
    for level, results in checked.results.items():
        evaluated = read_results(board / "runs" / "oracle" / level)
        assert results.metrics == evaluated.metrics  # PrivLeak and forget quality included
    assert checked.disagreements == []
    alone = check(board / "submissions" / "oracle", tiny_build, tmp_path / "alone")  # no references given
    assert not {"sibling_damage", "privleak_loss", "forget_quality", "normalised_forget"} & {
        m.name for m in alone.results["patient"].metrics
    }


def test_claimed_numbers_are_ignored_and_disagreements_reported(board, tiny_build, tmp_path):
    folder = copy(board, "target", tmp_path)
    claimed = json.loads((folder / "claimed" / "patient.json").read_text())
    gap = next(m for m in claimed["metrics"] if m["name"] == "forget_retain_gap")
    gap["value"] = 0.99
    (folder / "claimed" / "patient.json").write_text(json.dumps(claimed))
    checked = check(folder, tiny_build, tmp_path / "work")
    assert any("forget_retain_gap" in line and "claimed 0.99" in line for line in checked.disagreements)
    assert checked.results["patient"].value("forget_retain_gap") == 0.0


def edit_predictions(folder: Path, change) -> Path:
    path = folder / "predictions" / "study.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")
    return folder


def edit_manifest(folder: Path, change) -> Path:
    manifest = json.loads((folder / "submission.json").read_text())
    change(manifest)
    (folder / "submission.json").write_text(json.dumps(manifest))
    return folder


def with_nan(lines):
    record = json.loads(lines[0])
    return [json.dumps({**record, "logprobs": [float("nan")]}), *lines[1:]]


HOSTILE = {
    "unknown schema version": (
        lambda f: edit_manifest(f, lambda m: m.update(schema_version="9.9")),
        "unknown submission schema version",
    ),
    "missing level": (lambda f: edit_manifest(f, lambda m: m.update(levels=["patient"])), "missing"),
    "other data": (
        lambda f: edit_manifest(f, lambda m: m["dataset"]["splits"]["study"].update(forget="0" * 64)),
        "other data than the board's",
    ),
    "NaN": (lambda f: edit_predictions(f, with_nan), "NaN is not a number"),
    "NaN claimed": (
        lambda f: (
            (f / "claimed" / "study.json").write_text(
                (f / "claimed" / "study.json").read_text().replace('"value": 1.0', '"value": NaN', 1)
            )
            and f
        ),
        "NaN",
    ),
    "unknown id": (
        lambda f: edit_predictions(f, lambda ls: [*ls, json.dumps({"id": "qa-nothere", "prediction": "x"})]),
        "not in the dataset",
    ),
    "duplicate": (lambda f: edit_predictions(f, lambda ls: [*ls, ls[0]]), "duplicate entry"),
    "incomplete": (lambda f: edit_predictions(f, lambda ls: ls[1:]), "have no prediction"),
    "symlink": (lambda f: (f / "link").symlink_to("/etc/passwd") or f, "symbolic link"),
    "positive log-probability": (
        lambda f: edit_predictions(f, lambda ls: [json.dumps({**json.loads(ls[0]), "logprobs": [0.5]}), *ls[1:]]),
        "log-probabilities",
    ),
    "results of schema 1": (
        lambda f: (
            (f / "claimed" / "study.json").write_text(
                (f / "claimed" / "study.json").read_text().replace('"schema_version": 2', '"schema_version": 1', 1)
            )
            and f
        ),
        "schema_version 1 is older",
    ),
    "truth answer with a prediction only": (
        lambda f: edit_predictions(
            f,
            lambda ls: [
                *(line for line in ls if "#paraphrased" not in line),
                *(
                    json.dumps({"id": json.loads(line)["id"], "prediction": "x"})
                    for line in ls
                    if "#paraphrased" in line
                ),
            ],
        ),
        "carries 'logprobs' only",
    ),
}


DEEP = "[" * 100_000 + "]" * 100_000


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return folder


HOSTILE.update(
    {
        "submission.json nested too deeply": (lambda f: write(f, "submission.json", DEEP), "nested too deeply"),
        "predictions nested too deeply": (lambda f: edit_predictions(f, lambda ls: [DEEP, *ls]), "nested too deeply"),
        "claimed results nested too deeply": (lambda f: write(f, "claimed/study.json", DEEP), "nested too deeply"),
        "predictions not UTF-8": (lambda f: write(f, "predictions/study.jsonl", b'{"id": "\xff\xfe"}\n'), "not UTF-8"),
        "dataset.splits a list": (
            lambda f: edit_manifest(f, lambda m: m["dataset"].update(splits=[])),
            "dataset.splits must map",
        ),
        "method name a number": (
            lambda f: edit_manifest(f, lambda m: m["method"].update(name=7)),
            "method.name must be a string",
        ),
        "method name with a newline": (
            lambda f: edit_manifest(f, lambda m: m["method"].update(name="a\n| forged |")),
            "control or format character",
        ),
        "method name with a bidirectional override": (
            lambda f: edit_manifest(f, lambda m: m["method"].update(name="npo\u202egnp")),
            "control or format",
        ),
        "name not a folder name": (
            lambda f: edit_manifest(f, lambda m: m.update(name="../target")),
            "name '../target'",
        ),
        "boolean log-probabilities": (
            lambda f: edit_predictions(
                f, lambda ls: [json.dumps({**json.loads(ls[0]), "logprobs": [True, False]}), *ls[1:]]
            ),
            "log-probabilities",
        ),
        "a key twice in a prediction": (
            lambda f: edit_predictions(f, lambda ls: [ls[0][:-1] + ', "prediction": "other"}', *ls[1:]]),
            "'prediction' appears twice",
        ),
        "a key twice in submission.json": (
            lambda f: write(
                f, "submission.json", (f / "submission.json").read_text().replace("{", '{"role": "target", ', 1)
            ),
            "'role' appears twice",
        ),
        "a prediction too long to score": (
            lambda f: edit_predictions(
                f,
                lambda ls: [
                    json.dumps({**json.loads(ls[0]), "prediction": "x" * (checker.MAX_PREDICTION_CHARS + 1)}),
                    *ls[1:],
                ],
            ),
            "over the 8192 limit",
        ),
        "too many log-probabilities": (
            lambda f: edit_predictions(
                f,
                lambda ls: [
                    json.dumps({**json.loads(ls[0]), "logprobs": [-1.0] * (checker.MAX_LOGPROBS + 1)}),
                    *ls[1:],
                ],
            ),
            "over the 4096 limit",
        ),
        "an absolute local model path": (
            lambda f: edit_manifest(f, lambda m: m["models"].update(study="/home/me/x")),
            "path on the submitter's machine",
        ),
        "a weights link that is a script": (
            lambda f: edit_manifest(f, lambda m: m.update(weights_url="javascript:x()")),
            "weights_url must be an http",
        ),
        "submission.json a FIFO": (
            lambda f: ((f / "submission.json").unlink(), os.mkfifo(f / "submission.json")) and f,
            "FIFO",
        ),
    }
)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_submissions_are_rejected_with_a_reason(case, board, tiny_build, tmp_path):
    spoil, reason = HOSTILE[case]
    folder = spoil(copy(board, "oracle", tmp_path))
    with pytest.raises(SubmissionError, match=reason):
        check(folder, tiny_build, tmp_path / "work")


def tar_with(path: Path, name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, link: str = "") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.size = kind, link, 0 if link else len(data)
        archive.addfile(info, None if link else io.BytesIO(data))
    return path


def tar_of(path: Path, names: list[str], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 1
            archive.addfile(info, io.BytesIO(b"x"))
    return path


def truncated(path: Path) -> Path:
    tar_of(path, [f"s/f{i}" for i in range(50)], "w:gz")
    path.write_bytes(path.read_bytes()[:-200])
    return path


def zip_with(path: Path, flag_bits: int = 0, compress_type: int = zipfile.ZIP_STORED, spoil: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("s/submission.json")
        info.compress_type = zipfile.ZIP_STORED
        archive.writestr(info, b"{}" * 100)
    data = bytearray(path.read_bytes())
    if flag_bits or compress_type:  # in the local header (offset 6, 8) and the central directory (8, 10)
        central = data.rindex(b"PK\x01\x02")
        for at in (6, central + 8):
            data[at : at + 2] = flag_bits.to_bytes(2, "little")
            data[at + 2 : at + 4] = compress_type.to_bytes(2, "little")
    if spoil:  # the member's bytes, not its CRC
        data[50:54] = b"XXXX"  # 30 header bytes and the 17 of its name come first
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: tar_of(p / "a.tar.gz", [f"s/f{i}" for i in range(checker.MAX_MEMBERS + 1)]), "over 1000 members"),
        (lambda p: tar_of(p / "a.tar.gz", ["s/a", "s/a/b"]), "cannot be unpacked"),  # a file where a folder must go
        (lambda p: tar_of(p / "a.tar.gz", ["s/" + "n" * 256]), "over 255 bytes"),
        (lambda p: truncated(p / "a.tar.gz"), "cannot be unpacked"),
        (lambda p: zip_with(p / "a.zip", flag_bits=0x1), "encrypted"),
        (lambda p: zip_with(p / "a.zip", compress_type=99), "cannot be unpacked"),  # an unknown compression
        (lambda p: zip_with(p / "a.zip", spoil=True), "cannot be unpacked"),  # its CRC no longer matches
        (lambda p: tar_with(p / "a.tar.gz", "../../evil.json"), "path traversal"),
        (lambda p: tar_with(p / "a.tar.gz", "/abs/submission.json"), "path traversal"),
        (lambda p: tar_with(p / "a.tar.gz", "passwd", kind=tarfile.SYMTYPE, link="/etc/passwd"), "link"),
        (lambda p: tar_with(p / "a.tar.gz", "h", kind=tarfile.LNKTYPE, link="submission.json"), "link"),
    ],
)
def test_hostile_archives_are_rejected(make, reason, tiny_build, tmp_path):
    with pytest.raises(SubmissionError, match=reason):
        check(make(tmp_path), tiny_build, tmp_path / "work")
    assert not (tmp_path.parent / "evil.json").exists()


def test_oversized_files_are_rejected(board, tiny_build, tmp_path, monkeypatch):
    monkeypatch.setattr(checker, "MAX_FILE_BYTES", 1000)
    with pytest.raises(SubmissionError, match="over the 1000 limit"):
        check(copy(board, "oracle", tmp_path), tiny_build, tmp_path / "work")


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_an_archive_made_by_submit_is_accepted(suffix, board, tiny_build, tmp_path, capsys):
    runs = [board / "runs" / "oracle" / level for level in ("institution", "patient", "study", "section")]
    archive = tmp_path / f"oracle{suffix}"
    assert main(["submit", *map(str, runs), "--name", "oracle", "--hardware", "test", "--out", str(archive)]) == 0
    assert main(["leaderboard", "check", str(archive), "--dataset", str(tiny_build)]) == 0
    assert "accepted: oracle" in capsys.readouterr().out


def test_a_folder_with_too_many_files_is_rejected(board, tiny_build, tmp_path):
    folder = copy(board, "oracle", tmp_path)
    for i in range(checker.MAX_MEMBERS):
        (folder / f"junk{i}").touch()
    with pytest.raises(SubmissionError, match="over 1000 files"):
        check(folder, tiny_build, tmp_path / "work")


def test_check_refuses_a_non_target_as_the_target_and_a_non_retain_as_the_retain(board, tiny_build, capsys):
    oracle, target = board / "submissions" / "oracle", board / "submissions" / "target"
    assert main(["leaderboard", "check", str(oracle), "--dataset", str(tiny_build), "--target", str(oracle)]) == 1
    assert "'unlearned' submission, not the track's target" in capsys.readouterr().out
    assert (
        main(
            [
                "leaderboard",
                "check",
                str(oracle),
                "--dataset",
                str(tiny_build),
                "--target",
                str(target),
                "--retain",
                str(target),
            ]
        )
        == 1
    )
    assert "'target' submission, not the track's retain" in capsys.readouterr().out


def test_submit_names_models_without_the_submitters_local_paths(board):
    manifest = json.loads((board / "submissions" / "oracle" / "submission.json").read_text())
    assert all(not model.startswith("/") for model in manifest["models"].values())


def test_a_rejected_submission_exits_1_with_the_reason(tiny_build, tmp_path, capsys):
    bad = tar_with(tmp_path / "bad.tar.gz", "../x")
    assert main(["leaderboard", "check", str(bad), "--dataset", str(tiny_build)]) == 1
    assert "rejected:" in capsys.readouterr().out
