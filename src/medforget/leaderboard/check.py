"""``medforget leaderboard check``: is a submission safe, complete and about the board's data,
and what are its scores when we compute them from its predictions.

Claimed numbers are never used: every score is recomputed by the evaluator from the submitted
predictions and log-probabilities (sibling damage and utility retained against the track's
target submission; PrivLeak, forget quality and the normalised knowledge against its retain
submission), and any claimed number that disagrees is reported.
"""

from __future__ import annotations

import hashlib
import json
import math
import tarfile
import zipfile
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medforget.errors import ConfigError, MedForgetError
from medforget.leaderboard.submission import SubmissionError, validate_manifest
from medforget.outputs import MAX_NAME_BYTES, name_too_long

if TYPE_CHECKING:
    from medforget.evaluators.results import Results

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024
#: files and folders in a submission (one needs 2 per level and submission.json)
MAX_MEMBERS = 1000
#: characters of one prediction: an answer is a few sentences; scoring a megabyte-long one costs
#: minutes (ROUGE-L is quadratic), so a longer one is refused rather than cut
MAX_PREDICTION_CHARS = 8192
#: log-probabilities of one answer (its tokens)
MAX_LOGPROBS = 4096


@dataclass
class Checked:
    """A submission that passed: its manifest, and per level the recomputed results, the
    folder of the recomputed run (a ``--before`` for the track's other submissions) and the
    digest of its predictions (equal for two submissions whose predictions are the same)."""

    manifest: dict[str, Any]
    results: dict[str, Results]
    runs: dict[str, Path]
    digests: dict[str, str] = field(default_factory=dict)
    disagreements: list[str] = field(default_factory=list)


def unpack(path: Path, into: Path) -> Path:
    """The submission folder: ``path`` itself, or an archive safely extracted into ``into``
    (no absolute paths, no ``..``, no links, no file over :data:`MAX_FILE_BYTES`)."""
    if path.is_symlink():
        raise SubmissionError(f"{path} is a symbolic link; submit the folder or archive itself")
    if path.is_dir():
        _check_tree(path)
        return path
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    if not path.is_file():
        raise SubmissionError(f"{path} is not a regular file (a FIFO, socket or device); submit a folder or archive")
    try:
        if zipfile.is_zipfile(path):
            _unzip(path, into)
        elif tarfile.is_tarfile(path):
            _untar(path, into)
        else:
            raise SubmissionError(f"{path} is neither a folder nor a .tar.gz / .zip archive")
    except (
        OSError,
        EOFError,
        RuntimeError,
        NotImplementedError,
        tarfile.TarError,
        zipfile.BadZipFile,
        zlib.error,
    ) as err:  # truncated, corrupt, or a member the file system cannot hold
        raise SubmissionError(
            f"{path}: the archive cannot be unpacked ({type(err).__name__}: {err}); "
            "make it again with `medforget submit ... --out NAME.tar.gz`"
        ) from err
    found = [p.parent for p in into.rglob("submission.json")]
    if len(found) != 1:
        raise SubmissionError(f"{path} must hold exactly one submission.json (found {len(found)})")
    return found[0]


