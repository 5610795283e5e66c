"""``medforget leaderboard check | build | compare | tracks``."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget.cli.args import key_value
from medforget.errors import ConfigError


def add(commands: argparse._SubParsersAction) -> None:
    board = commands.add_parser("leaderboard", help="check a submission, or build the board")
    board_commands = board.add_subparsers(dest="board_command", required=True, metavar="ACTION")
    check = board_commands.add_parser(
        "check", help="validate a submission and recompute its scores from its predictions (exit 1: rejected)"
    )
    check.add_argument("submission", type=Path, metavar="PATH", help="a submission folder, .tar.gz or .zip")
    check.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="the board's dataset for its track")
    check.add_argument(
        "--target",
        type=Path,
        default=None,
        metavar="PATH",
        help="the track's target submission: enables sibling damage and utility retained",
    )
    check.add_argument(
        "--retain",
        type=Path,
        default=None,
        metavar="PATH",
        help="the track's retain submission: enables PrivLeak and forget quality, and with --target "
        "the normalised knowledge measures",
    )
    check.set_defaults(run=_run_check)
    build_board = board_commands.add_parser(
        "build", help="leaderboard/submissions/* -> board.json, index.html, board.md, plots/"
    )
    build_board.add_argument("--board", type=Path, default=Path("leaderboard"), metavar="DIR")
    build_board.add_argument(
        "--dataset",
        action="append",
        required=True,
        metavar="TRACK=DIR",
        help="each track's dataset, e.g. tiny=medforget-tiny (repeatable)",
    )
    build_board.add_argument(
        "--levels",
        nargs="+",
        default=None,
        metavar="LEVEL",
        help="a board of these levels only; each submission needs only them (default: every target level)",
    )
    build_board.set_defaults(run=_run_board_build)
    compare = board_commands.add_parser(
        "compare", help="does a board.json agree with a reference one, within what another CPU kind moves? (exit 1: no)"
    )
    compare.add_argument("built", type=Path, metavar="BOARD_JSON", help="the board.json to check")
    compare.add_argument("reference", type=Path, metavar="REFERENCE_JSON", help="e.g. the committed board.json")
    compare.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="largest difference allowed on any value (default: the reproducibility tolerance)",
    )
    compare.set_defaults(run=_run_board_compare)
    tracks = board_commands.add_parser(
        "tracks", help="name a track's target and retain submissions in the board's tracks.json, per seed"
    )
    tracks.add_argument("--board", type=Path, default=Path("leaderboard"), metavar="DIR")
    tracks.add_argument("--track", required=True)
    tracks.add_argument(
        "--seed",
        nargs=3,
        action="append",
        required=True,
        metavar=("SEED", "TARGET", "RETAIN"),
        help="a seed's target and retain submissions (repeatable); one --seed: every submission of the track "
        "is measured against them, several: each against those of the target it was unlearned from",
    )
    tracks.set_defaults(run=_run_board_tracks)


def _run_check(args: argparse.Namespace) -> int:
    import tempfile

    from medforget.leaderboard.check import check, reference
    from medforget.leaderboard.submission import SubmissionError

    with tempfile.TemporaryDirectory() as tmp:
        try:
            before = reference(args.target, "target", args.dataset, Path(tmp) / "target").runs if args.target else None
            retain = (
                reference(args.retain, "retain", args.dataset, Path(tmp) / "retain", before).runs
                if args.retain
                else None
            )
            checked = check(args.submission, args.dataset, Path(tmp) / "submission", before, retain)
        except SubmissionError as err:
            print(f"rejected: {err}")
            return 1
        print(f"accepted: {checked.manifest['name']}, levels {', '.join(checked.results)}; scores recomputed")
        print(
            "\n".join(f"  claimed number differs: {line}" for line in checked.disagreements)
            or "  every claimed number equals the recomputed one"
        )
    return 0


def _run_board_build(args: argparse.Namespace) -> int:
    from medforget.leaderboard.build import build

    datasets = dict(key_value(text, "--dataset", "TRACK=DIR") for text in args.dataset)
    data = build(args.board, {track: Path(path) for track, path in datasets.items()}, args.levels)
    print(f"board of {len(data['rows'])} rows in {args.board}: index.html, board.json, board.md, plots/")
    for entry in data["rejected"]:
        print(f"rejected: {entry['submission']}: {entry['reason']}")
    return 0


def _run_board_compare(args: argparse.Namespace) -> int:
    import json

    from medforget.leaderboard.build import compare
    from medforget.reproducibility import SCORE_TOLERANCE

    tolerance = SCORE_TOLERANCE if args.tolerance is None else args.tolerance
    boards = []
    for path in (args.built, args.reference):
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError(f"{path}: not a readable board.json ({err})") from err
        if not isinstance(board, dict) or not isinstance(board.get("rows"), list) or "schema" not in board:
            raise ConfigError(f"{path}: not a board.json (expected an object with 'schema' and 'rows')")
        boards.append(board)
    built, reference = boards
    found = compare(reference, built, tolerance)
    if found:
        print(f"{args.built} differs from {args.reference} beyond {tolerance}:")
        print("\n".join(f"  {line}" for line in found))
        return 1
    print(f"{args.built} agrees with {args.reference} within {tolerance} on every value")
    return 0


def _run_board_tracks(args: argparse.Namespace) -> int:
    from medforget.leaderboard.build import write_tracks

    seeds = {}
    for seed, target, retain in args.seed:
        if not seed.isdigit() or int(seed) in seeds:
            raise ConfigError(f"--seed {seed}: a seed is a non-negative integer, given once")
        seeds[int(seed)] = {"target": target, "retain": retain}
    write_tracks(args.board, args.track, seeds)
    print(f"{args.board / 'tracks.json'}: track {args.track!r}, seeds {', '.join(map(str, seeds))}")
    return 0
