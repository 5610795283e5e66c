"""``medforget publish``: a built dataset to a Hugging Face Hub dataset repository, in one commit.

Before anything goes over the network the folder must prove itself, and nothing in it is taken
at its word (anyone can write a ``validation.json`` that says "passed"): every file comes from
inside the folder (no absolute or ``..`` paths, no links, only regular files), every shard's
sha256 equals the manifest's, publish runs the leak checks itself, and the licences are those
the source registry gives the manifest's sources, not the flags the manifest carries: the
publication must be allowed by them, or the user acknowledged the licence and the repository
is private. Then the shards, the manifest, the freshly written validation report and a card
generated for the repository go up together, only the files that differ from the
repository: publishing an unchanged dataset makes no commit. Token and endpoint are
``huggingface_hub``'s own: ``HF_TOKEN`` or ``hf auth login``, and ``HF_ENDPOINT``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import medforget
from medforget.build.card import dataset_card
from medforget.build.croissant import CROISSANT_FILE, croissant
from medforget.dataset import Manifest, Source, read_manifest
from medforget.errors import MedForgetError
from medforget.outputs import sha256_file
from medforget.schemas.validate import JSON_REPORT

if TYPE_CHECKING:
    from huggingface_hub import HfApi, RepoFile

logger = logging.getLogger(__name__)

REPO_TYPE = "dataset"


class PublishError(MedForgetError):
    """The dataset cannot be published as asked."""


class NotValidatedError(PublishError):
    """The folder has no passed validation report for its current manifest."""


class ShardMismatchError(PublishError):
    """A shard is missing or its bytes differ from the sha256 the manifest records."""


class LicenceError(PublishError):
    """A source's licence forbids publishing the dataset where it was asked to go."""


class HubError(PublishError):
    """The Hub refused or failed a request."""


@dataclass(frozen=True)
class Upload:
    """One file of the publication: its place in the repository and its bytes (or local file)."""

    path_in_repo: str
    content: bytes | Path
    sha256: str
    size: int

    @classmethod
    def of_bytes(cls, path_in_repo: str, data: bytes) -> Upload:
        return cls(path_in_repo, data, hashlib.sha256(data).hexdigest(), len(data))

    def git_oid(self) -> str:
        """The git blob id, what the Hub reports for a file not stored with LFS."""
        digest = hashlib.sha1(f"blob {self.size}\0".encode())
        if isinstance(self.content, bytes):
            digest.update(self.content)
        else:
            with self.content.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()

    def matches(self, remote: RepoFile | None) -> bool:
        if remote is None or remote.size != self.size:
            return False
        return remote.lfs.sha256 == self.sha256 if remote.lfs is not None else remote.blob_id == self.git_oid()


@dataclass(frozen=True)
class PublishResult:
    repo_id: str
    revision: str
    url: str
    commit: str | None  # the new commit; None when the repository already held every file
    uploaded: tuple[str, ...]
    deleted: tuple[str, ...]
    files: int  # files the publication consists of

    @property
    def unchanged(self) -> bool:
        return self.commit is None


def validate(dataset: Path) -> dict[str, Any]:
    """The leak checks, run now on the folder (its own ``validation.json`` is not evidence)."""
    from medforget.schemas.validate import validate_folder

    report = validate_folder(dataset, write_reports=False, name=dataset.name)  # no local path goes up
    if not report.passed:
        failed = [r.name for r in report.results if not r.passed]
        raise NotValidatedError(
            f"{dataset} fails its leak checks (failed: {', '.join(failed)}; `medforget validate "
            f"{dataset}` writes the report): only a leak-free build is published; rebuild it"
        )
    published = report.to_json()  # without the timings, which are this machine's: the same bytes each time
    published["checks"] = [{k: v for k, v in check.items() if k != "seconds"} for check in published["checks"]]
    return published


#: a shard's place in the folder, as the build names it
SHARD_PATH = re.compile(r"[a-z_]+/[a-z_]+-\d{5}-of-\d{5}\.parquet")


def check_no_links(dataset: Path) -> None:
    """No link anywhere in the folder (the manifest included): a build holds none."""
    links = [p for p in dataset.rglob("*") if p.is_symlink()]
    if links:
        raise ShardMismatchError(
            f"{links[0]} is a symbolic link: a build holds none, and publish uploads only files "
            "inside the folder; rebuild the dataset with `medforget build`"
        )


