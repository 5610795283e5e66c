"""``medforget sweep``: every method at every level, each unlearned and evaluated, in one process.

A track's table and its leaderboard need a model per method and level and an evaluation of
each, plus the reference rows: the target model and the level's retain model. Run as separate
commands, every one of them pays for importing torch and transformers again (about 12 s here);
one process pays once. Each step is the same function the single commands call
(:func:`medforget.unlearning.run.unlearn`, :func:`medforget.evaluators.run.evaluate`), and each
model is evaluated as saved, read back from disk. Layout::

    MODELS/<method>-<level>/   the unlearned model (as `medforget unlearn --out`)
    RUNS/target/<level>/       the target's eval run, the others' `--before`
    RUNS/retain/<level>/       the retain model's
    RUNS/<method>/<level>/     each unlearned model's
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medforget.errors import ConfigError


@dataclass(frozen=True)
class Sweep:
    """What to run.

    Attributes:
        retain: the retain models' path with ``{level}`` in it (``models/tiny/retain-{level}``),
            each evaluated as a reference row, and its run the reference of every unlearned
            model's PrivLeak, forget quality and normalised numbers; None: no retain rows.
    """

    dataset: Path
    target: Path
    methods: tuple[str, ...]
    levels: tuple[str, ...]
    models: Path
    runs: Path
    retain: str | None = None
    track: str = "model"
    seed: int = 0
    threads: int | None = None
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.retain is not None and "{level}" not in self.retain:
            raise ConfigError(
                f"--retain {self.retain!r}: a retain model is trained without one level's forget "
                "split; write the path with {level} in it (e.g. models/tiny/retain-{level})"
            )


def sweep(plan: Sweep, say: Callable[[str], None] = print) -> list[Path]:
    """Run ``plan``; the eval runs written, reference rows first at each level."""
    import torch

    from medforget.dataset import read_manifest
    from medforget.evaluators.run import evaluate
    from medforget.models.adapters import TransformersAdapter
    from medforget.unlearning.run import method_for, unlearn

    levels = list(read_manifest(plan.dataset).targets)
    unknown = [level for level in plan.levels if level not in levels]
    if unknown:
        raise ConfigError(f"{plan.dataset} has no level {', '.join(unknown)}; its levels are {', '.join(levels)}")
    methods = {name: method_for(name, {}, plan.track) for name in plan.methods}  # bad names fail before any work
    if plan.threads:
        torch.set_num_threads(plan.threads)

    def model(path: Path) -> TransformersAdapter:
        return TransformersAdapter(path, batch_size=plan.batch_size)

    def run(adapter: TransformersAdapter, level: str, name: str, before: Path | None, retain: Path | None) -> Path:
        start = time.perf_counter()
        out = plan.runs / name / level
        evaluate(plan.dataset, level, adapter, out, method=name, before=before, retain=retain)
        say(f"{level} {name}: evaluated in {time.perf_counter() - start:.0f}s -> {out}")
        return out

    target = model(plan.target)
    written: list[Path] = []
    for level in plan.levels:
        before = run(target, level, "target", None, None)
        written.append(before)
        retain = (
            run(model(Path(plan.retain.format(level=level))), level, "retain", before, None) if plan.retain else None
        )
        written += [retain] if retain else []
        for name, method in methods.items():
            out = plan.models / f"{name}-{level}"
            record = unlearn(method, level, plan.target, plan.dataset, out, seed=plan.seed, threads=plan.threads)
            say(f"{level} {name}: unlearned in {record['seconds']:.0f}s -> {out}")
            written.append(run(model(out), level, name, before, retain))
    return written
