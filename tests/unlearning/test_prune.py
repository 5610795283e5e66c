"""Pruning: the units chosen on hand-built activations, the edit on tiny LLaVA and Qwen2.5-VL
models (only the chosen columns change), and its effect, which holds on any CPU: a pruned unit
writes nothing into the residual stream, whatever it computes."""

from __future__ import annotations

import pytest
import torch

from medforget.models.chat import TrainingCollator
from medforget.models.families import load_checkpoint
from medforget.unlearning.activations import collect
from medforget.unlearning.pruning import Pruning, pruned_modules, select_units
from tests.unlearning.conftest import sums


def test_units_are_chosen_by_how_much_more_they_fire_on_forget_rows():
    stats = {
        "forget": {"m": sums([4.0, -1.0, 0.5, 3.0], [-4.0, 1.0, 0.5, 1.0])},
        "retain": {"m": sums([1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 0.0, 2.0])},
    }
    # mean|F| = 4, 1, 0.5, 2 against mean|R| = 1, 1, 0, 2: ratios 4, 1, 5e5, 1
    assert select_units(stats, top_k_percent=50)["m"].tolist() == [0, 2]
    assert select_units(stats, top_k_percent=1)["m"].tolist() == [2]  # at least one unit


@pytest.fixture(params=["knowing", "knowing_qwen"])
def pruned(request, small_data):
    """A tiny model before and after pruning 30 % of the units of every layer, at the patient level."""
    path = request.getfixturevalue(request.param)
    before, processor = load_checkpoint(path)
    model, _ = load_checkpoint(path)
    outcome = Pruning(top_k_percent=30).run(model, processor, small_data, seed=0)
    return before, model, processor, outcome


def test_pruning_zeroes_the_chosen_columns_and_nothing_else(pruned, small_data):
    before, after, processor, outcome = pruned
    modules = pruned_modules(before, None)
    rows = small_data.forget + small_data.retain
    stats = collect(
        before,
        processor,
        rows,
        [["forget"]] * len(small_data.forget) + [["retain"]] * len(small_data.retain),
        modules,
        alpha=None,
    )
    chosen = select_units(stats, 30)
    assert {f"units/{m.name}" for m in modules} == set(outcome.tensors)
    for hooked in modules:
        units = outcome.tensors[f"units/{hooked.name}"]
        assert torch.equal(units, chosen[hooked.name])  # the units the activations single out
        old, new = before.get_submodule(hooked.name).weight, after.get_submodule(hooked.name).weight
        assert (new[:, units] == 0).all() and (old[:, units] != 0).any()
        kept = torch.ones(old.shape[1], dtype=torch.bool)
        kept[units] = False
        assert torch.equal(old[:, kept], new[:, kept])
    old_state, new_state = before.state_dict(), after.state_dict()
    changed = {k for k in old_state if not torch.equal(old_state[k], new_state[k])}
    assert changed == {f"{m.name}.weight" for m in modules}


def test_a_pruned_unit_writes_nothing_whatever_it_computes(pruned, small_data):
    """Set every pruned unit's activation to large noise: the logits do not move, since its
    column of ``down_proj`` is zero. On the unpruned model the same noise moves them."""
    before, after, processor, outcome = pruned
    batch = {k: v for k, v in TrainingCollator(processor)(small_data.forget[:8]).items() if k != "labels"}

    def logits(model, noisy: bool) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)

        def scramble(units):
            def hook(_module, args):
                value = args[0].clone()
                value[..., units] = 100 * torch.randn(value[..., units].shape, generator=generator)
                return (value,)

            return hook

        handles = (
            [
                model.get_submodule(name.removeprefix("units/")).register_forward_pre_hook(scramble(units))
                for name, units in outcome.tensors.items()
            ]
            if noisy
            else []
        )
        try:
            with torch.inference_mode():
                return model(**batch).logits
        finally:
            for handle in handles:
                handle.remove()

    assert torch.allclose(logits(after, noisy=True), logits(after, noisy=False), atol=1e-5)
    assert not torch.allclose(logits(before, noisy=True), logits(before, noisy=False), atol=1e-2)
