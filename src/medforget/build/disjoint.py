"""A base corpus shares nothing with its benchmark: no study (by source key), no report (its
sentences as a whole), no sentence, no image (byte-identical or a near-duplicate) and no identity
with the benchmark build's hierarchy, holdout and utility included.

Run when a build with ``exclude`` ends (nothing is written when it fails) and when a model is
fine-tuned from a base (``medforget train --base``). Perceptual hashes are computed from the
pixels of both builds: neither manifest vouches for its own images.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medforget.builders.exclusion import footprint
from medforget.dataset import read_manifest
from medforget.errors import MedForgetError

_EXAMPLES = 3


class DisjointnessError(MedForgetError):
    """A base corpus shares something with the benchmark it must be kept apart from."""


@dataclass(frozen=True)
class Shared:
    """One kind of thing both builds hold."""

    what: str  # "study", "report", "sentence", "image", "near-duplicate image", "identity"
    count: int
    examples: tuple[str, ...]

    def line(self) -> str:
        what = _PLURAL.get(self.what, f"{self.what}s") if self.count != 1 else self.what
        return f"{self.count} shared {what}, e.g. {'; '.join(self.examples)}"


_PLURAL = {"study": "studies", "identity": "identities"}


def shared(base: Path, benchmark: Path, source_options: Mapping[str, Any]) -> list[Shared]:
    """Everything ``base`` shares with ``benchmark``; empty when they are disjoint. Both sources
    are re-read with ``source_options`` (local paths; ``exclude`` is set to ``benchmark`` for the
    base, as it was built)."""
    own = {key: value for key, value in source_options.items() if key != "exclude"}
    theirs = footprint(benchmark, own)
    ours = footprint(base, {**own, "exclude": benchmark})
    found = [
        _found("study", sorted(ours.study_keys & theirs.study_keys)),
        _found(
            "report",
            [f"{ours.reports[r]} = {theirs.reports[r]}" for r in sorted(ours.reports.keys() & theirs.reports.keys())],
        ),
        _found(
            "sentence",
            [
                f"{s!r} ({ours.sentences[s]}, {theirs.sentences[s]})"
                for s in sorted(ours.sentences.keys() & theirs.sentences.keys())
            ],
        ),
        _found(
            "identity",
            [f"{kind} {value!r}" for kind, value in sorted(ours.identities.keys() & theirs.identities.keys())],
        ),
        *_images(base, benchmark),
    ]
    return [item for item in found if item.count]


def check_disjoint(base: Path, benchmark: Path, source_options: Mapping[str, Any], name: str | None = None) -> None:
    """Raise :class:`DisjointnessError` listing what ``base`` (shown as ``name``) shares with ``benchmark``."""
    found = shared(base, benchmark, source_options)
    if found:
        raise DisjointnessError(
            f"the base corpus {name or base} is not disjoint from {benchmark}:\n"
            + "\n".join(f"  {item.line()}" for item in found)
        )


def _found(what: str, items: list[str]) -> Shared:
    return Shared(what, len(items), tuple(items[:_EXAMPLES]))


def _images(base: Path, benchmark: Path) -> Iterator[Shared]:
    from medforget.images.neardup import near_duplicates
    from medforget.schemas.tables import ImageRegistry, read_split

    registry = ImageRegistry()  # no known hashes: computed from the pixels

    def keys(folder: Path) -> dict[int, str]:
        out: dict[int, str] = {}
        for shard in read_manifest(folder).shards:
            table = read_split([folder / shard.path], registry)
            for key, image in zip(table.column("image_key").to_pylist(), table.column("image_id").to_pylist()):
                if key >= 0:
                    out.setdefault(key, image)
        return out

    ours, theirs = keys(base), keys(benchmark)
    duplicates = near_duplicates(list(theirs), list(ours), registry.phash, registry.data)
    exact = sorted(f"{ours[k]} = {theirs[v]}" for k, v in duplicates.items() if k == v)
    near = sorted(f"{ours[k]} ~ {theirs[v]}" for k, v in duplicates.items() if k != v)
    yield _found("image", exact)
    yield _found("near-duplicate image", near)
