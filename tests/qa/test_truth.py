"""TOFU's truth-ratio inputs: paraphrased and perturbed answers, from rules, on every fact."""

from __future__ import annotations

from pathlib import Path

import pytest

from medforget.dataset import load_rows
from medforget.qa.truth import N_PERTURBED, paraphrase, perturbations


def _key(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").replace(".", " ").split())


@pytest.mark.parametrize(
    ("value", "sentence", "expected"),
    [
        ("2018-11-02", False, "November 2, 2018"),
        ("3.5 cm nodule", True, "3.5 centimeters nodule"),
        ("Mercy Hospital", False, "It is recorded as Mercy Hospital."),
        ("No pleural effusion.", True, "The report states: no pleural effusion."),
    ],
)
def test_paraphrase_rewords_and_keeps_the_fact(value: str, sentence: bool, expected: str) -> None:
    assert paraphrase(value, sentence) == expected


@pytest.mark.parametrize(
    ("value", "wanted"),
    [
        ("2018-11-02", {"2018-11-09", "2019-11-02", "2018-12-02"}),
        ("Small left pleural effusion.", {"Large left pleural effusion.", "Small right pleural effusion."}),
        ("3.5 cm", {"4.5 cm", "2.5 cm", "7.0 cm"}),
        ("No pneumothorax", {"There is pneumothorax"}),
    ],
)
def test_perturbations_alter_the_answer(value: str, wanted: set[str]) -> None:
    found = perturbations(value, ["Mild cardiomegaly.", "Healed rib fracture."], seed=0, allowed=lambda _: True)
    assert len(found) == N_PERTURBED and value not in found and len(set(found)) == N_PERTURBED
    assert wanted & set(found)


def test_perturbations_skip_what_is_not_allowed() -> None:
    found = perturbations("2018-11-02", [], seed=0, allowed=lambda text: text != "2018-11-09")
    assert "2018-11-09" not in found and found


def test_every_generation_row_carries_its_truth_inputs(tiny_build: Path) -> None:
    rows = [
        r
        for split in ("forget", "retain_sibling", "holdout")
        for r in load_rows(tiny_build, "patient", split, images=False)
    ]
    generation = [r for r in rows if r["task"] == "generation"]
    assert generation and all(
        r["paraphrased_answer"] and len(r["perturbed_answers"]) == N_PERTURBED for r in generation
    )
    for row in generation:  # never the answer itself, and worded as the paraphrase is
        assert _key(row["answer"]) not in {_key(p) for p in row["perturbed_answers"]}
        assert row["paraphrased_answer"] not in row["perturbed_answers"]
    others = [r for r in rows if r["task"] != "generation"]
    assert all(r["paraphrased_answer"] is None and r["perturbed_answers"] == [] for r in others)
