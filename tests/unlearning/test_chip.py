"""CHIP: the sibling sets on a hand-built hierarchy at every level, directions, selection and
bases on hand-built activations, and the weight edit on tiny LLaVA and Qwen2.5-VL models."""

from __future__ import annotations

import pytest
import torch

from medforget.models.families import family_of, load_checkpoint
from medforget.unlearning.base import UnlearningError
from medforget.unlearning.chip import (
    Chip,
    activation_sums,
    basis,
    child_level,
    contrasts,
    differences,
    directions,
    hooked_modules,
    sample_nodes,
    select_units,
)
from medforget.unlearning.data import row_tree
from tests.unlearning.conftest import sums

LEVELS = ("network", "institution", "patient", "study", "section")
#  N > I1 > P1 > S1 > X1, X2          I1 > P2 > S3 > X4
#            P1 > S2 > X3             N > I2 > P3 > S4 > X5
PARENT = {
    "N": None,
    "I1": "N",
    "I2": "N",
    "P1": "I1",
    "P2": "I1",
    "P3": "I2",
    "S1": "P1",
    "S2": "P1",
    "S3": "P2",
    "S4": "P3",
    "X1": "S1",
    "X2": "S1",
    "X3": "S2",
    "X4": "S3",
    "X5": "S4",
}
LEVEL_OF = {"N": "network", "I": "institution", "P": "patient", "S": "study", "X": "section"}


def row(node: str) -> dict:
    """One QA row about ``node``, carrying its ancestors' ids as the dataset's rows do."""
    ids, current = {}, PARENT[node]
    while current is not None:
        ids[f"{LEVEL_OF[current[0]]}_id"] = current
        current = PARENT[current]
    return {"id": f"qa-{node}", "level": LEVEL_OF[node[0]], "node_id": node, **ids}


def subtree(node: str) -> list[str]:
    return [node] + [n for child, p in PARENT.items() if p == node for n in subtree(child)]


def split(target: str) -> tuple[list[dict], list[dict]]:
    forget = set(subtree(target))
    return [row(n) for n in PARENT if n in forget], [row(n) for n in PARENT if n not in forget]


@pytest.mark.parametrize(
    ("level", "target", "below", "expected"),
    [
        # a target with children: each child against the children of the target's siblings (and of itself)
        ("institution", "I1", "patient", [("P1", ["P3"]), ("P2", ["P3"])]),
        ("patient", "P1", "study", [("S1", ["S3"]), ("S2", ["S3"])]),
        ("study", "S1", "section", [("X1", ["X3"]), ("X2", ["X3"])]),
        # a leaf: against its retain siblings
        ("section", "X1", None, [("X1", ["X2"])]),
        # a leaf without siblings: against every retain node of its level
        ("section", "X3", None, [("X3", ["X1", "X2", "X4", "X5"])]),
        # children whose parent's other children have none at their level: every retain node of it
        ("study", "S4", "section", [("X5", ["X1", "X2", "X3", "X4"])]),
    ],
)
def test_sibling_differential_pairs_follow_the_hierarchy(level, target, below, expected):
    tree = row_tree(*split(target), LEVELS)
    assert contrasts(tree, level, below) == expected


def test_a_target_without_a_parent_is_contrasted_with_every_retain_node_of_the_level():
    levels = LEVELS[1:]  # no network: institutions are roots
    forget, retain = split("I1")
    strip = [{k: v for k, v in r.items() if k != "network_id"} for r in (*forget, *retain) if r["node_id"] != "N"]
    tree = row_tree(strip[: len(forget)], strip[len(forget) :], levels)
    assert contrasts(tree, "institution", "patient") == [("P1", ["P3"]), ("P2", ["P3"])]
    assert row_tree(*split("I1"), LEVELS).parent["I1"] == "N"


def test_per_node_samples_are_capped_seeded_and_stable():
    forget = [row("S1") | {"id": f"qa-{i}"} for i in range(30)]
    tree = row_tree(forget, [row("S3")], LEVELS)
    groups, _ = sample_nodes(tree, ["study"], cap=10, seed=0, sizes=(30, 1))
    chosen = [i for i, g in enumerate(groups) if "forget:S1" in g]
    assert len(chosen) == 10 and all(g[-1] == "forget" for g in groups if g)
    assert chosen == [
        i for i, g in enumerate(sample_nodes(tree, ["study"], 10, 0, (30, 1))[0]) if g
    ]  # same in any process
    assert chosen != [i for i, g in enumerate(sample_nodes(tree, ["study"], 10, 1, (30, 1))[0]) if g]