def check_files(dataset: Path, manifest: Manifest) -> None:
    """Everything published comes from inside the folder: every shard path the manifest lists
    is one the build writes (no absolute path, no ``..``), a regular file."""
    root = dataset.resolve()
    for shard in manifest.shards:
        if not SHARD_PATH.fullmatch(shard.path) or root not in (root / shard.path).resolve().parents:
            raise ShardMismatchError(
                f"{dataset / 'manifest.json'} lists a shard at {shard.path[:200]!r}, not a place the "
                "build writes (CONFIG/SPLIT-NNNNN-of-NNNNN.parquet inside the folder); rebuild it"
            )
        if (dataset / shard.path).exists() and not (dataset / shard.path).is_file():
            raise ShardMismatchError(f"{dataset / shard.path} is not a regular file")


def source_licences(sources: Sequence[Source]) -> tuple[Source, ...]:
    """The manifest's sources with the licence the source registry gives each (a manifest
    may say anything about its own licence)."""
    from medforget.builders import BUILDERS
    from medforget.errors import UnknownNameError

    if not sources:
        raise LicenceError("the manifest names no sources, so their licences are unknown; rebuild the dataset")
    out = []
    for source in sources:
        try:
            builder = BUILDERS.get(source.name)
        except UnknownNameError as err:
            raise LicenceError(
                f"the manifest's source {source.name[:80]!r} is not one this medforget "
                f"knows ({err}), so its licence is unknown: nothing is published"
            ) from err
        out.append(replace(source, licence=builder.licence))
    return tuple(out)


def check_shards(dataset: Path, manifest: Manifest) -> None:
    """Every shard the manifest lists exists with the recorded sha256."""
    bad = []
    for shard in manifest.shards:
        path = dataset / shard.path
        if not path.is_file():
            bad.append(f"{shard.path} (missing)")
        elif (digest := sha256_file(path)) != shard.sha256:
            bad.append(f"{shard.path} (sha256 {digest[:12]}..., manifest {shard.sha256[:12]}...)")
    if bad:
        raise ShardMismatchError(
            f"{len(bad)} shard(s) of {dataset} differ from its manifest: {'; '.join(bad[:5])}. "
            "Shards are never edited in place: rebuild the dataset with `medforget build`"
        )


def check_licences(sources: Sequence[Source], private: bool, acknowledged: bool) -> bool:
    """Refuse a publication the sources' licences forbid; True when the repository must be private.

    A source whose licence forbids publishing derived data openly (``public_derivatives`` false)
    is published only to a private repository, and only when the user acknowledges the licence."""
    restricted = [s for s in sources if not s.licence.public_derivatives]
    missing = [flag for flag, given in (("--private", private), ("--acknowledge-licence", acknowledged)) if not given]
    if restricted and missing:
        terms = "; ".join(
            f"{s.name}: {s.licence.spdx} ({s.licence.url}), {s.licence.redistribution}" for s in restricted
        )
        raise LicenceError(
            f"refusing to publish: the dataset is derived from sources whose licence forbids publishing derived data "
            f"openly ({terms}). It may go only to a private repository, shared with people bound by that licence, "
            f"and only once you acknowledge it: add {' and '.join(missing)}"
        )
    return bool(restricted)


def publication_files(dataset: Path, manifest: Manifest, repo_id: str, validation: dict[str, Any]) -> list[Upload]:
    """What a publication consists of: the shards, manifest.json, the report of the leak checks
    publish ran, the Croissant metadata and the card, both rendered for ``repo_id``."""
    files = [Upload(s.path, dataset / s.path, s.sha256, s.bytes) for s in manifest.shards]
    files.append(Upload.of_bytes("manifest.json", (dataset / "manifest.json").read_bytes()))
    files.append(Upload.of_bytes(JSON_REPORT, (json.dumps(validation, indent=2) + "\n").encode("utf-8")))
    metadata = json.dumps(croissant(manifest, repo_id), indent=2) + "\n"
    files.append(Upload.of_bytes(CROISSANT_FILE, metadata.encode("utf-8")))
    card = dataset_card(manifest, validation, repo_id).encode("utf-8")
    return [*files, Upload.of_bytes("README.md", card)]


#: a Hub repository id: a namespace and a name of letters, digits, "-", "_" and ".", neither
#: starting nor ending with "-" or ".", with no "--" or "..", at most 96 characters each
REPO_PART = re.compile(r"(?!.*(--|\.\.))[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?")


