"""``medforget export``: a built dataset in another layout (the published MedForget files)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="export a built dataset to another layout (medforget-paper: the published MedForget files; "
        "lmms-eval: task YAMLs)",
        description="medforget-paper: the layout of the published MedForget code: per level, "
        "<level>_level/forget_set_all.parquet and retain_set_all.parquet (columns image, image_path, metadata, "
        "hierarchy_metadata, ID), plus rephrased sets; the authors' CHIP and eval.py read them (mapping: "
        "src/medforget/build/paper_layout.py). lmms-eval: a task YAML per level, split and task, a group per "
        "level and utils.py, for lmms-eval --include_path OUT (src/medforget/evaluators/lmms.py).",
    )
    export.add_argument("--format", required=True, choices=("medforget-paper", "lmms-eval"), help="the layout to write")
    export.add_argument(
        "--dataset", type=Path, required=True, metavar="DIR", help="a folder written by `medforget build`"
    )
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the export goes (replaced whole)")
    export.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    if args.format == "lmms-eval":
        from medforget.evaluators.lmms import export_lmms_eval

        tasks = export_lmms_eval(args.dataset, args.out)
        print(f"wrote {len(tasks.tasks)} lmms-eval tasks in {len(tasks.groups)} groups ({', '.join(tasks.groups)})")
        print(f"run: lmms-eval --include_path {args.out} --tasks {tasks.groups[0]} --model ... (medforget installed)")
        return 0
    from medforget.build.paper_layout import export_paper_layout

    result = export_paper_layout(args.dataset, args.out)
    for level, files in result.record["levels"].items():
        sizes = ", ".join(
            f"{name} {f['rows']} rows ({f['questions']} QA)" for name, f in files.items() if name != "left_out"
        )
        print(f"{level}_level: {sizes}")
    print(f"wrote the medforget-paper layout of {args.dataset} to {args.out}")
    return 0
