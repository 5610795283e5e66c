"""The ``medforget`` command. Heavy modules are imported inside the subcommands, so ``--help``
answers at once."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from medforget import __version__
from medforget.errors import ConfigError, MedForgetError


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medforget", description="MedForget: hierarchy-aware multimodal unlearning benchmark for medical AI."
    )
    parser.add_argument("--version", action="version", version=f"medforget {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="build a MedForget dataset folder that load_dataset reads")
    build.add_argument("--preset", default=None, help="tiny | default | full (default: default)")
    build.add_argument("--out", type=Path, default=Path("medforget"), help="output folder (default: ./medforget)")
    build.add_argument("--seed", type=int, default=None, help="seed of grouping, identities, targets")
    build.add_argument("--source", default=None, metavar="NAME",
                       help="iu-xray (default: reports in a wheel, fictitious people), mimic-cxr, openi, dicom")
    build.add_argument("--root", type=Path, default=None, metavar="DIR",
                       help="the source's folder (a MIMIC-CXR-JPG tree, an Open-i download, a DICOM export)")
    build.add_argument("--images", type=Path, default=None, metavar="DIR",
                       help="folder of real Open-i PNGs (NLMCXR_png) to use instead of rendered images")
    build.add_argument("--config", type=Path, default=None, metavar="YAML",
                       help="YAML file of build settings (a preset plus overrides); flags win over it")
    build.add_argument("--on-bad-input", choices=("skip", "warn", "raise"), default="skip",
                       help="what to do with a broken source file (skipped files are counted in the manifest)")
    build.add_argument("--num-proc", type=int, default=1, metavar="N",
                       help="processes for the images (decoding, windowing, rendering); the same dataset for any N")
    build.add_argument("--shard", default=None, metavar="I/N",
                       help="make only part I of N (from 0) of the images into --out, for a cluster's array jobs; "
                       "`medforget merge` writes the dataset from all N parts (the same as an unsharded build)")
    llm = build.add_argument_group("LLM QA", "reword and extend the template QA with an LLM behind any "
                                   "OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, transformers serve, an API)")
    llm.add_argument("--llm-base-url", metavar="URL", default=None, help="e.g. http://127.0.0.1:8008/v1")
    llm.add_argument("--llm-model", metavar="NAME", default=None, help="model name to ask the endpoint for")
    llm.add_argument("--llm-api-key-env", metavar="VAR", default=None,
                     help="environment variable holding the API key (default: OPENAI_API_KEY; local servers need none)")
    llm.add_argument("--llm-tasks", metavar="LIST", default=None,
                     help="comma-separated: rephrase (default), wording, distractors, cloze, grounded")
    llm.add_argument("--llm-fallback", action="store_true",
                     help="keep the template wording where replies stay invalid (marked llm-fallback in provenance) "
                     "instead of failing the build")
    llm.add_argument("--llm-cache-dir", type=Path, metavar="DIR", default=None,
                     help="reply cache (default: $MEDFORGET_LLM_CACHE or ~/.cache/medforget/llm)")
    llm.add_argument("--llm-concurrency", type=int, metavar="N", default=None, help="requests in flight (default 4)")
    build.set_defaults(run=_run_build)

    validate = commands.add_parser(
        "validate", help="prove a built dataset's splits leak-free (exit 0: all checks pass, 1: a check fails)",
        description="Run every leak check on a dataset folder and print one line per check. A failure names the "
        "config, split and offending ids. Writes validation.html (self-contained) and validation.json into DIR.",
    )
    validate.add_argument("dataset", type=Path, metavar="DIR", help="a folder written by `medforget build`")
    validate.add_argument("--json", action="store_true", help="print the machine-readable report instead")
    validate.add_argument("--no-report", action="store_true", help="do not write validation.html/.json into DIR")
    validate.set_defaults(run=_run_validate)

    export = commands.add_parser(
        "export", help="export a built dataset to another layout (medforget-paper: the published MedForget files)",
        description="Write a built dataset in the layout of the published MedForget code: per level, "
        "<level>_level/forget_set_all.parquet and retain_set_all.parquet (columns image, image_path, metadata, "
        "hierarchy_metadata, ID), plus rephrased sets; the authors' CHIP and eval.py read them. Mapping: "
        "src/medforget/paper_layout.py.")
    export.add_argument("--format", required=True, choices=("medforget-paper",), help="the layout to write")
    export.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="a folder written by `medforget build`")
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the export goes (replaced whole)")
    export.set_defaults(run=_run_export)

    merge = commands.add_parser(
        "merge", help="write the dataset from the parts of a sharded build (`medforget build --shard i/n`)",
        description="Check that the parts are 0/n to n-1/n of one config and one source, each once, then build the "
        "dataset with their images: the same bytes as an unsharded build.")
    merge.add_argument("parts", type=Path, nargs="+", metavar="PART", help="the --out folders of every shard")
    merge.add_argument("--out", type=Path, default=Path("medforget"), help="output folder (default: ./medforget)")
    merge.add_argument("--num-proc", type=int, default=1, metavar="N",
                       help="processes for what the source decodes at ingest (DICOM pixels)")
    merge.set_defaults(run=_run_merge)

    train = commands.add_parser(
        "train", help="train a reference model: the tiny track on CPU, or LoRA on a real checkpoint (--base-model)",
        description="Without --base-model: a tiny LLaVA from scratch, on CPU. With --base-model: the LoRA protocol "
        "(rank 16, alpha 16, dropout 0.05, AdamW 1e-4, language-model linears, vision frozen); run it under "
        "`accelerate launch -m medforget train ...` for one or many GPUs, bf16, gradient accumulation.")
    train.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="a built dataset (the tiny preset)")
    train.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the checkpoint goes")
    train.add_argument("--without", metavar="LEVEL", default=None,
                       help="train a retain model: leave out this level's forget split")
    train.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's)")
    train.add_argument("--seed", type=int, default=None, help="seed of initial weights and batch order")
    train.add_argument("--base-model", type=Path, default=None, metavar="PATH",
                       help="a local image-text-to-text checkpoint to fine-tune with LoRA")
    train.add_argument("--require-knowledge", action="store_true",
                       help="exit 1 unless the model reaches the bar on the rows it saw "
                       "(classification >= 0.95, generation ROUGE-L >= 0.8)")
    train.set_defaults(run=_run_train)

    unlearn = commands.add_parser(
        "unlearn", help="unlearn one level's forget split from a model: ga, gd, kl, npo, prune or chip",
        description="Run an unlearning method on a checkpoint (or a LoRA adapter) at one level of a built dataset. "
        "Gradient methods (ga, gd, kl, npo) train a LoRA adapter (or all weights with --param lora=false) with "
        "accelerate: run `accelerate launch -m medforget unlearn ...` for one or many GPUs. prune and chip are "
        "training-free. The output is a checkpoint or adapter that `medforget eval --model` reads, with "
        "medforget_unlearning.json (method, hyperparameters, seed, data hashes, wall time).")
    unlearn.add_argument("--method", required=True, help="ga | gd | kl | npo | prune | chip")
    unlearn.add_argument("--level", required=True, help="the level whose forget split is unlearned")
    unlearn.add_argument("--model", type=Path, required=True, metavar="PATH", help="the model to unlearn from")
    unlearn.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="a built dataset")
    unlearn.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the unlearned model goes")
    unlearn.add_argument("--track", choices=("model", "tiny"), default="model",
                         help="defaults for real checkpoints (model) or for the tiny track's CPU models (tiny)")
    unlearn.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                         help="override a hyperparameter (repeatable), e.g. --param epochs=3 --param top_k_percent=5")
    unlearn.add_argument("--seed", type=int, default=0)
    unlearn.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    unlearn.set_defaults(run=_run_unlearn)

    sweep = commands.add_parser(
        "sweep", help="unlearn with every method at every level and evaluate each, in one process",
        description="For each level: evaluate the target (and the level's retain model, as reference rows), then "
        "run each method on the target and evaluate what it saved, against the target's run (--before) and the "
        "level's retain model's (--retain: PrivLeak, forget quality, normalised knowledge). Writes "
        "MODELS/<method>-<level>/ and RUNS/{target,retain,<method>}/<level>/, then prints the table (also RUNS/table.md). Each step is "
        "`medforget unlearn` and `medforget eval`; one process loads torch and transformers once.")
    sweep.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="a built dataset")
    sweep.add_argument("--target", type=Path, required=True, metavar="PATH", help="the model to unlearn from")
    sweep.add_argument("--retain", default=None, metavar="PATTERN",
                       help="the retain models, {level} in the path (e.g. models/tiny/retain-{level})")
    sweep.add_argument("--methods", nargs="+", required=True, metavar="METHOD", help="e.g. ga gd kl npo prune chip")
    sweep.add_argument("--levels", nargs="+", default=None, metavar="LEVEL", help="default: every level of the dataset")
    sweep.add_argument("--models", type=Path, required=True, metavar="DIR", help="where the unlearned models go")
    sweep.add_argument("--runs", type=Path, required=True, metavar="DIR", help="where the eval runs go")
    sweep.add_argument("--track", choices=("model", "tiny"), default="model", help="as for `medforget unlearn`")
    sweep.add_argument("--seed", type=int, default=0)
    sweep.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    sweep.set_defaults(run=_run_sweep)

    evaluate = commands.add_parser("eval", help="score a model or submitted predictions on a level's splits")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, metavar="PATH", help="a local image-text-to-text checkpoint")
    source.add_argument("--predictions", type=Path, metavar="FILE", help="JSONL of {id, prediction[, logprobs]}")
    source.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible base URL (key from OPENAI_API_KEY)")
    evaluate.add_argument("--endpoint-model", default=None, metavar="NAME", help="model name to ask the endpoint for")
    evaluate.add_argument("--dataset", type=Path, required=True, metavar="DIR")
    evaluate.add_argument("--level", required=True, help="institution | patient | study | section | all")
    evaluate.add_argument("--out", type=Path, required=True, metavar="RUN", help="folder for results.json, predictions.jsonl")
    evaluate.add_argument("--method", default="none", help="name of the unlearning method that made the model")
    evaluate.add_argument("--before", type=Path, metavar="RUN",
                          help="the eval run of the model before unlearning: enables sibling damage, utility retained")
    evaluate.add_argument("--retain", type=Path, metavar="RUN",
                          help="the eval run of the level's retain model (never trained on its forget split): enables "
                          "PrivLeak and forget quality, and with --before the normalised knowledge measures")
    evaluate.add_argument("--no-reconstruction", action="store_true", help="skip the reconstruction attack")
    evaluate.add_argument("--judge-endpoint", metavar="URL", default=None,
                          help="an OpenAI-compatible base URL for the LLM judge (factuality 1-10 of generation rows)")
    evaluate.add_argument("--judge-model", metavar="NAME", default=None, help="model name to ask the judge endpoint for")
    evaluate.add_argument("--batch-size", type=int, default=32)
    evaluate.set_defaults(run=_run_eval)
    table = commands.add_parser("table", help="a Markdown table of eval runs: headline metrics and unlearning time")
    table.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="--out folders of `medforget eval`")
    table.set_defaults(run=_run_table)

    submit = commands.add_parser(
        "submit", help="package eval runs of one model (one per level) into a leaderboard submission",
        description="Copies each run's per-sample predictions (and its results, as claimed numbers the board "
        "ignores) with a submission.json: method, hyperparameters, seed, commit, model, hardware, track, role and "
        "the dataset's hashes. Format: medforget/leaderboard/submission.py.")
    submit.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="--out folders of `medforget eval`")
    submit.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="a folder (e.g. leaderboard/submissions/NAME) or an archive (NAME.tar.gz, NAME.zip)")
    submit.add_argument("--name", required=True, help="the submission's name on the board")
    submit.add_argument("--track", default="tiny", help="tiny, or a named model track (e.g. lingshu-7b)")
    submit.add_argument("--role", choices=("unlearned", "target", "retain"), default="unlearned")
    submit.add_argument("--hardware", default=None, help="what it ran on (default: this machine)")
    submit.add_argument("--weights-url", default=None, help="a link to the unlearned weights")
    submit.set_defaults(run=_run_submit)

    board = commands.add_parser("leaderboard", help="check a submission, or build the board")
    board_commands = board.add_subparsers(dest="board_command", required=True, metavar="ACTION")
    check = board_commands.add_parser(
        "check", help="validate a submission and recompute its scores from its predictions (exit 1: rejected)")
    check.add_argument("submission", type=Path, metavar="PATH", help="a submission folder, .tar.gz or .zip")
    check.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="the board's dataset for its track")
    check.add_argument("--target", type=Path, default=None, metavar="PATH",
                       help="the track's target submission: enables sibling damage and utility retained")
    check.add_argument("--retain", type=Path, default=None, metavar="PATH",
                       help="the track's retain submission: enables PrivLeak and forget quality, and with --target "
                       "the normalised knowledge measures")
    check.set_defaults(run=_run_check)
    build_board = board_commands.add_parser(
        "build", help="leaderboard/submissions/* -> board.json, index.html, board.md, plots/")
    build_board.add_argument("--board", type=Path, default=Path("leaderboard"), metavar="DIR")
    build_board.add_argument("--dataset", action="append", required=True, metavar="TRACK=DIR",
                             help="each track's dataset, e.g. tiny=medforget-tiny (repeatable)")
    build_board.set_defaults(run=_run_board_build)
    compare = board_commands.add_parser(
        "compare", help="does a board.json agree with a reference one, within what another CPU kind moves? (exit 1: no)")
    compare.add_argument("built", type=Path, metavar="BOARD_JSON", help="the board.json to check")
    compare.add_argument("reference", type=Path, metavar="REFERENCE_JSON", help="e.g. the committed board.json")
    compare.add_argument("--tolerance", type=float, default=None,
                         help="largest difference allowed on any value (default: the reproducibility tolerance)")
    compare.set_defaults(run=_run_board_compare)

    publish = commands.add_parser(
        "publish", help="upload a built, validated dataset to a Hugging Face Hub dataset repository",
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
Then: load_dataset("ORG/NAME", "patient").""")
    publish.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="a folder written by `medforget build`")
    publish.add_argument("--repo", required=True, metavar="ORG/NAME", help="the Hub dataset repository (created if missing)")
    publish.add_argument("--private", action="store_true", help="create the repository private")
    publish.add_argument("--revision", default="main", metavar="BRANCH", help="branch to commit to, created from main "
                         "if missing (default: main)")
    publish.add_argument("--acknowledge-licence", action="store_true",
                         help="confirm you may share data derived from restricted sources with the repo's members "
                         "(needs --private)")
    publish.set_defaults(run=_run_publish)
    return parser