def publish(
    dataset: Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str = "main",
    acknowledge_licence: bool = False,
    api: HfApi | None = None,
) -> PublishResult:
    """Publish ``dataset`` to the Hub dataset repository ``repo_id`` (created when missing) on
    branch ``revision`` (created from main when missing)."""
    import httpx2  # huggingface_hub 2.x's HTTP client: every failed request raises its HTTPError
    from huggingface_hub import HfApi

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise PublishError(
            f"repository {repo_id[:100]!r}: expected ORG/NAME (the Hub refuses a name without its namespace)"
        )
    if not all(REPO_PART.fullmatch(part) for part in repo_id.split("/")):
        raise PublishError(
            f"repository {repo_id[:100]!r}: ORG and NAME are letters, digits, '-', '_' and '.', at most 96 "
            "each, not starting or ending with '-' or '.', without '--' or '..'"
        )
    check_no_links(dataset)  # before anything is read from it
    manifest = read_manifest(dataset)  # refuses another schema version and any field of the wrong type
    check_files(dataset, manifest)
    check_shards(dataset, manifest)
    validation = validate(dataset)
    manifest = replace(manifest, sources=source_licences(manifest.sources))  # what the card says, too
    must_be_private = check_licences(manifest.sources, private, acknowledge_licence)
    files = publication_files(dataset, manifest, repo_id, validation)
    api = api or HfApi()
    _check_can_connect(api)
    try:
        return _push(api, repo_id, revision, files, _message(manifest), private, must_be_private)
    except httpx2.HTTPError as err:
        raise HubError(f"the Hub at {api.endpoint} refused or failed publishing {repo_id}@{revision}: {err}") from err


def _check_can_connect(api: HfApi) -> None:
    from huggingface_hub import constants, get_token

    if constants.is_offline_mode():
        raise HubError("HF_HUB_OFFLINE is set (the Makefile and the tests set it): unset it to publish")
    if api.token is None and get_token() is None:
        raise HubError(f"no Hugging Face token for {api.endpoint}: set HF_TOKEN or run `hf auth login`")


def _push(
    api: HfApi, repo_id: str, revision: str, files: list[Upload], message: str, private: bool, must_be_private: bool
) -> PublishResult:
    """Create the repo and branch when missing, then commit the files that differ from it."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    url = api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    if revision != "main":
        api.create_branch(repo_id, repo_type=REPO_TYPE, branch=revision, exist_ok=True)
    head = api.repo_info(repo_id, repo_type=REPO_TYPE, revision=revision)
    if must_be_private and not head.private:
        raise LicenceError(
            f"{repo_id} already exists and is public: this dataset may go only to a private repository; "
            "make it private on the Hub or choose another --repo"
        )
    changed, stale = _differences(api, repo_id, head.sha, files)
    result = PublishResult(repo_id, revision, str(url), None, tuple(f.path_in_repo for f in changed), stale, len(files))
    if not changed and not stale:
        logger.info("%s@%s already holds these %d files: no commit", repo_id, revision, len(files))
        return result
    operations = [
        CommitOperationAdd(f.path_in_repo, f.content if isinstance(f.content, bytes) else str(f.content))
        for f in changed
    ] + [CommitOperationDelete(path) for path in stale]
    info = api.create_commit(
        repo_id, operations, commit_message=message, repo_type=REPO_TYPE, revision=revision, parent_commit=head.sha
    )
    return replace(result, commit=info.oid)


def _differences(api: HfApi, repo_id: str, commit: str, files: list[Upload]) -> tuple[list[Upload], tuple[str, ...]]:
    """The files the repo at ``commit`` lacks or holds other bytes of, and its shards that are
    not part of this publication (left by an older build)."""
    from huggingface_hub import RepoFile

    remote = {
        entry.path: entry
        for entry in api.list_repo_tree(repo_id, repo_type=REPO_TYPE, revision=commit, recursive=True)
        if isinstance(entry, RepoFile)
    }
    ours = {f.path_in_repo for f in files}
    stale = tuple(sorted(path for path in remote if path.endswith(".parquet") and path not in ours))
    return [f for f in files if not f.matches(remote.get(f.path_in_repo))], stale


def _message(manifest: Manifest) -> str:
    return (
        f"MedForget {manifest.preset} preset, seed {manifest.seed}, "
        f"{manifest.total_qa_rows} QA rows (medforget {medforget.__version__})"
    )
