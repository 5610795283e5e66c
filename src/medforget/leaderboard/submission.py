"""The submission format (version :data:`SUBMISSION_SCHEMA_VERSION`) and ``medforget submit``.

A submission is a folder (or a ``.tar.gz`` / ``.zip`` of one)::

    submission.json            the run manifest (below)
    predictions/<level>.jsonl  per sample: {"id", "prediction", "logprobs"?}, every split of the
                               level, the utility split and the reconstruction prompts
    claimed/<level>.json       optional: the submitter's results.json (never shown; compared)

``submission.json``: ``schema_version``, ``name``, ``method`` (``name``, ``version``,
``hyperparameters``), ``seed``, ``commit``, ``models`` (level -> the model evaluated: an
unlearning method makes one per level), ``base_model`` (what was unlearned from), ``hardware``, ``track``
(``tiny`` or a named model track), ``role`` (``target``, ``retain`` or ``unlearned``),
``dataset`` (``name``, ``manifest_sha256``, ``splits``: level -> split -> hash), ``levels``,
``weights_url`` (optional link to the unlearned weights).
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from medforget.errors import MedForgetError
from medforget.outputs import WRITTEN, folder_in_place

SUBMISSION_SCHEMA_VERSION = "1.0.0"
KNOWN_VERSIONS = (SUBMISSION_SCHEMA_VERSION,)
ROLES = ("target", "retain", "unlearned")

#: field -> type(s) of submission.json; None allowed where listed
FIELDS: dict[str, tuple[type, ...]] = {
    "schema_version": (str,),
    "name": (str,),
    "method": (dict,),
    "seed": (int, type(None)),
    "commit": (str, type(None)),
    "models": (dict,),
    "base_model": (str, type(None)),
    "hardware": (str,),
    "track": (str,),
    "role": (str,),
    "dataset": (dict,),
    "levels": (list,),
    "weights_url": (str, type(None)),
}


class SubmissionError(MedForgetError):
    """A submission is malformed, unsafe, or does not match the board's dataset."""