def test_units_are_chosen_by_mean_absolute_difference_and_directions_restricted_to_them():
    name = "m"
    stats = {
        "forget": {name: sums([5.0, 0.0, -4.0, 1.0])},
        "retain": {name: sums([1.0, 0.0, 1.0, 1.0])},
        "forget:A": {name: sums([5.0, 0.0, -4.0, 1.0])},
        "retain:B": {name: sums([1.0, 9.0, 1.0, 1.0])},
        "retain:C": {name: sums([1.0, -9.0, 3.0, 1.0], [1.0, 0.0, 3.0, 1.0])},
    }
    units = select_units(stats, top_k_percent=50)
    assert units[name].tolist() == [0, 2]  # scores 4, 0, 3, 0
    found = directions(stats, [("A", ["B", "C"]), ("A", ["A-twin"])], units)
    expected = torch.tensor([5.0 - 1.0, -4.0 - (1 + 3 + 3) / 3])  # siblings pooled over their rows
    assert torch.allclose(found[name], (expected / expected.norm()).unsqueeze(0))
    same = {**stats, "retain:D": {name: sums([5.0, 7.0, -4.0, 0.0])}}
    assert name not in directions(same, [("A", ["D"])], units)  # a zero difference is dropped


def test_published_unit_counting_weighs_a_row_once_per_node_that_sampled_it():
    """A row under the target and under its child adds into both groups: the published code
    concatenates them, so that row counts twice and can move the selection."""
    name = "m"
    stats = {
        "forget": {name: sums([4.0, 0.0], [0.0, 3.0])},
        "retain": {name: sums([0.0, 0.0])},
        "forget:T": {name: sums([4.0, 0.0], [0.0, 3.0])},
        "forget:T-child": {name: sums([0.0, 3.0])},  # the second row again, under the child
        "retain:R": {name: sums([0.0, 0.0])},
    }
    assert select_units(stats, top_k_percent=50)[name].tolist() == [0]  # scores 2.0, 1.5
    assert select_units(stats, top_k_percent=50, per_node=True)[name].tolist() == [1]  # 4/3, 6/3


def test_a_relative_floor_drops_rounding_noise_an_absolute_one_keeps():
    name = "m"
    big = [1000.0, -1000.0]
    stats = {
        "forget:A": {name: sums([1000.0 + 1e-4, -1000.0])},
        "retain:B": {name: sums(big)},
    }
    units = {name: torch.tensor([0, 1])}
    assert name in directions(stats, [("A", ["B"])], units)  # norm 1e-4 > 1e-8: projected
    assert name not in directions(stats, [("A", ["B"])], units, relative_floor=1e-5)  # 1e-4 < 1e-5 * 2828
    assert name in directions(stats, [("A", ["B"])], units, relative_floor=1e-9)


def test_chip_forwards_only_the_image_rows_in_the_published_layout(knowing, small_data):
    model, processor = load_checkpoint(knowing)
    everything = Chip().run(model, processor, small_data, seed=0).summary["rows_forwarded"]
    model, processor = load_checkpoint(knowing)
    images = Chip(modality="image").run(model, processor, small_data, seed=0).summary["rows_forwarded"]
    image_rows = sum(r["modality"] == "image" for r in [*small_data.forget, *small_data.retain])
    assert images == image_rows < everything
    with pytest.raises(UnlearningError, match="modality must be one of all, image"):
        Chip(modality="text")


def test_the_basis_keeps_the_smallest_rank_that_reaches_tau():
    stacked = torch.tensor([[1.0, 0.0, 0.0]] * 9 + [[0.0, 1.0, 0.0]])  # energies 9 and 1
    assert basis(stacked, tau=0.85).shape == (3, 1)
    assert basis(stacked, tau=0.95).shape == (3, 2)
    q = basis(stacked, tau=0.95)
    assert torch.allclose(q.T @ q, torch.eye(2), atol=1e-6)


@pytest.fixture(params=["knowing", "knowing_qwen"])
def edited(request, small_data):
    """A tiny model (LLaVA, Qwen2.5-VL) before and after CHIP at the patient level."""
    path = request.getfixturevalue(request.param)
    before, _ = load_checkpoint(path)
    model, processor = load_checkpoint(path)
    outcome = Chip().run(model, processor, small_data, seed=0)
    return before, model, outcome