def _run_submit(args: argparse.Namespace) -> int:
    import tempfile

    from medforget.leaderboard.submission import archive, is_archive, package

    if is_archive(args.out):
        with tempfile.TemporaryDirectory() as tmp:
            manifest = package(args.runs, Path(tmp) / "submission", args.name, args.track, args.role, args.hardware,
                               args.weights_url)
            archive(Path(tmp) / "submission", args.out)
    else:
        manifest = package(args.runs, args.out, args.name, args.track, args.role, args.hardware, args.weights_url)
    print(f"submission {manifest['name']} ({manifest['role']}, {manifest['track']} track, levels "
          f"{', '.join(manifest['levels'])}) in {args.out}")
    return 0


def _run_check(args: argparse.Namespace) -> int:
    import tempfile

    from medforget.leaderboard.check import check, reference
    from medforget.leaderboard.submission import SubmissionError

    with tempfile.TemporaryDirectory() as tmp:
        try:
            before = reference(args.target, "target", args.dataset, Path(tmp) / "target").runs if args.target else None
            retain = (reference(args.retain, "retain", args.dataset, Path(tmp) / "retain", before).runs
                      if args.retain else None)
            checked = check(args.submission, args.dataset, Path(tmp) / "submission", before, retain)
        except SubmissionError as err:
            print(f"rejected: {err}")
            return 1
        print(f"accepted: {checked.manifest['name']}, levels {', '.join(checked.results)}; scores recomputed")
        print("\n".join(f"  claimed number differs: {line}" for line in checked.disagreements)
              or "  every claimed number equals the recomputed one")
    return 0


