"""The build: ingest -> images -> splits plan -> QA -> split assignment -> export, each versioned.

Everything is written to a temporary folder beside the output and moved into place only when
complete, so a failed build never leaves a dataset that looks whole.
"""

from __future__ import annotations

import logging
import platform
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from tqdm import tqdm

import medforget
from medforget.build.card import CARD_VERSION, dataset_card
from medforget.build.croissant import CROISSANT_FILE, CROISSANT_VERSION, croissant
from medforget.build.disjoint import check_disjoint
from medforget.build.export import EXPORT_VERSION, ShardWriter
from medforget.builders import BUILDERS, SkipLog
from medforget.builders.base import Builder, SourceData
from medforget.builders.findings import FINDINGS_VERSION, describe
from medforget.builders.identities import IDENTITIES_VERSION
from medforget.config import BuildConfig
from medforget.dataset import (
    MANIFEST_SCHEMA_VERSION,
    HierarchySummary,
    ImageEntry,
    ImagesSummary,
    Manifest,
    Shard,
    Source,
    SplitCounts,
    local_only,
)
from medforget.errors import BuildError
from medforget.hierarchy import LEVEL_SPLITS, Hierarchy, Image, QAItem, SplitAssignment, StudyImagePlan
from medforget.images.make import IMAGES_VERSION, make_images, utility_profiles
from medforget.images.render import RENDER_VERSION
from medforget.llm.data_use import LOOPBACK_ONLY, DataUse
from medforget.outputs import check_replaceable, folder_in_place, write_json
from medforget.qa.base import qa_generator
from medforget.qa.generate import QA_VERSION
from medforget.qa.templates import TEMPLATES_VERSION
from medforget.qa.truth import TRUTH_VERSION
from medforget.qa.utility import utility_items
from medforget.records import to_json
from medforget.schemas.checks import ValueGuard, ownership_sha256, ownership_sources
from medforget.schemas.validate import LeakError, validate_folder
from medforget.splits import (
    HOLDOUT_LEVEL,
    SPLITS_VERSION,
    SplitPlan,
    assign_splits,
    group_assignments,
    plan_splits,
)

logger = logging.getLogger(__name__)

DATASET_NAME = "MedForget"


@dataclass
class BuildResult:
    out: Path
    manifest: Manifest
    timings: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[step] = time.perf_counter() - start
    logger.info("%s done in %.2fs", step, timings[step])


@dataclass
class Prepared:
    """Everything a build decides, in memory, before anything is written."""

    config: BuildConfig
    builder: Builder
    hierarchy: Hierarchy
    images: list[Image]
    plan: SplitPlan
    items: list[QAItem]
    assignments: tuple[SplitAssignment, ...]
    skips: SkipLog
    #: what the QA generator reports for the manifest (LLM QA: model, prompts, calls, cache hits, fallbacks)
    llm: dict[str, Any] | None = None

    @property
    def configs(self) -> dict[str, dict[str, list[str]]]:
        """QA ids per config and split."""
        return group_assignments(self.assignments)


def ingest(
    config: BuildConfig, skips: SkipLog, timings: dict[str, float], num_proc: int = 1
) -> tuple[Builder, SourceData]:
    """The source's hierarchy and image plans."""
    builder = BUILDERS.get(config.source)(config, skips, num_proc)
    with _timed(timings, "ingest"):
        return builder, builder.load()


def image_plans(data: SourceData, utility: Sequence[tuple[str, tuple[str, ...]]]) -> list[StudyImagePlan]:
    """Every image a build makes: the source's, then the utility images (``utility_profiles``),
    each on its own anatomy."""
    return [*data.images, *(StudyImagePlan(owner, owner, findings) for owner, findings in utility)]


