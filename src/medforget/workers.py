"""Work spread out: over processes on one machine (``--num-proc N``) and over independent jobs
(``--shard i/n``, one per array task of a cluster, merged by ``medforget merge``).

Both split only work whose result depends on its item alone (an image is a function of its plan
and the config), so the dataset is the same however the work was spread.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from tqdm import tqdm

from medforget.errors import ConfigError
from medforget.hierarchy import stable_int

T = TypeVar("T")
R = TypeVar("R")
_SHARD = re.compile(r"^(\d+)/(\d+)$")
PRELOAD = ["medforget.images.make", "medforget.builders"]


def check_num_proc(num_proc: int) -> int:
    if num_proc < 1:
        raise ConfigError(f"--num-proc must be >= 1, got {num_proc}")
    return num_proc


def pmap(fn: Callable[[T], R], items: Sequence[T], num_proc: int = 1, desc: str = "", unit: str = "it") -> list[R]:
    """``[fn(item) for item in items]``, in order, in this process or in ``num_proc`` worker
    processes (``fn`` and the items must pickle). An error in a worker is raised here, as is."""
    check_num_proc(num_proc)
    if num_proc == 1 or len(items) < 2:
        return [fn(item) for item in tqdm(items, desc=desc, unit=unit, leave=False)]
    # forkserver: workers start clean, whatever threads this process runs (progress bars, clients);
    # the server imports the image and source code once, so each worker starts in milliseconds
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    chunk = max(1, len(items) // (num_proc * 8))
    with ProcessPoolExecutor(max_workers=num_proc, mp_context=context) as pool:
        return list(tqdm(pool.map(fn, items, chunksize=chunk), total=len(items), desc=desc, unit=unit, leave=False))


@dataclass(frozen=True)
class ShardSpec:
    """Part ``index`` of ``count`` (``--shard i/n``, 0-based): which items this job works on."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ConfigError(f"--shard {self}: need 0 <= i < n")

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        match = _SHARD.match(text.strip())
        if match is None:
            raise ConfigError(f"--shard takes i/n (part i of n, counted from 0), e.g. 0/4; got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def owns(self, key: str) -> bool:
        """Whether the item with this stable key (an image's owner id) is this part's: a hash, so
        parts are balanced and independent of the order a source lists its items in."""
        return stable_int("shard", key) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
