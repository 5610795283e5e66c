"""``medforget submit``: package eval runs into a leaderboard submission."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(commands: argparse._SubParsersAction) -> None:
    submit = commands.add_parser(
        "submit",
        help="package eval runs of one model (one per level) into a leaderboard submission",
        description="Copies each run's per-sample predictions (and its results, as claimed numbers the board "
        "ignores) with a submission.json: method, hyperparameters, seed, commit, model, hardware, track, role and "
        "the dataset's hashes. Format: medforget/leaderboard/submission.py.",
    )
    submit.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="--out folders of `medforget eval`")
    submit.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="a folder (e.g. leaderboard/submissions/NAME) or an archive (NAME.tar.gz, NAME.zip)",
    )
    submit.add_argument("--name", required=True, help="the submission's name on the board")
    submit.add_argument("--track", default="tiny", help="tiny, or a named model track (e.g. lingshu-7b)")
    submit.add_argument("--role", choices=("unlearned", "target", "retain"), default="unlearned")
    submit.add_argument("--hardware", default=None, help="what it ran on (default: this machine)")
    submit.add_argument("--weights-url", default=None, help="a link to the unlearned weights")
    submit.set_defaults(run=_run_submit)


def _run_submit(args: argparse.Namespace) -> int:
    import tempfile

    from medforget.leaderboard.submission import archive, is_archive, package

    if is_archive(args.out):
        with tempfile.TemporaryDirectory() as tmp:
            manifest = package(
                args.runs, Path(tmp) / "submission", args.name, args.track, args.role, args.hardware, args.weights_url
            )
            archive(Path(tmp) / "submission", args.out)
    else:
        manifest = package(args.runs, args.out, args.name, args.track, args.role, args.hardware, args.weights_url)
    print(
        f"submission {manifest['name']} ({manifest['role']}, {manifest['track']} track, levels "
        f"{', '.join(manifest['levels'])}) in {args.out}"
    )
    return 0
