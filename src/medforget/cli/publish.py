"""``medforget publish``: upload a built, validated dataset to the Hugging Face Hub."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(commands: argparse._SubParsersAction) -> None:
    publish = commands.add_parser(
        "publish",
        help="upload a built, validated dataset to a Hugging Face Hub dataset repository",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""Publish a built dataset folder to a Hugging Face Hub dataset repository, in one commit.

      1. before any network call, trusting nothing the folder says of itself: every file is inside
         it (no absolute or .. shard paths, no links), every shard's sha256 equals the manifest's,
         and the leak checks pass when publish runs them (its report is the one uploaded)
      2. licence gate, with each source's licence from this medforget's source registry (not the
         manifest's flags): a dataset derived from a source whose licence forbids publishing derived data
         openly (the IU X-ray reports are CC BY-NC-ND 4.0; MIMIC is under a data use agreement) is
         published only to a private repo, with --private and --acknowledge-licence
      3. ORG/NAME (and --revision BRANCH) is created when missing; every file is compared with it
      4. what differs goes up in one commit: the shards, manifest.json, validation.json and the
         dataset card generated for ORG/NAME; an unchanged dataset makes no commit

    Token: HF_TOKEN or `hf auth login`. Endpoint: HF_ENDPOINT (default https://huggingface.co).
    Then: load_dataset("ORG/NAME", "patient").""",
    )
    publish.add_argument(
        "--dataset", type=Path, required=True, metavar="DIR", help="a folder written by `medforget build`"
    )
    publish.add_argument(
        "--repo", required=True, metavar="ORG/NAME", help="the Hub dataset repository (created if missing)"
    )
    publish.add_argument("--private", action="store_true", help="create the repository private")
    publish.add_argument(
        "--revision",
        default="main",
        metavar="BRANCH",
        help="branch to commit to, created from main if missing (default: main)",
    )
    publish.add_argument(
        "--acknowledge-licence",
        action="store_true",
        help="confirm you may share data derived from restricted sources with the repo's members (needs --private)",
    )
    publish.set_defaults(run=_run_publish)


def _run_publish(args: argparse.Namespace) -> int:
    from medforget.build.publish import publish

    result = publish(
        args.dataset,
        args.repo,
        private=args.private,
        revision=args.revision,
        acknowledge_licence=args.acknowledge_licence,
    )
    if result.unchanged:
        print(f"unchanged: {result.repo_id}@{result.revision} already holds these {result.files} files; no commit made")
    else:
        print(
            f"published {args.dataset} to {result.url} ({result.revision}): commit {result.commit}, "
            f"{len(result.uploaded)} of {result.files} files uploaded, {len(result.deleted)} stale shards removed"
        )
    return 0