def prepare(
    config: BuildConfig,
    policy: str = "skip",
    timings: dict[str, float] | None = None,
    num_proc: int = 1,
    made: Mapping[str, Image] | None = None,
    data_use: DataUse = LOOPBACK_ONLY,
) -> Prepared:
    """Run every step up to the split assignment, images over ``num_proc`` processes; ``made``
    holds images made beforehand by owner id (``medforget merge``: the parts' images). LLM QA
    on a source whose licence keeps its text here needs a local endpoint, or what ``data_use``
    allows (:mod:`medforget.llm.data_use`)."""
    timings = {} if timings is None else timings
    if config.llm is not None:  # before any work: may the source's text go to this endpoint?
        source = BUILDERS.get(config.source)
        data_use.check(
            config.llm.endpoint.base_url, local_only([(source.name, source.licence)]), "report text for LLM QA"
        )
    skips = SkipLog(policy)
    builder, data = ingest(config, skips, timings, num_proc)
    with _timed(timings, "images"):
        profiles = utility_profiles(config, data.spare_findings)
        plans = image_plans(data, profiles)
        images = make_images(plans, config, builder.name, num_proc) if made is None else _take(plans, made)
    with _timed(timings, "qa"):
        plan = plan_splits(data.hierarchy, config)
        qa = qa_generator(config)
        items = qa.generate(data.hierarchy, images, plan, skips)
        items += utility_items(profiles, images, _outside_forget(data.hierarchy, items, plan, profiles))
        _check_unique(items)
    with _timed(timings, "splits"):
        assignments = assign_splits(data.hierarchy, plan, items, images)
    prepared = Prepared(config, builder, data.hierarchy, images, plan, items, assignments, skips, qa.record())
    _check_no_empty_split(prepared)
    return prepared


def _outside_forget(
    hierarchy: Hierarchy, items: Sequence[QAItem], plan: SplitPlan, profiles: Sequence[tuple[str, tuple[str, ...]]]
) -> Callable[[str], bool]:
    """Whether a text shows no value only a forget node has: the value_leak check's own rule,
    on the hierarchy's rows, for rows made outside the hierarchy (utility)."""
    owned = [
        (item.node_id, item.answer)
        for item in items
        if item.task == "generation" and item.rephrased_of is None and item.node_id is not None
    ]
    answers = {describe(findings) for _, findings in profiles} | {"yes", "no"}
    return ValueGuard.of(owned, lambda node: [a.id for a in hierarchy.ancestors(node)], plan.targets, answers).allows


def _take(plans: Sequence[StudyImagePlan], made: Mapping[str, Image]) -> list[Image]:
    """The images made beforehand, in plan order; every plan must have one, and nothing else."""
    owners = [plan.study_id for plan in plans]
    missing, extra = [o for o in owners if o not in made], sorted(set(made) - set(owners))
    if missing or extra:
        raise BuildError(
            f"the images made beforehand do not match the source: {len(missing)} missing "
            f"(e.g. {missing[:3]}), {len(extra)} not in it (e.g. {extra[:3]}); did the source change?"
        )
    return [made[owner] for owner in owners]


def build(
    config: BuildConfig,
    out: Path,
    policy: str = "skip",
    num_proc: int = 1,
    made: Mapping[str, Image] | None = None,
    data_use: DataUse = LOOPBACK_ONLY,
) -> BuildResult:
    """Build the dataset described by ``config`` into ``out`` (replacing a previous build there),
    its images made over ``num_proc`` processes (the same bytes for any number), or taken from
    ``made`` (see :func:`prepare`, and for ``data_use``)."""
    check_replaceable(out)  # before the work, not only when it is done
    timings: dict[str, float] = {}
    prepared = prepare(config, policy, timings, num_proc, made, data_use)
    manifest = export(prepared, out, timings)
    return BuildResult(out=out, manifest=manifest, timings=timings)


def export(prepared: Prepared, out: Path, timings: dict[str, float] | None = None) -> Manifest:
    """Write shards and manifest to a temporary folder, run the leak checks on it, write the
    Croissant metadata and the card from the manifest and the checks' report, and move the
    folder into place only when every check passes."""
    timings = {} if timings is None else timings
    with folder_in_place(out) as tmp:
        with _timed(timings, "export"):
            writer = ShardWriter(tmp, prepared.items, prepared.images, prepared.config.max_rows_per_shard)
            parts = [(name, split, ids) for name, splits in prepared.configs.items() for split, ids in splits.items()]
            shards = [
                shard
                for name, split, ids in tqdm(parts, desc="export", unit="split", leave=False)
                for shard in writer.write(name, split, ids)
            ]
            manifest = _manifest(prepared, shards)
            write_json(tmp / "manifest.json", to_json(manifest))
        with _timed(timings, "validate"):
            report = validate_folder(tmp, name=str(out))
        if not report.passed:
            raise LeakError(
                "the build fails its leak checks; nothing was written to {}:\n{}".format(out, "\n".join(report.lines()))
            )
        exclude = prepared.config.source_options.get("exclude")
        if exclude is not None:  # a base corpus: proven apart from its benchmark before it is kept
            with _timed(timings, "disjoint"):
                check_disjoint(tmp, Path(exclude), prepared.config.source_options, f"{out} (nothing was written)")
        write_json(tmp / CROISSANT_FILE, croissant(manifest))
        (tmp / "README.md").write_text(dataset_card(manifest, report.to_json()), encoding="utf-8")
    return manifest


