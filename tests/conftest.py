"""Shared fixtures: one in-memory tiny build and its exported folder, made once per session,
and a synthetic IU-style reports archive made in code (no real report text is committed)."""

from __future__ import annotations

import dataclasses
import io
import os
import tarfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# One compute thread, set before torch loads. The tests' models are tiny, so a second thread
# buys little, and OpenMP threads that wait for a busy core spin: with one core taken by other
# work, the unlearning tests ran 241 s on 2 threads against 33 s on 1 (README "Tests").
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from medforget.build.pipeline import Prepared, export, prepare
from medforget.config import BuildConfig, preset
from medforget.models.families import FAMILIES


@pytest.fixture(autouse=True)
def _llm_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own empty LLM reply cache: none reads or fills the user's."""
    monkeypatch.setenv("MEDFORGET_LLM_CACHE", str(tmp_path_factory.mktemp("llm-cache")))


@pytest.fixture(scope="session")
def tiny_config() -> BuildConfig:
    """The tiny preset with 16 utility images (the preset's 200 measure the board's models'
    skill; every evaluation in the tests would ask their 888 rows)."""
    return dataclasses.replace(preset("tiny"), n_utility_images=16)


@pytest.fixture(scope="session")
def tiny(tiny_config: BuildConfig) -> Prepared:
    return prepare(tiny_config)


@pytest.fixture(scope="session")
def tiny_build(tiny: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "medforget"
    export(tiny, out)
    return out


@pytest.fixture(scope="session")
def base_build(tiny_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small base corpus kept apart from ``tiny_build`` (the base preset, fewer patients)."""
    from medforget.build.pipeline import build

    config = dataclasses.replace(preset("base"), n_patients=6, n_institutions=4, n_utility_images=8)
    out = tmp_path_factory.mktemp("base") / "base"
    build(config.with_options(exclude=str(tiny_build)), out)
    return out


@pytest.fixture(scope="session")
def tiny_rows(tiny_build: Path) -> list[dict]:
    """12 image rows and 12 text-only rows of ``train``."""
    from medforget.dataset import load_rows

    every = load_rows(tiny_build, "train", "train")  # image rows first, text-only rows last
    return every[:12] + every[-12:]


@pytest.fixture(scope="session")
def checkpoint(tiny_rows: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny LLaVA (untrained), shared by every test that only reads it."""
    from tests.models.tiny import save_tiny

    return save_tiny(tiny_rows, tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def qwen_checkpoint(tiny_rows: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Qwen2.5-VL (untrained), shared likewise."""
    from tests.models.tiny import save_tiny

    return save_tiny(tiny_rows, tmp_path_factory.mktemp("qwen"), "qwen2_5_vl")


@pytest.fixture(params=FAMILIES.names())
def any_checkpoint(request: pytest.FixtureRequest) -> Path:
    """A tiny checkpoint of every family."""
    return request.getfixturevalue({"llava": "checkpoint", "qwen2_5_vl": "qwen_checkpoint"}[request.param])


REPORT_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <uId id="CXR{n}"/>
  <MedlineCitation><Article><Abstract>
    <AbstractText Label="COMPARISON">None.</AbstractText>
    <AbstractText Label="INDICATION">XXXX-year-old {sex} with cough number {n}.</AbstractText>
    <AbstractText Label="FINDINGS">The heart is normal. Synthetic finding number {n} in the left lung.</AbstractText>
    <AbstractText Label="IMPRESSION">Synthetic impression {n}.</AbstractText>
  </Abstract></Article></MedlineCitation>
  <MeSH>{mesh}</MeSH>
  <parentImage id="CXR{n}_IM-0001-1001"><figureId>F1</figureId></parentImage>
</eCitation>
"""


def make_archive(path: Path, n_reports: int, broken: int = 0) -> Path:
    """An archive in the layout of NLMCXR_reports.tgz with synthetic reports (and ``broken``
    malformed XML files)."""
    with tarfile.open(path, "w:gz") as archive:
        for n in range(1, n_reports + broken + 1):
            mesh = "<major>Cardiomegaly/mild</major>" if n % 3 == 0 else "<major>normal</major>"
            sex = "female" if n % 2 else "male"
            text = REPORT_XML.format(n=n, sex=sex, mesh=mesh) if n <= n_reports else "<eCitation><unclosed>"
            data = text.encode()
            info = tarfile.TarInfo(f"ecgen-radiology/{n}.xml")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def small_config(tmp_path: Path) -> BuildConfig:
    """A config over a synthetic archive of 60 reports: enough for every split."""
    archive = make_archive(tmp_path / "reports.tgz", 60)
    return dataclasses.replace(
        preset("tiny"),
        source_options={"reports_archive": archive},
        n_utility_images=4,
        targets_per_level={"institution": 1, "patient": 1, "study": 1, "section": 1},
    )