def _run_board_build(args: argparse.Namespace) -> int:
    from medforget.leaderboard.build import build

    datasets = dict(_key_value(text, "--dataset", "TRACK=DIR") for text in args.dataset)
    data = build(args.board, {track: Path(path) for track, path in datasets.items()})
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


def _run_table(args: argparse.Namespace) -> int:
    from medforget.evaluators.table import markdown

    print("\n".join(markdown(args.runs)))
    return 0


def _run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from medforget.evaluators.knowledge import record_knowledge, shortfalls, table
    from medforget.training.data import read_manifest
    from medforget.training.lora import LoraRecipe, finetune_lora
    from medforget.training.tiny_track import TrainConfig, train_tiny

    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    levels = list(read_manifest(args.dataset)["targets"])
    if args.without is not None and args.without not in levels:
        raise ConfigError(f"--without {args.without!r}: {args.dataset} has the levels {', '.join(levels)}")
    without = (args.without, "forget") if args.without else None
    if args.base_model is not None:
        record = finetune_lora(args.base_model, args.dataset, args.out, dataclasses.replace(LoraRecipe(), **overrides), without)
        print(f"LoRA adapter for {args.base_model} in {args.out}: {record['steps']} steps, "
              f"final loss {record['final_loss']:.4f}, {record['seconds']:.0f}s")
    else:
        result = train_tiny(args.dataset, args.out, dataclasses.replace(TrainConfig(), **overrides), without)
        print(f"trained {args.out} on {result.rows} rows: {result.steps} steps, final loss {result.final_loss:.4f}, "
              f"{result.seconds:.0f}s")
    report = record_knowledge(args.out, args.dataset, without)
    print("primary score per fact level and task (seen: trained on; left_out: the split left out; holdout: never seen)")
    print("\n".join(table(report)))
    missed = shortfalls(report)
    if missed:
        print(("below the bar on seen rows: " if args.require_knowledge else "note: below the bar on seen rows: ")
              + "; ".join(missed))
    return 1 if missed and args.require_knowledge else 0


