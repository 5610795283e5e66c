"""``medforget publish`` against the in-process fake Hub (tests/fake_hub.py).

The round trip and the re-publish run the real command in a subprocess, with the Hub reached
only through ``HF_ENDPOINT`` and ``HF_TOKEN`` (the suite is offline: these are set to online for
the child alone, with its own ``HF_HOME``). Refusals run in process and must refuse before any
request reaches the Hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medforget.build.publish import (
    HubError,
    LicenceError,
    NotValidatedError,
    PublishError,
    ShardMismatchError,
    check_licences,
    publish,
)
from medforget.cli import main
from medforget.dataset import DatasetError, Licence, Source, read_manifest
from tests.fake_hub import Blob, FakeHub, serve

TOKEN = "hf_fake_publish_token"
REPO = "org/medforget"
# Rows of every split of a config, read back with load_dataset in the child process: ids, texts
# and a digest of each decoded image; then one row streamed (HfFileSystem reads with HTTP Range).
LOAD = """
import hashlib, json, sys
from datasets import load_dataset
repo, config, cache = sys.argv[1:]
def digest(image):
    return None if image is None else [image.size, hashlib.sha256(image.tobytes()).hexdigest()]
ds = load_dataset(repo, config, cache_dir=cache)
rows = {split: [[r["id"], r["question"], r["answer"], digest(r["image"])] for r in ds[split]] for split in ds}
streamed = next(iter(load_dataset(repo, config, split="forget", streaming=True)))
print(json.dumps({"rows": rows, "streamed": streamed["id"]}))
"""


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with serve(TOKEN) as hub:
        yield hub


@pytest.fixture(scope="module")
def dataset(tiny_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("publish") / "medforget"
    shutil.copytree(tiny_build, copy)
    return copy


@pytest.fixture(scope="module")
def env(hub: FakeHub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": TOKEN,
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HOME": str(tmp_path_factory.mktemp("hf-home")),
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def publish_cli(env: dict[str, str], dataset: Path) -> subprocess.CompletedProcess[str]:
    return run(
        env,
        "-m",
        "medforget",
        "publish",
        "--dataset",
        str(dataset),
        "--repo",
        REPO,
        "--private",
        "--acknowledge-licence",
    )


@pytest.fixture(scope="module")
def published(hub: FakeHub, env: dict[str, str], dataset: Path) -> subprocess.CompletedProcess[str]:
    result = publish_cli(env, dataset)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def online(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let this process's huggingface_hub reach the fake Hub, and only it (the suite runs with
    HF_HUB_OFFLINE=1; the default endpoint is what its agent-detection headers would fetch)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agent_harnesses.json"))


def api(hub: FakeHub, token: str | None = TOKEN):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.url, token=token)


def test_publish_uploads_shards_manifest_report_and_card_in_one_commit(published, hub: FakeHub, dataset: Path):
    assert f"published {dataset}" in published.stdout and "34 of 34 files uploaded" in published.stdout
    repo = hub.repos[REPO]
    assert repo.private and [c.message for c in repo.history()][1:] == ["initial commit"]
    files = repo.history()[0].files
    manifest = json.loads((dataset / "manifest.json").read_text())
    for shard in manifest["shards"]:
        assert files[shard["path"]].lfs and files[shard["path"]].sha256 == shard["sha256"]
    assert files["manifest.json"].data == (dataset / "manifest.json").read_bytes()
    report = json.loads(files["validation.json"].data)  # publish's own run of the leak checks
    assert report["passed"] and report["manifest_sha256"] == hashlib.sha256(files["manifest.json"].data).hexdigest()
    card = files["README.md"].data.decode()
    assert f'load_dataset("{REPO}", "patient")' in card and "CC-BY-NC-ND-4.0" in card
    published_croissant = json.loads(files["croissant.json"].data)
    assert published_croissant["url"] == f"https://huggingface.co/datasets/{REPO}"
    assert set(files) == {
        ".gitattributes",
        "README.md",
        "croissant.json",
        "manifest.json",
        "validation.json",
        *(s["path"] for s in manifest["shards"]),
    }
    assert hub.unknown == []


def test_load_dataset_from_the_hub_returns_the_same_rows_and_images(
    published, hub: FakeHub, env: dict[str, str], dataset: Path, tmp_path: Path
):
    from datasets import load_dataset

    child = run(env, "-c", LOAD, REPO, "patient", str(tmp_path / "hub-cache"))
    assert child.returncode == 0, child.stderr
    remote = json.loads(child.stdout.strip().splitlines()[-1])
    local = load_dataset(str(dataset), "patient", cache_dir=str(tmp_path / "local-cache"))
    for split in local:
        expected = [
            [
                r["id"],
                r["question"],
                r["answer"],
                None
                if r["image"] is None
                else [list(r["image"].size), hashlib.sha256(r["image"].tobytes()).hexdigest()],
            ]
            for r in local[split]
        ]
        assert remote["rows"][split] == expected, split
    assert sum(row[3] is not None for row in remote["rows"]["forget"]) > 0
    assert remote["streamed"] == local["forget"][0]["id"]
    assert any(r for method, path, r in hub.requests if method == "GET" and "/resolve/" in path)  # HTTP Range
    assert hub.unknown == []


def test_republishing_an_unchanged_dataset_makes_no_commit(published, hub: FakeHub, env: dict[str, str], dataset: Path):
    commits, seen = len(hub.repos[REPO].commits), len(hub.requests)
    again = publish_cli(env, dataset)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"unchanged: {REPO}@main already holds these 34 files")
    assert len(hub.repos[REPO].commits) == commits
    writes = [path for method, path, _ in hub.requests[seen:] if method in ("POST", "PUT") and "create" not in path]
    assert writes == []


@pytest.mark.parametrize(
    "private, acknowledged, missing",
    [
        (False, False, "add --private and --acknowledge-licence"),
        (True, False, "add --acknowledge-licence"),
        (False, True, "add --private"),
    ],
)
def test_the_licence_gate_refuses_a_restricted_source(hub: FakeHub, dataset: Path, private, acknowledged, missing):
    seen = len(hub.requests)
    with pytest.raises(LicenceError, match=rf"iu-xray: CC-BY-NC-ND-4.0 .*{missing}$"):
        publish(dataset, "org/gated", private=private, acknowledge_licence=acknowledged, api=api(hub))
    assert len(hub.requests) == seen and "org/gated" not in hub.repos


def test_the_licence_gate_refuses_an_existing_public_repo(hub: FakeHub, dataset: Path, online):
    hub.create_repo("dataset", "org/public", private=False)
    with pytest.raises(LicenceError, match="org/public already exists and is public"):
        publish(dataset, "org/public", private=True, acknowledge_licence=True, api=api(hub))
    assert len(hub.repos["org/public"].history()) == 1


def test_the_licence_gate_lets_an_open_source_through():
    open_source = Source("open", "", Licence("CC-BY-4.0", "u", "any", public_derivatives=True), "", None, None)
    restricted = Source("dua", "", Licence("DUA", "u", "none", public_derivatives=False), "", None, None)
    assert check_licences([open_source], private=False, acknowledged=False) is False
    assert check_licences([open_source, restricted], private=True, acknowledged=True) is True
    with pytest.raises(LicenceError, match="dua: DUA"):
        check_licences([open_source, restricted], private=True, acknowledged=False)


def test_a_tampered_shard_is_refused(hub: FakeHub, dataset: Path, tmp_path: Path, capsys):
    copy = tmp_path / "medforget"
    shutil.copytree(dataset, copy)
    shard = copy / "patient" / "forget-00000-of-00001.parquet"
    shard.write_bytes(shard.read_bytes() + b"\0")
    seen = len(hub.requests)
    with pytest.raises(ShardMismatchError, match="1 shard.*patient/forget-00000-of-00001.parquet"):
        publish(copy, REPO, private=True, acknowledge_licence=True, api=api(hub))
    assert main(["publish", "--dataset", str(copy), "--repo", REPO, "--private", "--acknowledge-licence"]) == 2
    assert "medforget: error: 1 shard(s)" in capsys.readouterr().err
    assert len(hub.requests) == seen


def forged(dataset: Path, tmp_path: Path, change) -> Path:
    """A copy whose manifest ``change`` edits, its shard hashes and validation report made to
    vouch for whatever the copy now holds, as a forger would."""
    copy = Path(shutil.copytree(dataset, tmp_path / "medforget"))
    manifest = json.loads((copy / "manifest.json").read_text())
    change(manifest, copy)
    for shard in manifest["shards"]:
        path = Path(shard["path"]) if Path(shard["path"]).is_absolute() else copy / shard["path"]
        if path.is_file():
            shard["sha256"], shard["bytes"] = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size
    (copy / "manifest.json").write_text(json.dumps(manifest))
    report = json.loads((copy / "validation.json").read_text())
    report.update(passed=True, manifest_sha256=hashlib.sha256((copy / "manifest.json").read_bytes()).hexdigest())
    (copy / "validation.json").write_text(json.dumps(report))
    return copy


SHARD = "patient/forget-00000-of-00001.parquet"


def leak(manifest: dict, copy: Path) -> None:
    """A retain row that names a forget patient's MRN (the shard rewritten)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    forget = pq.read_table(copy / SHARD)
    mrn = forget.filter(pc.equal(forget["attribute"], "mrn"))["answer"][0].as_py()
    path = copy / "patient" / "retain_other-00000-of-00001.parquet"
    table = pq.read_table(path)
    questions = table["question"].to_pylist()
    questions[0] += f" (MRN {mrn})"
    pq.write_table(
        table.set_column(table.schema.get_field_index("question"), table.schema.field("question"), pa.array(questions)),
        path,
    )


