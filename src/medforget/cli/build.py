"""``medforget build`` and ``medforget merge``: a dataset folder, whole or from a sharded build's parts."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medforget.cli.args import Choices, add_data_use, data_use, key_value
from medforget.registry import Registry

if TYPE_CHECKING:
    from medforget.dataset import Manifest


def add(commands: argparse._SubParsersAction) -> None:
    from medforget.config import LLM_TASKS, PRESETS  # the standard library only

    build = commands.add_parser("build", help="build a MedForget dataset folder that load_dataset reads")
    build.add_argument("--preset", default=None, help=f"{' | '.join(PRESETS)} (default: default)")
    build.add_argument("--out", type=Path, default=Path("medforget"), help="output folder (default: ./medforget)")
    build.add_argument("--seed", type=int, default=None, help="seed of grouping, identities, targets")
    build.add_argument(
        "--source",
        default=None,
        metavar="NAME",
        choices=Choices(_sources),
        help="%(choices)s (default: iu-xray; `medforget ls sources` says what each is)",
    )
    build.add_argument(
        "--root",
        type=Path,
        default=None,
        metavar="DIR",
        help="the source's folder (a MIMIC-CXR-JPG tree, an Open-i download, a DICOM export): its root option",
    )
    build.add_argument(
        "--images",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of real Open-i PNGs (NLMCXR_png) to use instead of rendered images: the images_dir option",
    )
    build.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a source option (repeatable; `medforget ls sources` lists each source's options)",
    )
    build.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="YAML",
        help="YAML file of build settings (a preset plus overrides); flags win over it",
    )
    build.add_argument(
        "--on-bad-input",
        choices=("skip", "warn", "raise"),
        default="skip",
        help="what to do with a broken source file (skipped files are counted in the manifest)",
    )
    build.add_argument(
        "--num-proc",
        type=int,
        default=1,
        metavar="N",
        help="processes for the images (decoding, windowing, rendering); the same dataset for any N",
    )
    build.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="make only part I of N (from 0) of the images into --out, for a cluster's array jobs; "
        "`medforget merge` writes the dataset from all N parts (the same as an unsharded build)",
    )
    llm = build.add_argument_group(
        "LLM QA",
        "reword and extend the template QA with an LLM behind any "
        "OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, transformers serve, an API)",
    )
    llm.add_argument("--llm-base-url", metavar="URL", default=None, help="e.g. http://127.0.0.1:8008/v1")
    llm.add_argument("--llm-model", metavar="NAME", default=None, help="model name to ask the endpoint for")
    llm.add_argument(
        "--llm-api-key-env",
        metavar="VAR",
        default=None,
        help="environment variable holding the API key (default: OPENAI_API_KEY; local servers need none)",
    )
    llm.add_argument(
        "--llm-tasks",
        metavar="LIST",
        default=None,
        help=f"comma-separated, of: {', '.join(LLM_TASKS)} (default: rephrase)",
    )
    llm.add_argument(
        "--llm-fallback",
        action="store_true",
        help="keep the template wording where replies stay invalid (marked llm-fallback in provenance) "
        "instead of failing the build",
    )
    llm.add_argument(
        "--llm-cache-dir",
        type=Path,
        metavar="DIR",
        default=None,
        help="reply cache (default: $MEDFORGET_LLM_CACHE or ~/.cache/medforget/llm)",
    )
    llm.add_argument("--llm-concurrency", type=int, metavar="N", default=None, help="requests in flight (default 4)")
    add_data_use(llm)
    build.set_defaults(run=_run_build)

    merge = commands.add_parser(
        "merge",
        help="write the dataset from the parts of a sharded build (`medforget build --shard i/n`)",
        description="Check that the parts are 0/n to n-1/n of one config and one source, each once, then build the "
        "dataset with their images: the same bytes as an unsharded build.",
    )
    merge.add_argument("parts", type=Path, nargs="+", metavar="PART", help="the --out folders of every shard")
    merge.add_argument("--out", type=Path, default=Path("medforget"), help="output folder (default: ./medforget)")
    merge.add_argument(
        "--num-proc",
        type=int,
        default=1,
        metavar="N",
        help="processes for what the source decodes at ingest (DICOM pixels)",
    )
    add_data_use(merge)
    merge.set_defaults(run=_run_merge)


def _sources() -> Registry[Any]:
    from medforget.builders.base import BUILDERS

    return BUILDERS


def _run_build(args: argparse.Namespace) -> int:
    from medforget.build.pipeline import build
    from medforget.config import BuildConfig, read_yaml_mapping
    from medforget.workers import check_num_proc

    values = read_yaml_mapping(args.config) if args.config is not None else {}
    flags = {"preset": args.preset, "seed": args.seed, "source": args.source}
    values.update({key: value for key, value in flags.items() if value is not None})
    options = dict(key_value(text, "--option", "KEY=VALUE") for text in args.option)
    options.update({key: value for key, value in (("root", args.root), ("images_dir", args.images)) if value})
    if options:  # on top of the config file's source_options: mapping (anything else there is refused below)
        base = values.get("source_options") or {}
        values["source_options"] = {**base, **options} if isinstance(base, dict) else base
    llm_flags = {
        "base_url": args.llm_base_url,
        "model": args.llm_model,
        "api_key_env": args.llm_api_key_env,
        "tasks": args.llm_tasks,
        "cache_dir": args.llm_cache_dir,
        "concurrency": args.llm_concurrency,
        "fallback": args.llm_fallback or None,
    }
    llm_flags = {key: value for key, value in llm_flags.items() if value is not None}
    if llm_flags:  # on top of the config file's llm: mapping (anything else there is refused below)
        base = values.get("llm") or {}
        values["llm"] = {**base, **llm_flags} if isinstance(base, dict) else base
    config = BuildConfig.from_mapping(values)
    start = time.perf_counter()
    if args.shard is not None:
        from medforget.build.parts import build_part
        from medforget.workers import ShardSpec

        shard = ShardSpec.parse(args.shard)
        made = build_part(config, args.out, shard, policy=args.on_bad_input, num_proc=args.num_proc)
        print(
            f"part {shard} of the build: {made} images in {args.out} ({time.perf_counter() - start:.1f}s); "
            f"when every part is made: medforget merge PART... --out DIR"
        )
        return 0
    num_proc = check_num_proc(args.num_proc)
    result = build(config, args.out, policy=args.on_bad_input, num_proc=num_proc, data_use=data_use(args))
    _print_summary(result.manifest, args.out, time.perf_counter() - start)
    if result.manifest.llm is not None:
        print(_llm_summary(result.manifest.llm, result.timings["qa"]))
    return 0


def _run_merge(args: argparse.Namespace) -> int:
    from medforget.build.parts import merge_parts
    from medforget.workers import check_num_proc

    start = time.perf_counter()
    result = merge_parts(args.parts, args.out, num_proc=check_num_proc(args.num_proc), data_use=data_use(args))
    _print_summary(result.manifest, args.out, time.perf_counter() - start)
    return 0


def _llm_summary(record: Mapping[str, Any], seconds: float) -> str:
    requests = record["requests"]
    calls = ", ".join(f"{prompt} {n}" for prompt, n in record["calls"].items())
    return (
        f"LLM {record['model']}: {sum(record['calls'].values())} calls ({calls}), "
        f"{requests} requests ({requests / seconds:.2f}/s over the {seconds:.1f}s QA step), "
        f"{record['cache_hits']} cache hits, {record['shared']} shared by identical prompts, "
        f"{record['retries']} retries, {record['invalid_replies']} invalid "
        f"replies retried, {record['fallbacks']['count']} fell back to templates; rows {record['rows']}"
    )


def _print_summary(manifest: Manifest, out: Path, seconds: float) -> None:
    counts = manifest.counts
    splits = list(dict.fromkeys(split for by_split in counts.values() for split in by_split))
    print(f"built MedForget ({manifest.preset} preset, seed {manifest.seed}) into {out} in {seconds:.1f}s")
    print(f"{'config':<12}" + "".join(f"{split:>17}" for split in splits))
    for name, by_split in counts.items():
        cells = (by_split[split].rows if split in by_split else "" for split in splits)
        print(f"{name:<12}" + "".join(f"{cell:>17}" for cell in cells))
    skipped = sum(s.count for s in manifest.skipped)
    print(
        f"{manifest.total_qa_rows} QA rows, {manifest.images.count} images, "
        f"{len(manifest.shards)} shards, {skipped} inputs skipped"
    )