def _run_unlearn(args: argparse.Namespace) -> int:
    import dataclasses

    from medforget.unlearning.run import method_for, unlearn

    params = dict(_key_value(p, "--param", "KEY=VALUE") for p in args.param)
    method = method_for(args.method, params, args.track)
    record = unlearn(method, args.level, args.model, args.dataset, args.out, seed=args.seed, threads=args.threads)
    settings = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(method).items())
    print(f"{method.name} at {args.level} on {args.model} -> {args.out} ({record['output']}) in {record['seconds']:.1f}s")
    print(f"  {settings}")
    print("  " + ", ".join(f"{k}: {v}" for k, v in record["summary"].items() if not isinstance(v, dict)))
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    from medforget.evaluators.table import markdown
    from medforget.training.data import read_manifest
    from medforget.unlearning.sweep import Sweep, sweep

    levels = tuple(args.levels or read_manifest(args.dataset)["targets"])
    plan = Sweep(args.dataset, args.target, tuple(args.methods), levels, args.models, args.runs, retain=args.retain,
                 track=args.track, seed=args.seed, threads=args.threads)
    table = "\n".join(markdown(sweep(plan))) + "\n"
    (args.runs / "table.md").write_text(table, encoding="utf-8")
    print(table, end="")
    return 0


def _key_value(text: str, option: str, form: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"{option} {text!r}: expected {form}")
    return key.strip(), value.strip()


