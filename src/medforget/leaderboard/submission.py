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
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from medforget.errors import MedForgetError

SUBMISSION_SCHEMA_VERSION = "1.0.0"
KNOWN_VERSIONS = (SUBMISSION_SCHEMA_VERSION,)
ROLES = ("target", "retain", "unlearned")

#: field -> type(s) of submission.json; None allowed where listed
FIELDS: dict[str, tuple[type, ...]] = {
    "schema_version": (str,), "name": (str,), "method": (dict,), "seed": (int, type(None)),
    "commit": (str, type(None)), "models": (dict,), "base_model": (str, type(None)), "hardware": (str,),
    "track": (str,), "role": (str,), "dataset": (dict,), "levels": (list,), "weights_url": (str, type(None)),
}


class SubmissionError(MedForgetError):
    """A submission is malformed, unsafe, or does not match the board's dataset."""


def validate_manifest(manifest: Any) -> None:
    """Raise :class:`SubmissionError` naming the first field that is missing or wrong."""
    if not isinstance(manifest, Mapping):
        raise SubmissionError("submission.json must be a JSON object")
    version = manifest.get("schema_version")
    if version not in KNOWN_VERSIONS:
        raise SubmissionError(f"unknown submission schema version {version!r}; known: {', '.join(KNOWN_VERSIONS)}")
    for field, types in FIELDS.items():
        if field not in manifest:
            raise SubmissionError(f"submission.json has no {field!r}")
        if not isinstance(manifest[field], types) or isinstance(manifest[field], bool):
            raise SubmissionError(f"submission.json {field!r} must be {' or '.join(t.__name__ for t in types)}")
    unknown = set(manifest) - set(FIELDS)
    if unknown:
        raise SubmissionError(f"submission.json has unknown fields {sorted(unknown)}")
    if manifest["role"] not in ROLES:
        raise SubmissionError(f"submission.json role {manifest['role']!r} is not one of {ROLES}")
    if not {"name", "version", "hyperparameters"} <= set(manifest["method"]):
        raise SubmissionError("submission.json method needs name, version and hyperparameters")
    if not {"manifest_sha256", "splits"} <= set(manifest["dataset"]):
        raise SubmissionError("submission.json dataset needs manifest_sha256 and splits")
    if not all(isinstance(level, str) for level in manifest["levels"]) or not manifest["levels"]:
        raise SubmissionError("submission.json levels must be a non-empty list of level names")


def package(runs: Sequence[Path], out: Path, name: str, track: str, role: str = "unlearned",
            hardware: str | None = None, weights_url: str | None = None) -> dict[str, Any]:
    """A submission folder from ``medforget eval`` runs of one method, one run per level."""
    from medforget.evaluators.table import read_run

    results = [read_run(run) for run in runs]
    levels = [r["level"] for r in results]
    if len(set(levels)) != len(levels):
        raise SubmissionError(f"one run per level: got levels {levels}")
    manifests = {r["dataset"]["manifest_sha256"] for r in results}
    if len(manifests) != 1:
        raise SubmissionError("the runs evaluated different datasets; a submission covers one")
    records = [_model_record(Path(r["model"])) for r in results]
    methods = {json.dumps(r.get("method") or r_["method"], sort_keys=True) for r, r_ in zip(records, results)}
    if len(methods) != 1:
        raise SubmissionError("the runs are of different methods or hyperparameters; a submission is one method")
    record = records[0]
    manifest = {
        "schema_version": SUBMISSION_SCHEMA_VERSION, "name": name,
        "method": record.get("method") or {"name": results[0]["method"], "version": "n/a", "hyperparameters": {}},
        "seed": record.get("seed"), "commit": record.get("commit") or results[0]["commit"],
        "models": {r["level"]: r["model"] for r in results}, "base_model": record.get("model"),
        "hardware": hardware or _hardware(), "track": track, "role": role,
        "dataset": {"manifest_sha256": manifests.pop(), "splits": {r["level"]: r["dataset"]["splits"] for r in results}},
        "levels": levels, "weights_url": weights_url,
    }
    validate_manifest(manifest)
    if out.exists():
        shutil.rmtree(out)
    (out / "predictions").mkdir(parents=True)
    (out / "claimed").mkdir()
    for run, result in zip(runs, results):
        shutil.copyfile(run / "predictions.jsonl", out / "predictions" / f"{result['level']}.jsonl")
        shutil.copyfile(run / "results.json", out / "claimed" / f"{result['level']}.json")
    (out / "submission.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def archive(folder: Path, out: Path) -> Path:
    """``folder`` as ``out`` (``.tar.gz`` or ``.zip``), its files under the folder's name."""
    import tarfile
    import zipfile

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if out.name.endswith(".zip"):
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in files:
                zipped.write(path, Path(out.name.removesuffix(".zip")) / path.relative_to(folder))
    elif out.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(out, "w:gz") as tarred:
            for path in files:
                tarred.add(path, str(Path(out.name.split(".")[0]) / path.relative_to(folder)))
    else:
        raise SubmissionError(f"{out}: an archive is a .tar.gz, .tgz or .zip")
    return out


def _model_record(model: Path) -> dict[str, Any]:
    """What the unlearned model's ``medforget_unlearning.json`` says (empty for other models)."""
    path = model / "medforget_unlearning.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _hardware() -> str:
    import os

    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"CPU {platform.machine()}, {os.cpu_count()} cores"
