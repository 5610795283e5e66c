"""A cut-down tiny build for the slow tests that run a whole path on one model: 8 patients of 2
studies, one target per level, 8 utility images (912 train rows; 42 forget rows at the study level)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cut_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medforget.build.pipeline import build
    from medforget.config import preset

    config = dataclasses.replace(
        preset("tiny"),
        n_patients=8,
        n_holdout_patients=1,
        min_studies=2,
        max_studies=2,
        targets_per_level=dict.fromkeys(("institution", "patient", "study", "section"), 1),
        rephrase_facts_per_level=1,
        n_utility_images=8,
    )
    return build(config, tmp_path_factory.mktemp("cut") / "tiny").out