def _run_eval(args: argparse.Namespace) -> int:
    from medforget.evaluators.run import evaluate
    from medforget.models.adapters import EndpointAdapter, PredictionsFile, TransformersAdapter
    from medforget.training.data import read_manifest

    if args.endpoint and not args.endpoint_model:
        raise ConfigError("--endpoint needs --endpoint-model NAME")
    if bool(args.judge_endpoint) != bool(args.judge_model):
        raise ConfigError("--judge-endpoint and --judge-model go together")
    dataset_levels = list(read_manifest(args.dataset)["targets"])  # a wrong --dataset fails before a model loads
    levels = dataset_levels if args.level == "all" else [args.level]
    judge = None
    if args.judge_endpoint:
        from medforget.evaluators.judge import EndpointJudge

        judge = EndpointJudge(args.judge_endpoint, args.judge_model)
    adapter = (TransformersAdapter(args.model, batch_size=args.batch_size) if args.model
               else EndpointAdapter(args.endpoint, args.endpoint_model) if args.endpoint
               else PredictionsFile(args.predictions))
    for level in levels:
        out = args.out / level if args.level == "all" else args.out
        before, retain = (run / level if run and args.level == "all" else run for run in (args.before, args.retain))
        results = evaluate(args.dataset, level, adapter, out, method=args.method, before=before, retain=retain,
                           reconstruction=not args.no_reconstruction, judge=judge)
        print("\n".join(_results_table(results)))
        failed = sum(m.get("failed", 0) for m in results["metrics"] if m["name"] == "llm_factuality")
        if failed:
            print(f"  warning: the judge failed on {failed} rows (left out of llm_factuality, not scored 0)")
    return 0