def test_chip_edits_only_the_selected_rows_and_makes_them_orthogonal_to_q(edited):
    before, after, outcome = edited
    projected = [name.removeprefix("bases/") for name in outcome.tensors if name.startswith("bases/")]
    assert projected
    for name in projected:
        units, q = outcome.tensors[f"units/{name}"], outcome.tensors[f"bases/{name}"]
        old, new = before.get_submodule(name).weight, after.get_submodule(name).weight
        assert (q.T @ new[units]).abs().max() < 1e-5
        assert not torch.equal(old[units], new[units])
        untouched = torch.ones(old.shape[0], dtype=torch.bool)
        untouched[units] = False
        assert torch.equal(old[untouched], new[untouched])
    old_state, new_state = before.state_dict(), after.state_dict()
    changed = {k for k in old_state if not torch.equal(old_state[k], new_state[k])}
    assert changed == {f"{name}.weight" for name in projected}


def test_chip_hooks_the_published_modules_for_each_family(knowing, knowing_qwen):
    llava, _ = load_checkpoint(knowing)
    qwen, _ = load_checkpoint(knowing_qwen)
    assert [m.name for m in hooked_modules(llava, Chip(last_layers=1))] == [
        f"model.language_model.layers.1.mlp.{p}" for p in ("gate_proj", "up_proj", "down_proj")
    ]
    assert [m.name for m in hooked_modules(qwen, Chip(last_layers=1)) if m.kind == "projector"] == [
        "model.visual.merger.mlp.0",
        "model.visual.merger.mlp.2",
    ]
    with_projector = hooked_modules(llava, Chip(hook_projector=True))
    assert {m.name for m in with_projector if m.kind == "projector"} == {
        f"model.{name}" for name in family_of(llava).projector
    }


def test_chip_hooks_the_llava_projector_when_asked(knowing, small_data):
    model, processor = load_checkpoint(knowing)
    outcome = Chip(hook_projector=True).run(model, processor, small_data, seed=0)
    assert "units/model.multi_modal_projector.linear_2" in outcome.tensors


@pytest.mark.parametrize("family", ["knowing", "knowing_qwen"])
def test_chip_removes_the_contrast_it_targets_from_the_edited_units(family, small_data, request):
    """The effect the edit must have, on any CPU. At the first edited layer, ``gate_proj`` and
    ``up_proj`` see the same inputs before and after (nothing upstream is edited), and pooling
    is linear, so each forget-minus-sibling difference on the selected units becomes exactly
    ``(I - Q Q^T)`` of what it was: Q spans at least ``tau`` of the differences' energy, so at
    most ``1 - tau`` of it is left."""
    path = request.getfixturevalue(family)
    config = Chip(hook_projector=False, tau=0.95)
    model, processor = load_checkpoint(path)
    tree = row_tree(small_data.forget, small_data.retain, small_data.levels)
    pairs = contrasts(tree, small_data.level, child_level(small_data.levels, small_data.level))
    before, _ = activation_sums(model, processor, small_data, tree, config)
    tensors = config.run(model, processor, small_data, seed=0).tensors
    after, _ = activation_sums(model, processor, small_data, tree, config)
    first = hooked_modules(model, config)[0].name.rsplit(".", 1)[0]
    checked = [f"{first}.{m}" for m in ("gate_proj", "up_proj") if f"bases/{first}.{m}" in tensors]
    assert checked
    for name in checked:
        units, q = {name: tensors[f"units/{name}"]}, tensors[f"bases/{name}"]
        old, new = differences(before, pairs, units)[name], differences(after, pairs, units)[name]
        scale = old.abs().max()
        assert torch.allclose(new, old - (old @ q) @ q.T, atol=1e-4 * scale)
        left = (new.norm(dim=1) / old.norm(dim=1)).square().sum()  # energy of the unit-norm directions left
        assert left <= (1 - config.tau) * len(old) + 1e-3


def test_the_diagnosis_measures_what_runs_through_the_units_and_what_the_edit_removes(knowing, tiny_build):
    from medforget.unlearning.diagnose import Diagnosis, diagnose_chip, table

    forget, retain = diagnose_chip(knowing, tiny_build, "patient", Chip(), max_rows=16)
    assert (forget.side, retain.side, forget.rows, retain.rows) == ("forget", "retain", 16, 16)
    assert forget.ablated != forget.before and forget.edited != forget.before  # both touch the answers
    assert len(table([forget, retain])) == 3
    assert Diagnosis("forget", 1, -1.0, -3.0, -2.0).removed == 0.5  # half of what runs through is gone
    assert Diagnosis("forget", 1, -1.0, -1.0, -1.0).removed != Diagnosis("forget", 1, -1.0, -1.0, -1.0).removed  # NaN
