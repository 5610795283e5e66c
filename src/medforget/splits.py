"""Splits, per docs/benchmark.md section 4: choose holdout patients and targets, then assign rows.

For a level L with targets T (one config per level below the top one, see
``Hierarchy.target_levels``):

- ``forget``: rows whose fact belongs to a node in the subtree of T;
- ``retain_sibling``: rows of the subtrees of T's siblings (same parent), less targets and holdout;
- ``shared_ancestor``: rows of T's ancestors, asked with images outside T's subtree or with
  no image (rows of an ancestor asked with an image of T's subtree belong to no split of L);
- ``retain_other``: every other trained row;
- ``holdout``: rows of held-out patients' subtrees, never trained on;
- ``forget_rephrased`` / ``retain_rephrased``: rephrased twins of forget / retain rows.

An image belongs to the node that owns it (a study), so it is inside T's subtree exactly when
its owner is. At the section level no image is, since images sit at the study level.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from medforget.config import BuildConfig
from medforget.errors import BuildError
from medforget.hierarchy import LEVEL_SPLITS, Hierarchy, Image, QAItem, SplitAssignment, stable_int

SPLITS_VERSION = "1.0.0"
HOLDOUT_LEVEL = "patient"
RETAIN_SPLITS = ("retain_sibling", "retain_other", "shared_ancestor")
TRAIN_CONFIG, UTILITY_CONFIG = "train", "utility"


@dataclass(frozen=True)
class SplitPlan:
    """Holdout patients and unlearning targets, chosen before any question is written."""

    holdout: frozenset[str]  # every node in a held-out patient's subtree
    targets: Mapping[str, tuple[str, ...]]  # level -> target node ids
    forget: Mapping[str, frozenset[str]]  # level -> nodes in the targets' subtrees

    @cached_property
    def protected(self) -> frozenset[str]:
        """Nodes whose values may never appear as distractors: any forget subtree, holdout."""
        return frozenset().union(self.holdout, *self.forget.values())


def plan_splits(hierarchy: Hierarchy, config: BuildConfig) -> SplitPlan:
    """Choose targets above the holdout level, then holdout patients outside their subtrees
    (a target's subtree is forgotten whole), then the targets of the lower levels."""
    rng = random.Random(stable_int(str(config.seed), "split-plan"))
    depth = hierarchy.levels.index(HOLDOUT_LEVEL)
    upper = [lv for lv in hierarchy.target_levels if hierarchy.levels.index(lv) < depth]
    targets = {level: _choose_targets(hierarchy, level, frozenset(), config, rng) for level in upper}
    excluded = {n.id for ids in targets.values() for t in ids for n in hierarchy.subtree(t)}
    holdout = _choose_holdout(hierarchy, excluded, config, rng)
    for level in hierarchy.target_levels:
        if level not in targets:
            targets[level] = _choose_targets(hierarchy, level, holdout, config, rng)
    forget = {level: frozenset(n.id for t in ids for n in hierarchy.subtree(t)) for level, ids in targets.items()}
    return SplitPlan(holdout=holdout, targets=targets, forget=forget)


def _choose_holdout(
    hierarchy: Hierarchy, excluded: set[str], config: BuildConfig, rng: random.Random
) -> frozenset[str]:
    """Held-out patients outside ``excluded``; every parent keeps at least one trained patient."""
    candidates = [p for p in hierarchy.at_level(HOLDOUT_LEVEL) if p.id not in excluded]
    rng.shuffle(candidates)
    left = {p.parent_id: len(hierarchy.children(p.parent_id)) for p in candidates}
    chosen: list[str] = []
    for patient in candidates:
        if len(chosen) == config.n_holdout_patients:
            break
        if left[patient.parent_id] > 1:
            left[patient.parent_id] -= 1
            chosen.append(patient.id)
    if len(chosen) < config.n_holdout_patients:
        raise BuildError(
            f"only {len(chosen)} of {config.n_holdout_patients} holdout patients can be chosen outside the "
            "targets while every institution keeps a trained patient; lower n_holdout_patients or raise n_patients"
        )
    return frozenset(n.id for p in chosen for n in hierarchy.subtree(p))


def _choose_targets(
    hierarchy: Hierarchy, level: str, holdout: frozenset[str], config: BuildConfig, rng: random.Random
) -> tuple[str, ...]:
    """Seeded targets at ``level``, each keeping at least one trained, non-target sibling."""
    wanted = config.targets_per_level.get(level)
    if wanted is None:
        raise BuildError(
            f"targets_per_level names no count for level {level!r}; give one for each of {hierarchy.target_levels}"
        )
    candidates = [n.id for n in hierarchy.at_level(level) if n.id not in holdout]
    rng.shuffle(candidates)
    chosen: list[str] = []
    for node_id in candidates:
        trial = set(chosen) | {node_id}
        if all(_free_siblings(hierarchy, t, trial | holdout) for t in trial):
            chosen.append(node_id)
        if len(chosen) == wanted:
            return tuple(sorted(chosen))
    raise BuildError(
        f"cannot choose {wanted} {level} targets that each keep a trained sibling; "
        "lower targets_per_level or build a larger preset"
    )


def _free_siblings(hierarchy: Hierarchy, node_id: str, taken: set[str] | frozenset[str]) -> list[str]:
    return [s.id for s in hierarchy.siblings(node_id) if s.id not in taken]


@dataclass(frozen=True)
class LevelRoles:
    """Which nodes play which role for one level's targets."""

    forget: frozenset[str]
    sibling: frozenset[str]
    ancestor: frozenset[str]
    holdout: frozenset[str]

    @classmethod
    def of(cls, hierarchy: Hierarchy, plan: SplitPlan, level: str) -> LevelRoles:
        forget = plan.forget[level]
        targets = plan.targets[level]
        sibling_roots = {s for t in targets for s in _free_siblings(hierarchy, t, set(targets))}
        sibling = {n.id for s in sibling_roots for n in hierarchy.subtree(s)} - forget - plan.holdout
        ancestor = {a.id for t in targets for a in hierarchy.ancestors(t)} - forget
        return cls(forget, frozenset(sibling), frozenset(ancestor), plan.holdout)

    def split_of(self, item: QAItem, image_owner: Mapping[str, str]) -> str | None:
        """The split of an original (not rephrased) row, or None when it has no place."""
        node = item.node_id or ""
        if node in self.holdout:
            return "holdout"
        if node in self.forget:
            return "forget"
        if node in self.sibling:
            return "retain_sibling"
        if node in self.ancestor:
            inside = item.image_id is not None and image_owner[item.image_id] in self.forget
            return None if inside else "shared_ancestor"
        return "retain_other"


def assign_splits(
    hierarchy: Hierarchy, plan: SplitPlan, items: Sequence[QAItem], images: Iterable[Image]
) -> tuple[SplitAssignment, ...]:
    """Every row's place: one config per target level, plus ``train`` and ``utility``."""
    return tuple(
        SplitAssignment(config, split, qa_id)
        for config, splits in _split_ids(hierarchy, plan, items, images).items()
        for split, ids in splits.items()
        for qa_id in ids
    )


def group_assignments(assignments: Iterable[SplitAssignment]) -> dict[str, dict[str, list[str]]]:
    """QA ids per config and split, in assignment order."""
    grouped: dict[str, dict[str, list[str]]] = {}
    for a in assignments:
        grouped.setdefault(a.config, {}).setdefault(a.split, []).append(a.qa_id)
    return grouped


def _split_ids(
    hierarchy: Hierarchy, plan: SplitPlan, items: Sequence[QAItem], images: Iterable[Image]
) -> dict[str, dict[str, list[str]]]:
    owner = {image.id: image.owner_id for image in images}
    originals = [q for q in items if q.rephrased_of is None and q.level is not None]
    rephrased = [q for q in items if q.rephrased_of is not None]
    configs: dict[str, dict[str, list[str]]] = {}
    for level in hierarchy.target_levels:
        roles = LevelRoles.of(hierarchy, plan, level)
        splits: dict[str, list[str]] = {name: [] for name in LEVEL_SPLITS}
        split_of_id: dict[str, str] = {}
        for item in originals:
            split = roles.split_of(item, owner)
            if split is not None:
                splits[split].append(item.id)
                split_of_id[item.id] = split
        for item in rephrased:
            source = split_of_id.get(item.rephrased_of or "")
            if source == "forget":
                splits["forget_rephrased"].append(item.id)
            elif source in RETAIN_SPLITS:
                splits["retain_rephrased"].append(item.id)
        configs[level] = splits
    configs[TRAIN_CONFIG] = {"train": [q.id for q in originals if q.node_id not in plan.holdout]}
    configs[UTILITY_CONFIG] = {"test": [q.id for q in items if q.level is None]}
    return configs


def rephrase_selection(
    hierarchy: Hierarchy, plan: SplitPlan, facts: Mapping[str, str], config: BuildConfig
) -> frozenset[str]:
    """Fact ids that get rephrased twins: per level, forget facts and as many retain facts.

    ``facts`` maps fact id -> node id. Forget facts are sampled down to the per-level cap;
    the retain sample takes half from sibling facts and the rest from other retain facts.
    """
    chosen: set[str] = set()
    cap = config.rephrase_facts_per_level
    ordered = sorted(facts)
    for level in hierarchy.target_levels:
        roles = LevelRoles.of(hierarchy, plan, level)
        rng = random.Random(stable_int(str(config.seed), "rephrase", level))
        forget = [f for f in ordered if facts[f] in roles.forget]
        sibling = [f for f in ordered if facts[f] in roles.sibling]
        not_other = roles.forget | roles.sibling | roles.holdout
        other = [f for f in ordered if facts[f] not in not_other]
        picked = _sample(rng, forget, cap)
        from_siblings = _sample(rng, sibling, (len(picked) + 1) // 2)
        chosen.update(picked, from_siblings, _sample(rng, other, len(picked) - len(from_siblings)))
    return frozenset(chosen)


def _sample(rng: random.Random, population: list[str], k: int) -> list[str]:
    return rng.sample(population, min(k, len(population)))
