"""Split semantics on the tiny build, per docs/benchmark.md section 4."""

from __future__ import annotations

import pytest

from medforget.build.pipeline import Prepared
from medforget.hierarchy import LEVEL_SPLITS
from medforget.splits import RETAIN_SPLITS, LevelRoles

LEVELS = ("institution", "patient", "study", "section")


@pytest.fixture(scope="module")
def by_id(tiny: Prepared):
    return {item.id: item for item in tiny.items}


@pytest.fixture(scope="module")
def owner(tiny: Prepared):
    return {image.id: image.owner_id for image in tiny.images}


def subtree(tiny: Prepared, level: str) -> set[str]:
    return {n.id for t in tiny.plan.targets[level] for n in tiny.hierarchy.subtree(t)}


def test_configs_and_splits(tiny: Prepared):
    assert list(tiny.configs) == [*LEVELS, "train", "utility"]
    for level in LEVELS:
        assert list(tiny.configs[level]) == list(LEVEL_SPLITS)
        assert all(tiny.configs[level][split] for split in LEVEL_SPLITS), level


@pytest.mark.parametrize("level", LEVELS)
def test_every_row_in_exactly_one_split(tiny: Prepared, level: str):
    ids = [i for split in tiny.configs[level].values() for i in split]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("level", LEVELS)
def test_forget_is_exactly_the_targets_subtrees(tiny: Prepared, by_id, level: str):
    forget_nodes = subtree(tiny, level)
    forget = {by_id[i].node_id for i in tiny.configs[level]["forget"]}
    assert forget <= forget_nodes
    # subtree closure: every descendant that has facts is in forget
    with_facts = {item.node_id for item in tiny.items if item.rephrased_of is None}
    assert forget == forget_nodes & with_facts


@pytest.mark.parametrize("level", LEVELS)
def test_siblings_land_in_retain_sibling(tiny: Prepared, by_id, level: str):
    targets = set(tiny.plan.targets[level])
    siblings = {s.id for t in targets for s in tiny.hierarchy.siblings(t)} - targets - tiny.plan.holdout
    sibling_rows = {by_id[i].node_id for i in tiny.configs[level]["retain_sibling"]}
    assert siblings and siblings <= sibling_rows
    for node_id in sibling_rows:  # every retain_sibling row lies under a sibling of a target
        lineage = {node_id, *(a.id for a in tiny.hierarchy.ancestors(node_id))}
        assert lineage & siblings
    for target in targets:  # every target keeps a sibling with rows
        assert {s.id for s in tiny.hierarchy.siblings(target)} & sibling_rows


@pytest.mark.parametrize("level", LEVELS)
def test_shared_ancestor_rows_use_no_forget_image(tiny: Prepared, by_id, owner, level: str):
    forget_nodes = subtree(tiny, level)
    ancestors = {a.id for t in tiny.plan.targets[level] for a in tiny.hierarchy.ancestors(t)}
    for i in tiny.configs[level]["shared_ancestor"]:
        item = by_id[i]
        assert item.node_id in ancestors
        assert item.image_id is None or owner[item.image_id] not in forget_nodes


@pytest.mark.parametrize("level", LEVELS)
def test_no_forget_image_outside_forget(tiny: Prepared, by_id, owner, level: str):
    forget_nodes = subtree(tiny, level)
    for split in ("retain_sibling", "retain_other", "shared_ancestor", "holdout", "retain_rephrased"):
        for i in tiny.configs[level][split]:
            image = by_id[i].image_id
            assert image is None or owner[image] not in forget_nodes, (split, i)


def test_holdout_never_in_train(tiny: Prepared, by_id, owner):
    train = tiny.configs["train"]["train"]
    assert not {by_id[i].node_id for i in train} & tiny.plan.holdout
    assert not {owner[by_id[i].image_id] for i in train if by_id[i].image_id} & tiny.plan.holdout
    holdout_rows = set(tiny.configs["patient"]["holdout"])
    assert holdout_rows and all(set(tiny.configs[lv]["holdout"]) == holdout_rows for lv in LEVELS)


def test_train_holds_every_trained_original_row(tiny: Prepared, by_id):
    train = set(tiny.configs["train"]["train"])
    for level in LEVELS:
        for split in ("forget", *RETAIN_SPLITS):
            assert set(tiny.configs[level][split]) <= train
        assert not set(tiny.configs[level]["forget_rephrased"]) & train


@pytest.mark.parametrize("level", LEVELS)
def test_rephrased_rows_point_at_their_source(tiny: Prepared, by_id, level: str):
    splits = tiny.configs[level]
    retain = {i for s in RETAIN_SPLITS for i in splits[s]}
    for name, sources in (("forget_rephrased", set(splits["forget"])), ("retain_rephrased", retain)):
        for i in splits[name]:
            item, source = by_id[i], by_id[by_id[i].rephrased_of]
            assert source.id in sources
            assert (item.fact_id, item.task, item.modality, item.answer) == (
                source.fact_id,
                source.task,
                source.modality,
                source.answer,
            )
            assert item.question != source.question


def test_distractors_never_come_from_forget_or_holdout_nodes(tiny: Prepared):
    protected = tiny.plan.protected
    protected_values = {(n.level, a.name): set() for n in tiny.hierarchy.nodes.values() for a in n.attributes}
    for node in tiny.hierarchy.nodes.values():
        for attr in node.attributes:
            protected_values[(node.level, attr.name)].add(attr.value) if node.id in protected else None
    unprotected_values = {
        (n.level, a.name, a.value) for n in tiny.hierarchy.nodes.values() if n.id not in protected for a in n.attributes
    }
    for item in tiny.items:
        if item.task != "classification" or item.level is None:
            continue
        answer = item.options["ABCD".index(item.answer)]
        for option in item.options:
            if option == answer:
                continue
            only_protected = option in protected_values[(item.level, item.attribute)] and (
                (item.level, item.attribute, option) not in unprotected_values
            )
            assert not only_protected, (item.id, option)


def test_level_roles_are_disjoint(tiny: Prepared):
    for level in LEVELS:
        roles = LevelRoles.of(tiny.hierarchy, tiny.plan, level)
        assert not roles.forget & roles.sibling
        assert not roles.forget & roles.ancestor
        assert not roles.sibling & roles.holdout