def _ownership(prepared: Prepared, levels: list[str]) -> str:
    """Who owns which value, from the build's own items (the leak checks compare the rows to it)."""
    configs = prepared.configs
    items = {item.id: item for item in prepared.items}
    pairs = [
        (items[i].node_id, items[i].answer)
        for config, split in ownership_sources(levels)
        for i in configs.get(config, {}).get(split, ())
        if items[i].task == "generation" and items[i].rephrased_of is None
    ]
    return ownership_sha256(pairs)


def _check_unique(items: Sequence[QAItem]) -> None:
    duplicates = [i for i, n in Counter(item.id for item in items).items() if n > 1]
    if duplicates:
        raise BuildError(f"{len(duplicates)} QA ids are not unique, e.g. {duplicates[:5]}: a bug in QA ids")


def _check_no_empty_split(prepared: Prepared) -> None:
    """Every level config needs all seven splits: ``datasets`` cannot load an empty one."""
    configs = prepared.configs
    empty = [
        f"{level}/{split}"
        for level in prepared.hierarchy.target_levels
        for split in LEVEL_SPLITS
        if not configs.get(level, {}).get(split)
    ]
    if empty:
        raise BuildError(f"these splits came out empty: {', '.join(empty)}; build a larger preset or raise the targets")


def _counts(items: dict[str, QAItem], ids: Sequence[str]) -> SplitCounts:
    rows = [items[i] for i in ids]
    return SplitCounts(
        rows=len(rows),
        by_task=dict(sorted(Counter(r.task for r in rows).items())),
        by_modality=dict(sorted(Counter(r.modality for r in rows).items())),
        by_level=dict(sorted(Counter(r.level or "none" for r in rows).items())),
    )


def _manifest(prepared: Prepared, shards: Sequence[Shard]) -> Manifest:
    config, builder, hierarchy, plan = prepared.config, prepared.builder, prepared.hierarchy, prepared.plan
    by_id = {item.id: item for item in prepared.items}
    return Manifest(
        schema_version=MANIFEST_SCHEMA_VERSION,
        name=DATASET_NAME,
        medforget_version=medforget.__version__,
        preset=config.preset,
        seed=config.seed,
        config=config.to_record(),
        steps={
            "ingest": {"source": builder.name, "version": builder.version},
            "identities": IDENTITIES_VERSION,
            "findings": FINDINGS_VERSION,
            "images": IMAGES_VERSION,
            "render": RENDER_VERSION,
            "qa": QA_VERSION,
            "templates": TEMPLATES_VERSION,
            "truth": TRUTH_VERSION,
            "splits": SPLITS_VERSION,
            "export": EXPORT_VERSION,
            "card": CARD_VERSION,
            "croissant": CROISSANT_VERSION,
        },
        software={
            "python": platform.python_version(),
            **{name: package_version(name) for name in ("datasets", "pyarrow", "pillow", "numpy", "faker")},
        },
        sources=(
            Source(
                name=builder.name,
                description=builder.description,
                licence=builder.licence,
                citation=builder.citation,
                archive_sha256=builder.fingerprint(),
                provenance=None if builder.provenance is None else dict(builder.provenance),
            ),
        ),
        hierarchy=HierarchySummary(
            levels=hierarchy.levels, nodes={level: len(hierarchy.at_level(level)) for level in hierarchy.levels}
        ),
        targets={level: tuple(ids) for level, ids in plan.targets.items()},
        ownership_sha256=_ownership(prepared, list(plan.targets)),
        holdout_patients=tuple(sorted(n for n in plan.holdout if hierarchy.nodes[n].level == HOLDOUT_LEVEL)),
        images=ImagesSummary(
            count=len(prepared.images),
            by_origin=dict(sorted(Counter(i.origin for i in prepared.images).items())),
            index=tuple(
                ImageEntry(i.id, i.owner_id, i.sha256, i.phash) for i in sorted(prepared.images, key=lambda i: i.id)
            ),
        ),
        total_qa_rows=len(prepared.items),
        counts={
            name: {split: _counts(by_id, ids) for split, ids in splits.items()}
            for name, splits in prepared.configs.items()
        },
        shards=tuple(shards),
        skipped=prepared.skips.entries(),
        llm=prepared.llm,
    )
