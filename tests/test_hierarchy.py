import dataclasses

import pytest

from medforget.errors import BuildError
from medforget.hierarchy import Attribute, Hierarchy, Node, QAItem, make_node_id, stable_digest, stable_int

LEVELS = ("institution", "patient", "study")


def node(level: str, key: str, parent: Node | None = None) -> Node:
    return Node(make_node_id(level, key), level, parent.id if parent else None, key, (Attribute("name", key, "name"),))


@pytest.fixture
def forest() -> Hierarchy:
    a, b = node("institution", "A"), node("institution", "B")
    p1, p2, p3 = node("patient", "p1", a), node("patient", "p2", a), node("patient", "p3", b)
    studies = [node("study", f"s{i}", p) for i, p in enumerate((p1, p1, p2, p3))]
    return Hierarchy([a, b, p1, p2, p3, *studies], LEVELS)


def test_ids_derive_from_source_keys_not_order():
    assert make_node_id("patient", "iu", "CXR1") == make_node_id("patient", "iu", "CXR1")
    assert make_node_id("patient", "iu", "CXR1") != make_node_id("study", "iu", "CXR1")
    assert make_node_id("patient", "iu", "CXR1").startswith("pat-")
    assert stable_digest("a", "b") != stable_digest("ab")  # parts are separated
    assert stable_int("x") == stable_int("x") and stable_int("x") < 2**63


def test_records_are_frozen():
    n = node("institution", "A")
    with pytest.raises(dataclasses.FrozenInstanceError):
        n.level = "patient"  # type: ignore[misc]
    assert QAItem.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_attribute_lookup_names_missing_attribute():
    n = node("institution", "A")
    assert n.attribute("name") == "A"
    with pytest.raises(KeyError, match="no attribute 'city'"):
        n.attribute("city")


def test_subtree_ancestors_siblings(forest: Hierarchy):
    p1 = forest.nodes[make_node_id("patient", "p1")]
    assert {n.source_key for n in forest.subtree(p1.id)} == {"p1", "s0", "s1"}
    s0 = make_node_id("study", "s0")
    assert [a.source_key for a in forest.ancestors(s0)] == ["p1", "A"]
    assert [s.source_key for s in forest.siblings(s0)] == ["s1"]
    assert [s.source_key for s in forest.siblings(p1.id)] == ["p2"]
    assert forest.ancestor_at(s0, "institution").source_key == "A"
    assert forest.ancestor_at(p1.id, "study") is None
    assert forest.target_levels == ("patient", "study")


def test_duplicate_ids_and_broken_parents_are_refused():
    a = node("institution", "A")
    with pytest.raises(BuildError, match="duplicate node id"):
        Hierarchy([a, a], LEVELS)
    orphan = Node("pat-x", "patient", "ins-missing", "x")
    with pytest.raises(BuildError, match="missing or lower parent"):
        Hierarchy([a, orphan], LEVELS)
    with pytest.raises(BuildError, match="has no parent"):
        Hierarchy([Node("pat-y", "patient", None, "y")], LEVELS)
    with pytest.raises(BuildError, match="levels are"):
        Hierarchy([Node("x-1", "ward", None, "w")], LEVELS)