def _results_table(results: dict) -> list[str]:
    """Per split: the primary metric of each task and of all rows; then the headline numbers."""
    columns = (("classification", "option_accuracy"), ("generation", "rouge_l"), ("cloze", "cloze_exact_match"),
               ("all", "primary"))
    cells = {(m["split"], m["task"], m["name"]): m for m in results["metrics"]}
    splits = list(dict.fromkeys(m["split"] for m in results["metrics"] if m["name"] == "primary"))
    lines = [f"{results['level']} ({results['model']})", f"{'split':<18}" + "".join(f"{t:>16}" for t, _ in columns)
             + f"{'n':>7}"]
    for split in splits:
        values = [cells.get((split, task, name), {}).get("value") for task, name in columns]
        lines.append(f"{split:<18}" + "".join(f"{v:>16.3f}" if v is not None else f"{'':>16}" for v in values)
                     + f"{cells[(split, 'all', 'primary')]['n']:>7}")
    headline = ("forget_retain_gap", "child_leak_rate", "sibling_damage", "utility_retained", "reconstruction_attack",
                "mia_auc_loss", "privleak_loss", "normalised_forget", "normalised_child_leak", "ks_statistic")
    headline += ("forget_quality",)
    shown = [f"{m['name']} {m['value']:.3f}" + (f" [{m['low']:.3f}, {m['high']:.3f}]" if m["low"] is not None else "")
             + f" ({m['split']}{'' if m['task'] == 'all' else ', ' + m['task']})"
             for m in results["metrics"] if m["name"] in headline and m["value"] is not None]
    return lines + [f"  {line}" for line in shown]


def _run_export(args: argparse.Namespace) -> int:
    from medforget.paper_layout import export_paper_layout

    result = export_paper_layout(args.dataset, args.out)
    for level, files in result.record["levels"].items():
        sizes = ", ".join(f"{name} {f['rows']} rows ({f['questions']} QA)" for name, f in files.items() if name != "left_out")
        print(f"{level}_level: {sizes}")
    print(f"wrote the medforget-paper layout of {args.dataset} to {args.out}")
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    import json

    from medforget.schemas.validate import validate_folder

    report = validate_folder(args.dataset, write_reports=not args.no_report)
    print(json.dumps(report.to_json(), indent=2) if args.json else "\n".join(report.lines()))
    return 0 if report.passed else 1