def validate_manifest(manifest: Any) -> None:
    """Raise :class:`SubmissionError` naming the first field that is missing or wrong. Every
    string that reaches the board is bounded and free of control characters; a model is named by
    its Hub id or a relative folder, never a path of the submitter's machine."""
    if not isinstance(manifest, Mapping):
        raise SubmissionError("submission.json must be a JSON object")
    version = manifest.get("schema_version")
    if version not in KNOWN_VERSIONS:
        raise SubmissionError(
            f"unknown submission schema version {str(version)[:40]!r}; known: {', '.join(KNOWN_VERSIONS)}"
        )
    for field, types in FIELDS.items():
        if field not in manifest:
            raise SubmissionError(f"submission.json has no {field!r}")
        if not isinstance(manifest[field], types) or isinstance(manifest[field], bool):
            raise SubmissionError(f"submission.json {field!r} must be {' or '.join(t.__name__ for t in types)}")
    unknown = set(manifest) - set(FIELDS)
    if unknown:
        raise SubmissionError(f"submission.json has unknown fields {sorted(str(u)[:40] for u in unknown)[:5]}")
    if not NAME.fullmatch(manifest["name"]):
        raise SubmissionError(
            f"submission.json name {manifest['name'][:80]!r}: 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if manifest["role"] not in ROLES:
        raise SubmissionError(f"submission.json role {manifest['role'][:40]!r} is not one of {ROLES}")
    method = manifest["method"]
    if not {"name", "version", "hyperparameters"} <= set(method):
        raise SubmissionError("submission.json method needs name, version and hyperparameters")
    _text(method["name"], "method.name")
    _text(method["version"], "method.version")
    if not isinstance(method["hyperparameters"], dict):
        raise SubmissionError("submission.json method.hyperparameters must be an object")
    if len(json.dumps(method["hyperparameters"])) > MAX_HYPERPARAMETERS_CHARS:
        raise SubmissionError(f"submission.json method.hyperparameters is over {MAX_HYPERPARAMETERS_CHARS} characters")
    for field in ("commit", "hardware", "track"):
        if manifest[field] is not None:
            _text(manifest[field], field)
    for where, model in [
        ("base_model", manifest["base_model"]),
        *((f"models.{k}", v) for k, v in manifest["models"].items()),
    ]:
        if model is not None:
            _model(model, where)
    if manifest["weights_url"] is not None and not (
        _text(manifest["weights_url"], "weights_url", 500).startswith(("https://", "http://"))
    ):
        raise SubmissionError("submission.json weights_url must be an http(s) link")
    dataset = manifest["dataset"]
    if not {"manifest_sha256", "splits"} <= set(dataset):
        raise SubmissionError("submission.json dataset needs manifest_sha256 and splits")
    splits = dataset["splits"]
    if not isinstance(splits, dict) or not all(
        isinstance(hashes, dict) and all(isinstance(h, str) for h in hashes.values()) for hashes in splits.values()
    ):
        raise SubmissionError("submission.json dataset.splits must map each level to {split: sha256}")
    if not all(isinstance(level, str) for level in manifest["levels"]) or not manifest["levels"]:
        raise SubmissionError("submission.json levels must be a non-empty list of level names")


#: a submission's name: also its folder on the board
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_TEXT_CHARS = 200
MAX_HYPERPARAMETERS_CHARS = 10_000


def _text(value: Any, where: str, limit: int = MAX_TEXT_CHARS) -> str:
    """A string a reader is shown: 1 to ``limit`` characters, none of them a control or format
    character (a newline, a bidirectional override) that could make it look like something else."""
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise SubmissionError(f"submission.json {where} must be a string of 1 to {limit} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise SubmissionError(f"submission.json {where} {value[:80]!r} holds a control or format character")
    return value


def _model(value: Any, where: str) -> None:
    _text(value, where)
    if value.startswith(("/", "~", "\\")) or re.match(r"[A-Za-z]:", value) or ".." in value.split("/"):
        raise SubmissionError(
            f"submission.json {where} {value[:80]!r} is a path on the submitter's machine; "
            "name the model by its Hub id or folder name"
        )


def model_name(model: str) -> str:
    """What a submission calls a model it was made from: a Hub id or a relative folder as given,
    an absolute folder as its path under the working directory, or else its folder's name."""
    path = Path(model)
    if not path.is_absolute():
        return model
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.name


def package(
    runs: Sequence[Path],
    out: Path,
    name: str,
    track: str,
    role: str = "unlearned",
    hardware: str | None = None,
    weights_url: str | None = None,
) -> dict[str, Any]:
    """A submission folder from ``medforget eval`` runs of one method, one run per level."""
    from medforget.evaluators.results import read_results

    results = [read_results(run) for run in runs]
    levels = [r.level for r in results]
    if len(set(levels)) != len(levels):
        raise SubmissionError(f"one run per level: got levels {levels}")
    sampled = [run for run, r in zip(runs, results) if r.dataset.limit is not None]
    if sampled:
        raise SubmissionError(
            f"{sampled[0]} scored a sample of each split (eval --limit); a submission needs every row"
        )
    manifests = {r.dataset.manifest_sha256 for r in results}
    if len(manifests) != 1:
        raise SubmissionError("the runs evaluated different datasets; a submission covers one")
    records = [_model_record(Path(r.model)) for r in results]
    methods = {json.dumps(record.get("method") or r.method, sort_keys=True) for record, r in zip(records, results)}
    if len(methods) != 1:
        raise SubmissionError("the runs are of different methods or hyperparameters; a submission is one method")
    record = records[0]
    manifest = {
        "schema_version": SUBMISSION_SCHEMA_VERSION,
        "name": name,
        "method": record.get("method") or {"name": results[0].method, "version": "n/a", "hyperparameters": {}},
        "seed": record.get("seed"),
        "commit": record.get("commit") or results[0].commit,
        "models": {r.level: model_name(r.model) for r in results},
        "base_model": record.get("model") and model_name(record["model"]),
        "hardware": hardware or _hardware(),
        "track": track,
        "role": role,
        "dataset": {
            "manifest_sha256": manifests.pop(),
            "splits": {r.level: dict(r.dataset.splits) for r in results},
        },
        "levels": levels,
        "weights_url": weights_url,
    }
    validate_manifest(manifest)
    with folder_in_place(out) as tmp:  # never over a folder it did not write
        (tmp / "predictions").mkdir()
        (tmp / "claimed").mkdir()
        for run, result in zip(runs, results):
            shutil.copyfile(run / "predictions.jsonl", tmp / "predictions" / f"{result.level}.jsonl")
            shutil.copyfile(run / "results.json", tmp / "claimed" / f"{result.level}.json")
        (tmp / "submission.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


#: what ``submit --out`` may end with to make an archive; any other archive-like name is refused
ARCHIVES = (".tar.gz", ".tgz", ".zip")
_NOT_ARCHIVES = (".rar", ".7z", ".tar", ".gz", ".bz2", ".xz", ".zst", ".tbz2", ".txz")


def is_archive(out: Path) -> bool:
    """Whether ``out`` names an archive (else a folder); an archive kind we do not write is refused."""
    if out.name.endswith(ARCHIVES):
        return True
    if out.name.endswith(_NOT_ARCHIVES):
        raise SubmissionError(f"{out}: a submission archive is a {', '.join(ARCHIVES)}; name the folder or archive so")
    return False


def archive(folder: Path, out: Path) -> Path:
    """``folder`` as ``out`` (``.tar.gz`` or ``.zip``), its files under the folder's name;
    written beside ``out`` and moved into place whole. An existing ``out`` is never overwritten."""
    import os
    import tarfile
    import zipfile

    if not is_archive(out):
        raise SubmissionError(f"{out}: an archive is a {', '.join(ARCHIVES)}")
    if out.exists() or out.is_symlink():
        raise SubmissionError(f"{out} exists: it is never overwritten; remove it or choose another name")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != WRITTEN)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        if out.name.endswith(".zip"):
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zipped:
                for path in files:
                    zipped.write(path, Path(out.name.removesuffix(".zip")) / path.relative_to(folder))
        else:
            with tarfile.open(tmp, "w:gz") as tarred:
                for path in files:
                    tarred.add(path, str(Path(out.name.split(".")[0]) / path.relative_to(folder)))
        tmp.rename(out)
    except OSError as err:
        raise SubmissionError(f"cannot write {out} ({err.strerror or err}); choose an --out you can write to") from err
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _model_record(model: Path) -> dict[str, Any]:
    """What the unlearned model's ``medforget_unlearning.json`` says; for a model trained by
    ``medforget train`` (a target or retain model), the seed its training record gives; empty
    for other models."""
    for name in ("medforget_unlearning.json", "medforget_training.json"):
        path = model / name
        if path.is_file():
            record = json.loads(path.read_text(encoding="utf-8"))
            return record if name == "medforget_unlearning.json" else {"seed": record.get("config", {}).get("seed")}
    return {}


def _hardware() -> str:
    import os

    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"CPU {platform.machine()}, {os.cpu_count()} cores"