def shard_at(path: str):
    def change(manifest: dict, copy: Path) -> None:
        manifest["shards"][0]["path"] = path

    return change


def linked(manifest: dict, copy: Path) -> None:
    target = copy.parent / "elsewhere.parquet"
    shutil.move(copy / SHARD, target)
    (copy / SHARD).symlink_to(target)


FORGERIES = {
    "a report that says passed, on rows that leak": (leak, NotValidatedError, "fails its leak checks.*value_leak"),
    "an absolute shard path": (shard_at("/etc/hostname"), ShardMismatchError, "not a place the build writes"),
    "a shard path with ..": (shard_at("patient/../../secret.parquet"), ShardMismatchError, "not a place"),
    "a symlinked shard": (linked, ShardMismatchError, "symbolic link"),
    "a shard's size that is not a number": (
        lambda m, c: m["shards"][0].update(rows="many"),
        DatasetError,
        r"shards\[0\]\.rows must be an integer",
    ),
    "a licence flag flipped": (
        lambda m, c: m["sources"][0]["licence"].update(public_derivatives=True),
        LicenceError,
        "iu-xray: CC-BY-NC-ND-4.0",
    ),
    "an unknown source": (
        lambda m, c: m["sources"][0].update(name="my-open-data"),
        LicenceError,
        "'my-open-data' is not one this medforget knows",
    ),
}