def _run_build(args: argparse.Namespace) -> int:
    from medforget.config import BuildConfig, read_yaml_mapping
    from medforget.pipeline import build
    from medforget.workers import check_num_proc

    values = read_yaml_mapping(args.config) if args.config is not None else {}
    flags = {"preset": args.preset, "seed": args.seed, "images_dir": args.images, "source": args.source,
             "source_root": args.root}
    values.update({key: value for key, value in flags.items() if value is not None})
    llm_flags = {"base_url": args.llm_base_url, "model": args.llm_model, "api_key_env": args.llm_api_key_env,
                 "tasks": args.llm_tasks, "cache_dir": args.llm_cache_dir, "concurrency": args.llm_concurrency,
                 "fallback": args.llm_fallback or None}
    llm_flags = {key: value for key, value in llm_flags.items() if value is not None}
    if llm_flags:  # on top of the config file's llm: mapping (anything else there is refused below)
        base = values.get("llm") or {}
        values["llm"] = {**base, **llm_flags} if isinstance(base, dict) else base
    config = BuildConfig.from_mapping(values)
    start = time.perf_counter()
    if args.shard is not None:
        from medforget.parts import build_part
        from medforget.workers import ShardSpec

        shard = ShardSpec.parse(args.shard)
        made = build_part(config, args.out, shard, policy=args.on_bad_input, num_proc=args.num_proc)
        print(f"part {shard} of the build: {made} images in {args.out} ({time.perf_counter() - start:.1f}s); "
              f"when every part is made: medforget merge PART... --out DIR")
        return 0
    result = build(config, args.out, policy=args.on_bad_input, num_proc=check_num_proc(args.num_proc))
    _print_summary(result.manifest, args.out, time.perf_counter() - start)
    if result.manifest["llm"] is not None:
        print(_llm_summary(result.manifest["llm"], result.timings["qa"]))
    return 0


def _run_merge(args: argparse.Namespace) -> int:
    from medforget.parts import merge_parts
    from medforget.workers import check_num_proc

    start = time.perf_counter()
    result = merge_parts(args.parts, args.out, num_proc=check_num_proc(args.num_proc))
    _print_summary(result.manifest, args.out, time.perf_counter() - start)
    return 0


def _llm_summary(record: dict, seconds: float) -> str:
    requests = record["requests"]
    calls = ", ".join(f"{prompt} {n}" for prompt, n in record["calls"].items())
    return (f"LLM {record['model']}: {sum(record['calls'].values())} calls ({calls}), "
            f"{requests} requests ({requests / seconds:.2f}/s over the {seconds:.1f}s QA step), "
            f"{record['cache_hits']} cache hits, {record['shared']} shared by identical prompts, "
            f"{record['retries']} retries, {record['invalid_replies']} invalid "
            f"replies retried, {record['fallbacks']['count']} fell back to templates; rows {record['rows']}")


def _print_summary(manifest: dict, out: Path, seconds: float) -> None:
    counts = manifest["counts"]
    splits = list(dict.fromkeys(split for by_split in counts.values() for split in by_split))
    print(f"built MedForget ({manifest['preset']} preset, seed {manifest['seed']}) into {out} in {seconds:.1f}s")
    print(f"{'config':<12}" + "".join(f"{split:>17}" for split in splits))
    for name, by_split in counts.items():
        cells = (by_split[split]["rows"] if split in by_split else "" for split in splits)
        print(f"{name:<12}" + "".join(f"{cell:>17}" for cell in cells))
    skipped = sum(s["count"] for s in manifest["skipped"])
    print(f"{manifest['total_qa_rows']} QA rows, {manifest['images']['count']} images, {len(manifest['shards'])} shards, {skipped} inputs skipped")


def _run_publish(args: argparse.Namespace) -> int:
    from medforget.publish import publish

    result = publish(args.dataset, args.repo, private=args.private, revision=args.revision,
                     acknowledge_licence=args.acknowledge_licence)
    if result.unchanged:
        print(f"unchanged: {result.repo_id}@{result.revision} already holds these {result.files} files; no commit made")
    else:
        print(f"published {args.dataset} to {result.url} ({result.revision}): commit {result.commit}, "
              f"{len(result.uploaded)} of {result.files} files uploaded, {len(result.deleted)} stale shards removed")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except MedForgetError as err:
        print(f"medforget: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