def _unzip(path: Path, into: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        _check_members(path, [(m.filename, m.file_size, _zip_is_link(m)) for m in infos[: MAX_MEMBERS + 1]])
        encrypted = [m.filename for m in infos if m.flag_bits & 0x1]
        if encrypted:
            raise SubmissionError(f"{path}: member {encrypted[0]!r} is encrypted; submit an unencrypted archive")
        archive.extractall(into)


def _untar(path: Path, into: Path) -> None:
    with tarfile.open(path) as archive:
        infos = []
        for info in archive:  # one at a time: a count over the limit stops reading at once
            infos.append(info)
            if len(infos) > MAX_MEMBERS:
                break
        _check_members(path, [(m.name, m.size, m.issym() or m.islnk() or not (m.isfile() or m.isdir())) for m in infos])
        archive.extractall(into, filter="data")


def _zip_is_link(member: zipfile.ZipInfo) -> bool:
    return (member.external_attr >> 16) & 0o170000 == 0o120000


def _check_members(path: Path, members: list[tuple[str, int, bool]]) -> None:
    """Each member as (name, size, is a link or special file)."""
    if len(members) > MAX_MEMBERS:
        raise SubmissionError(f"{path}: over {MAX_MEMBERS} members; a submission holds a few files per level")
    total = 0
    for name, size, is_link in members:
        parts = Path(name).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise SubmissionError(f"{path}: member {name[:200]!r} escapes the archive (path traversal)")
        if name_too_long(parts):
            raise SubmissionError(f"{path}: member {name[:200]!r}... has a name over {MAX_NAME_BYTES} bytes")
        if is_link:
            raise SubmissionError(f"{path}: member {name!r} is a link or a special file; only files are accepted")
        if size > MAX_FILE_BYTES:
            raise SubmissionError(f"{path}: member {name!r} is {size} bytes, over the {MAX_FILE_BYTES} limit")
        total += size
    if total > MAX_TOTAL_BYTES:
        raise SubmissionError(f"{path}: {total} bytes unpacked, over the {MAX_TOTAL_BYTES} limit")


def _check_tree(folder: Path) -> None:
    total = 0
    for count, item in enumerate(folder.rglob("*"), 1):
        if count > MAX_MEMBERS:
            raise SubmissionError(f"{folder}: over {MAX_MEMBERS} files and folders; a submission holds a few per level")
        if item.is_symlink():
            raise SubmissionError(f"{item} is a symbolic link; only files are accepted")
        if not (item.is_file() or item.is_dir()):
            raise SubmissionError(f"{item} is a FIFO, socket or device; only files are accepted")
        if item.is_file():
            size = item.stat().st_size
            if size > MAX_FILE_BYTES:
                raise SubmissionError(f"{item} is {size} bytes, over the {MAX_FILE_BYTES} limit")
            total += size
    if total > MAX_TOTAL_BYTES:
        raise SubmissionError(f"{folder} holds {total} bytes, over the {MAX_TOTAL_BYTES} limit")


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "submission.json"
    if path.exists() and not path.is_file():
        raise SubmissionError(f"{path} is not a regular file")
    manifest = load_json(_read_text(path), path.name)
    validate_manifest(manifest)
    return manifest


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(f"{path.name} is not UTF-8 text ({err}); JSON files are UTF-8") from err
    except OSError as err:
        raise SubmissionError(f"{path} is missing or unreadable ({err.strerror or err})") from err


def load_json(text: str, where: str) -> Any:
    """Strict JSON: no NaN or Infinity, no key twice in one object (JSON parsers disagree on
    which copy wins), and a clear error for nesting deeper than the parser can follow."""
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except RecursionError as err:
        raise SubmissionError(f"{where}: JSON nested too deeply to read") from err
    except ValueError as err:
        raise SubmissionError(f"{where}: not valid JSON ({str(err)[:200]})") from err


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number a submission may carry")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"key {twice[:100]!r} appears twice in one object")
    return dict(pairs)


def board_levels(targets: Collection[str], levels: Sequence[str] | None) -> list[str]:
    """The levels a board scores: ``levels`` (each a target level of the dataset, in the
    dataset's order), or every target level when None."""
    if levels is None:
        return list(targets)
    unknown = sorted(set(levels) - set(targets))
    if unknown or not levels:
        raise ConfigError(f"levels {unknown or '[]'} are not target levels of the dataset ({', '.join(targets)})")
    return [level for level in targets if level in levels]


def check(
    path: Path,
    dataset: Path,
    work: Path,
    before: Mapping[str, Path] | None = None,
    retain: Mapping[str, Path] | None = None,
    levels: Sequence[str] | None = None,
) -> Checked:
    """Check the submission at ``path`` against ``dataset`` and recompute its scores into
    ``work``; ``before`` (level -> recomputed run of the track's target) enables sibling damage
    and utility retained, ``retain`` (level -> recomputed run of the track's retain model)
    PrivLeak and forget quality, and both the normalised knowledge measures. ``levels``: the
    levels required and scored (default: every target level of ``dataset``); a board over part
    of them (:func:`medforget.leaderboard.build.build`) leaves the others unread."""
    from medforget.dataset import read_manifest as read_dataset_manifest
    from medforget.evaluators.run import dataset_record, evaluate
    from medforget.models.adapters import PredictionsFile

    folder = unpack(path, work / "unpacked")
    manifest = read_manifest(folder)
    board = read_dataset_manifest(dataset)
    scored = board_levels(board.targets, levels)
    missing = [level for level in scored if level not in manifest["levels"]]
    if missing or sorted(manifest["levels"]) != sorted(set(manifest["levels"])):
        raise SubmissionError(f"{manifest['name']}: every level once is required; missing {missing}")
    digests = {}
    for level in scored:  # everything is validated before anything is scored
        if manifest["dataset"]["splits"].get(level) != dataset_record(dataset, board, level).splits:
            raise SubmissionError(
                f"{manifest['name']}: level {level!r} was evaluated on other data than the "
                "board's (split hashes differ); evaluate on the board's dataset"
            )
        digests[level] = _check_predictions(folder / "predictions" / f"{level}.jsonl", *_dataset_ids(dataset, level))
        _read_claimed(folder / "claimed" / f"{level}.json")
    checked = Checked(manifest, {}, {}, digests)
    for level in scored:
        run = work / "runs" / level
        predictions = folder / "predictions" / f"{level}.jsonl"
        try:
            checked.results[level] = evaluate(
                dataset,
                level,
                PredictionsFile(predictions),
                run,
                method=manifest["method"]["name"],
                before=(before or {}).get(level),
                retain=(retain or {}).get(level),
            )
        except SubmissionError:
            raise
        except MedForgetError as err:  # what the checks above let through but scoring cannot use
            raise SubmissionError(f"{manifest['name']}: level {level!r} cannot be scored: {err}") from err
        checked.runs[level] = run
        claimed = _read_claimed(folder / "claimed" / f"{level}.json")
        checked.disagreements += _disagreements(claimed, checked.results[level])
    return checked


def reference(path: Path, role: str, dataset: Path, work: Path, before: Mapping[str, Path] | None = None) -> Checked:
    """A track's target or retain submission, checked: its own role must say so (on the board,
    ``tracks.json`` decides which submission that is)."""
    checked = check(path, dataset, work, before)
    if checked.manifest["role"] != role:
        raise SubmissionError(
            f"{path} is a {checked.manifest['role']!r} submission, not the track's {role}: every "
            f"other submission is measured against the {role}"
        )
    return checked


def _dataset_ids(dataset: Path, level: str) -> tuple[set[str], set[str]]:
    """The ids a level's predictions must carry (its splits', utility's and the reconstruction
    prompts'), and those they may carry (the truth ratio's answers, log-probabilities only)."""
    from medforget.dataset import load_rows
    from medforget.evaluators import probes
    from medforget.hierarchy import LEVEL_SPLITS

    by_split = {split: load_rows(dataset, level, split, images=False) for split in LEVEL_SPLITS}
    rows = [r for split_rows in by_split.values() for r in split_rows] + load_rows(
        dataset, "utility", "test", images=False
    )
    names = probes.context_names(load_rows(dataset, "train", "train", images=False))
    asked = probes.reconstruction_rows(by_split["forget"], names)
    truth = probes.truth_rows([r for split in probes.WHITEBOX_SPLITS for r in by_split.get(split, [])])
    return {r["id"] for r in rows} | {r["id"] for context in asked.values() for r in context}, {r["id"] for r in truth}


def _check_predictions(path: Path, wanted: set[str], optional: Collection[str] = ()) -> str:
    """Complete, unique, known ids; strings; finite log-probabilities. An ``optional`` id (a
    truth-ratio answer) needs log-probabilities and no prediction. Returns the sha256 of the
    records in id order, whatever their order and formatting in the file."""
    if not path.is_file():
        raise SubmissionError(f"{path.parent.parent.name}: no predictions for level {path.stem!r} ({path.name})")
    seen: dict[str, str] = {}
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        where = f"{path.name}:{number}"
        record = load_json(line, where)
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise SubmissionError(f"{where}: expected a JSON object with a string 'id'")
        row_id = record["id"]
        if row_id in seen:
            raise SubmissionError(f"{where}: duplicate entry for id {row_id[:100]!r}")
        if row_id not in wanted and row_id not in optional:
            raise SubmissionError(f"{where}: id {row_id[:100]!r} is not in the dataset")
        if row_id in optional and "logprobs" not in record:
            raise SubmissionError(f"{where}: {row_id[:100]!r} is a truth-ratio answer: it carries 'logprobs' only")
        if (row_id in wanted or "prediction" in record) and not isinstance(record.get("prediction"), str):
            raise SubmissionError(f"{where}: expected a string 'prediction'")
        if len(record.get("prediction", "")) > MAX_PREDICTION_CHARS:
            raise SubmissionError(
                f"{where}: prediction of {len(record['prediction'])} characters, over the "
                f"{MAX_PREDICTION_CHARS} limit; cap the model's generation length"
            )
        logprobs = record.get("logprobs", [])
        if isinstance(logprobs, list) and len(logprobs) > MAX_LOGPROBS:
            raise SubmissionError(f"{where}: {len(logprobs)} log-probabilities, over the {MAX_LOGPROBS} limit")
        if not isinstance(logprobs, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x <= 1e-6 for x in logprobs
        ):
            raise SubmissionError(f"{where}: logprobs must be a list of finite log-probabilities (<= 0)")
        seen[row_id] = json.dumps([record.get("prediction"), logprobs])
    absent = sorted(wanted - seen.keys())
    if absent:
        raise SubmissionError(f"{path.name}: {len(absent)} ids have no prediction, e.g. {absent[:5]}")
    return hashlib.sha256(json.dumps(sorted(seen.items())).encode()).hexdigest()


def _read_claimed(path: Path) -> dict[tuple[str, str, str], float | None]:
    """The claimed metrics of a level (none when the submission has no claimed results)."""
    if not path.is_file():
        return {}
    from medforget.evaluators.results import ResultsError, parse_results

    where = f"{path.parent.name}/{path.name}"
    try:
        return parse_results(load_json(_read_text(path), where), where).values()
    except ResultsError as err:
        raise SubmissionError(str(err)) from err


def _disagreements(claimed: Mapping[tuple[str, str, str], float | None], recomputed: Results) -> list[str]:
    """Claimed metrics whose value differs from ours (beyond 1e-9)."""
    ours = recomputed.values()
    out = []
    for key, value in sorted(claimed.items(), key=str):
        if key not in ours:  # a claim we do not recompute (forget quality, truth ratio) is not shown
            continue
        mine = ours[key]
        same = mine == value or (value is not None and mine is not None and abs(mine - value) <= 1e-9)
        if not same:
            out.append(f"{recomputed.level} {'/'.join(key)}: claimed {value}, recomputed {mine}")
    return out
