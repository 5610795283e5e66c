"""Outputs written safely: a folder is put in place whole or not at all, and only over a folder
this program wrote (:func:`folder_in_place`); file hashes and JSON as every record writes them.
Standard library only, so any step may use it."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from medforget.errors import BuildError


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, data: Mapping[str, object]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


#: written by :func:`folder_in_place` into every folder it puts in place: each file's sha256
WRITTEN = ".medforget-written.json"
#: written into each temporary folder as it is made: its owner's process id
PARTIAL = ".medforget-partial"
#: longest file or folder name the common file systems take
MAX_NAME_BYTES = 255


class OutputError(BuildError):
    """An output folder cannot be written, or holds what MedForget did not write."""


@contextmanager
def folder_in_place(out: Path) -> Iterator[Path]:
    """A fresh temporary folder beside ``out`` to write into; when the block completes it replaces
    ``out`` (a previous folder there is removed only after the swap), and on any error it is
    removed: a half-written output never looks complete.

    ``out`` is replaced only when it is missing, empty, or holds exactly the files an earlier
    call wrote there, unchanged (their hashes are in its :data:`WRITTEN`): a folder with anything
    else in it (the user's files, an edited file) is refused before anything is written.
    Temporary folders that a killed run left beside ``out`` are removed first."""
    check_replaceable(out)
    _remove_leftovers(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / PARTIAL).write_text(str(os.getpid()), encoding="utf-8")
    except OSError as err:
        raise OutputError(
            f"cannot write beside {out} ({err.strerror or err}): choose an --out in a folder you can "
            "write to, with free space"
        ) from err
    try:
        yield tmp
        (tmp / PARTIAL).unlink()
        write_json(tmp / WRITTEN, {"files": _hashes(tmp)})
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if out.exists():
            out.rename(old)
            (old / PARTIAL).write_text(str(os.getpid()), encoding="utf-8")  # a leftover if killed now
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:  # a full disk, a read-only folder: what was there before stays
        raise OutputError(
            f"cannot write {out} ({err.strerror or err}); nothing was changed there: free space or "
            "choose an --out you can write to"
        ) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def name_too_long(parts: Iterable[str]) -> bool:
    """Whether a file or folder name among ``parts`` is longer than a file system takes."""
    return any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in parts)


def check_replaceable(out: Path) -> None:
    """Refuse an ``out`` that :func:`folder_in_place` must not replace (see there)."""
    if name_too_long(out.parts):
        raise OutputError(
            f"{str(out)[:120]}...: a name in the path is over {MAX_NAME_BYTES} bytes; choose a shorter --out"
        )
    resolved = out.resolve()
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents or resolved.parent == resolved:
        raise OutputError(
            f"--out {out} is the current folder, or holds it: the output replaces its --out; "
            "name a new folder, e.g. --out ./medforget"
        )
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputError(f"{out} exists and is not a folder: choose another --out")
    if not out.exists() or not any(out.iterdir()):
        return
    try:
        recorded = json.loads((out / WRITTEN).read_text(encoding="utf-8"))["files"]
        if not isinstance(recorded, dict):
            raise TypeError("files is not an object")
    except (OSError, ValueError, KeyError, TypeError):
        raise OutputError(
            f"{out} is not empty and was not written by this MedForget (no {WRITTEN}): it is never "
            "replaced; choose another --out, or empty it yourself"
        ) from None
    found = _hashes(out)
    foreign = sorted(set(found) - set(recorded) - {WRITTEN}) + sorted(
        name for name in set(found) & set(recorded) if found[name] != recorded[name]
    )
    if foreign:
        raise OutputError(
            f"{out} holds files MedForget did not write there, or changed since (e.g. "
            f"{', '.join(foreign[:3])}): it is never replaced; choose another --out, or move them"
        )


def _hashes(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (links and special files too, by name) -> its sha256."""
    out = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            out[name] = "not a regular file"
        elif path.is_file() and name != WRITTEN:
            out[name] = sha256_file(path)
    return out


def _remove_leftovers(out: Path) -> None:
    """The temporary folders of runs killed before they finished: only those holding a
    :data:`PARTIAL` whose process is gone."""
    if not out.parent.is_dir():
        return
    for folder in out.parent.glob(f".{glob.escape(out.name)}.*-*"):
        try:
            pid = int((folder / PARTIAL).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not ours
        if folder.name.rsplit("-", 1)[-1] == str(pid) and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    return True
