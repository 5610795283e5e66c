"""What MedForget reproduces, and how exactly; and the provenance every record carries
(:func:`machine`, :func:`code_commit`).

- **Datasets**: the same sources, preset and seed give byte-identical shards on any machine.
  Text, ids and splits are integer and string work; images are rendered in float64 numpy and
  quantised to 8 bits, and have come out byte-identical on every CPU kind measured (Intel Xeon
  with AVX-512, AMD EPYC). The manifest's sha256 of every shard says whether two builds agree.
- **Model weights and scores, same machine kind and thread count**: bit for bit. Seeds fix the
  initial weights and the batch order, and torch runs deterministic kernels.
- **Across CPU kinds and thread counts**: not bit for bit. Another CPU runs other BLAS kernels
  (AVX2 instead of AVX-512, other blockings), and another thread count splits a reduction
  differently, so float sums add up in another order. Weights then differ at rounding level;
  scores agree within the tolerances below (:func:`disagreements`). The test
  ``tests/training/test_threads.py`` trains and evaluates a tiny model with 1 thread and with
  2 threads on AVX2 kernels, and holds both to these tolerances.

Every training and unlearning record carries :func:`machine`, so whether two runs fall under the
bit-for-bit promise can be read off their records.
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import medforget

#: Per-token answer log-probabilities (nats). Rounding differences grow with every optimiser step:
#: measured 3e-5 after 360 steps of a tiny model at lr 3e-3, 0.028 after 560 (1 thread against
#: 2 threads on AVX2 kernels, ``tests/training/test_threads.py``).
LOGPROB_TOLERANCE = 0.1

#: Share of greedy answers that may differ: an answer flips only where its two best tokens tie
#: within the log-probabilities' drift. Measured: 0 and 2 of 1,638 answers (0.12 %).
FLIP_TOLERANCE = 0.02

#: An aggregate score (a mean over rows of values in [0, 1], or a ratio of two such means).
#: Continuous scores move by about the log-probabilities' drift, decoded ones by the flipped
#: rows: one flip in the tiny board's smallest split (24 rows) is 0.042. Measured: at most 0.011.
SCORE_TOLERANCE = 0.05

#: A board made over several seeds (base, fine-tunes and methods each seeded) gives each value
#: its standard deviation over them, sigma; another run, of a seed or on another CPU kind (whose
#: rounding differences training amplifies like a change of seed), may move it by this many
#: sigmas: the difference of two runs has sigma * sqrt(2), and 3 sigma is 2.1 of those.
SEED_SPREADS = 3.0


def disagreements(
    expected: Mapping[str, float | None],
    found: Mapping[str, float | None],
    tolerance: float = SCORE_TOLERANCE,
    spread: Mapping[str, float | None] | None = None,
) -> list[str]:
    """The names whose values differ by more than ``tolerance`` (or are a number on one side
    only), each with both values. ``spread``: name -> the value's standard deviation over seeds,
    which widens its tolerance to :data:`SEED_SPREADS` of it where that is larger."""
    out = []
    for name in sorted(set(expected) | set(found)):
        a, b = expected.get(name), found.get(name)
        if a is None and b is None:
            continue
        limit = max(tolerance, SEED_SPREADS * ((spread or {}).get(name) or 0.0))
        if a is None or b is None or abs(a - b) > limit:
            out.append(f"{name}: {a} != {b}")
    return out


def machine() -> dict[str, Any]:
    """What a run's bits depend on: the CPU model and architecture, the kernels torch dispatches
    to (``AVX512``, ``AVX2``, ...), its compute threads, its version, and the GPU if one is used."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": _cpu_model(),
        "architecture": platform.machine(),
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gpu": gpu,
    }


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return platform.processor() or "unknown"
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor() or "unknown",
    )


def code_commit() -> str | None:
    """The commit of the medforget code that ran, with ``-dirty`` when tracked files differ from
    it; None outside a git checkout (an installed wheel)."""
    here = Path(medforget.__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=here)
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "."], capture_output=True, check=False, cwd=here
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    commit = head.stdout.strip()
    return (commit + ("-dirty" if dirty.returncode == 1 else "")) if commit else None