@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_a_forged_folder_is_refused_before_the_hub_hears_of_it(case, hub: FakeHub, dataset: Path, tmp_path: Path):
    change, error, message = FORGERIES[case]
    copy = forged(dataset, tmp_path, change)
    seen = len(hub.requests)
    with pytest.raises(error, match=message):
        publish(copy, "org/forged", private=False, acknowledge_licence=False, api=api(hub))
    assert len(hub.requests) == seen and "org/forged" not in hub.repos


def test_the_report_published_is_the_one_publish_wrote_not_the_folders(dataset: Path, tmp_path: Path):
    from medforget.build.publish import publication_files, validate

    copy = forged(dataset, tmp_path, lambda m, c: None)
    (copy / "validation.json").write_text('{"passed": true, "note": "trust me"}')
    report = validate(copy)
    files = {f.path_in_repo: f for f in publication_files(copy, read_manifest(copy), REPO, report)}
    uploaded = json.loads(files["validation.json"].content)
    assert uploaded["passed"] is True and "note" not in uploaded and uploaded["dataset"] == "medforget"


def test_a_repo_id_the_hub_would_refuse_is_an_error_not_a_traceback(dataset: Path, capsys):
    for repo in ("../x", "org/..", "org/-x", "org/x--y", "a" * 97 + "/x"):
        assert main(["publish", "--dataset", str(dataset), "--repo", repo]) == 2
        err = capsys.readouterr().err
        assert "medforget: error: repository" in err and "Traceback" not in err


def test_without_a_token_nothing_is_sent(hub: FakeHub, dataset: Path, tmp_path: Path, monkeypatch, online):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    seen = len(hub.requests)
    with pytest.raises(HubError, match="no Hugging Face token.*HF_TOKEN"):
        publish(dataset, "org/anonymous", private=True, acknowledge_licence=True, api=api(hub, token=None))
    assert len(hub.requests) == seen


def test_offline_mode_is_named_not_retried(hub: FakeHub, dataset: Path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    seen = len(hub.requests)
    with pytest.raises(HubError, match="HF_HUB_OFFLINE is set"):
        publish(dataset, REPO, private=True, acknowledge_licence=True, api=api(hub))
    assert len(hub.requests) == seen


def test_a_branch_gets_what_changed_and_loses_stale_shards(hub: FakeHub, dataset: Path, online):
    repo = hub.create_repo("dataset", "org/branchy", private=True)
    stale = "patient/forget-00000-of-00002.parquet"
    main_head = repo.commit(
        "main",
        "an older build",
        {**repo.history()[0].files, stale: Blob(b"old", lfs=True), "README.md": Blob(b"hand-written", lfs=False)},
    )
    result = publish(dataset, "org/branchy", private=True, revision="v1", acknowledge_licence=True, api=api(hub))
    assert result.deleted == (stale,) and result.commit == repo.branches["v1"]
    assert len(result.uploaded) == result.files == 34
    assert repo.branches["main"] == main_head.oid and repo.history("v1")[1] == main_head
    on_branch = repo.commits[result.commit].files
    assert stale not in on_branch and on_branch["README.md"].data.startswith(b"---\n")
    again = publish(dataset, "org/branchy", private=True, revision="v1", acknowledge_licence=True, api=api(hub))
    assert again.unchanged and again.uploaded == () and repo.branches["v1"] == result.commit


def test_a_repo_id_needs_its_namespace_and_a_build_this_version_made(dataset: Path, tmp_path: Path):
    with pytest.raises(PublishError, match="expected ORG/NAME"):
        publish(dataset, "medforget")
    old = tmp_path / "medforget"
    shutil.copytree(dataset, old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 1}))
    with pytest.raises(DatasetError, match="manifest schema 1.*rebuild it"):
        publish(old, REPO)
