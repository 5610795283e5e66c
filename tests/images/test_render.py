"""Rendered radiographs: determinism, validation, distinguishability, patient likeness, findings."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from medforget.errors import ConfigError
from medforget.images.render import FINDINGS, Anatomy, encode_png, render_radiograph, sample_anatomy

# Minimum mean absolute difference (gray levels, 0-255) between any two study images
# after downscaling to 64x64. The renderer's detector mottle alone gives about 8 (BOX)
# and 6.6 (BILINEAR); pose, inspiration and exposure add more.
MIN_STUDY_DISTANCE = 6.0
SMALL = 64


def _small(image: Image.Image, resample: Image.Resampling = Image.Resampling.BOX) -> np.ndarray:
    return np.asarray(image.resize((SMALL, SMALL), resample), dtype=np.float32)


def _pairwise_mad(x: np.ndarray, block: int = 16) -> np.ndarray:
    """Pairwise mean absolute difference between the rows of ``x`` (n, d), in blocks."""
    out = np.empty((len(x), len(x)), dtype=np.float32)
    for i in range(0, len(x), block):
        out[i : i + block] = np.abs(x[i : i + block, None, :] - x[None, :, :]).mean(axis=-1)
    return out


@pytest.fixture(scope="module")
def cohort() -> tuple[list[Image.Image], np.ndarray]:
    """30 anatomies x 4 normal studies, plus 10 anatomies x 3 studies with identical findings."""
    images, patient = [], []
    for p in range(30):
        anatomy = sample_anatomy(p)
        for k in range(4):
            images.append(render_radiograph(anatomy, (), seed=1000 * p + k))
            patient.append(p)
    for p in range(30, 40):
        anatomy = sample_anatomy(p)
        for k in range(3):
            images.append(render_radiograph(anatomy, ("cardiomegaly", "medical device"), seed=1000 * p + k))
            patient.append(p)
    return images, np.array(patient)


def test_mode_and_size() -> None:
    anatomy = sample_anatomy(3)
    for size in (16, 64, 100, 256):
        image = render_radiograph(anatomy, ("nodule",), seed=5, size=size)
        assert image.mode == "L"
        assert image.size == (size, size)


def test_bad_size_raises() -> None:
    with pytest.raises(ConfigError, match="size"):
        render_radiograph(sample_anatomy(0), (), seed=0, size=8)


def test_pixels_and_png_bytes_are_deterministic() -> None:
    findings = ("pleural effusion", "nodule", "medical device")
    first = render_radiograph(sample_anatomy(7), findings, seed=42)
    again = render_radiograph(sample_anatomy(7), list(findings), seed=42)
    assert np.array_equal(np.asarray(first), np.asarray(again))
    png = encode_png(first)
    assert png == encode_png(again)
    assert png.startswith(b"\x89PNG")
    assert b"tIME" not in png and b"tEXt" not in png
    decoded = Image.open(io.BytesIO(png))
    assert decoded.mode == "L" and np.array_equal(np.asarray(decoded), np.asarray(first))


def test_finding_order_and_duplicates_do_not_matter() -> None:
    anatomy = sample_anatomy(11)
    a = render_radiograph(anatomy, ("nodule", "cardiomegaly"), seed=9)
    b = render_radiograph(anatomy, ("cardiomegaly", "nodule", "nodule"), seed=9)
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_png_is_compact() -> None:
    sizes = [len(encode_png(render_radiograph(sample_anatomy(i), (), seed=i))) for i in range(3)]
    assert max(sizes) < 60_000


def test_sample_anatomy_is_deterministic_and_plain() -> None:
    assert sample_anatomy(5) == sample_anatomy(5)
    assert sample_anatomy(5) != sample_anatomy(6)
    for field in dataclasses.fields(Anatomy):
        assert type(getattr(sample_anatomy(5), field.name)) in (float, int)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample_anatomy(5).heart_width = 1.0  # type: ignore[misc]


def test_unknown_finding_raises_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        render_radiograph(sample_anatomy(0), ("nodule", "cardiomegally"), seed=0)
    message = str(err.value)
    assert "'cardiomegally'" in message
    assert "Did you mean 'cardiomegaly'" in message
    assert all(name in message for name in FINDINGS)


def test_findings_string_is_rejected() -> None:
    with pytest.raises(ConfigError, match="sequence"):
        render_radiograph(sample_anatomy(0), "nodule", seed=0)


def test_every_study_is_distinguishable_at_64(cohort) -> None:
    images, _ = cohort
    for resample in (Image.Resampling.BOX, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC):
        x = np.stack([_small(im, resample).ravel() for im in images])
        dist = _pairwise_mad(x)
        upper = dist[np.triu_indices(len(x), k=1)]
        assert upper.min() > MIN_STUDY_DISTANCE, (resample, float(upper.min()))


def test_same_patient_studies_look_alike(cohort) -> None:
    images, patient = cohort
    dist = _pairwise_mad(np.stack([_small(im).ravel() for im in images]))
    off_diag = ~np.eye(len(patient), dtype=bool)
    same = (patient[:, None] == patient[None, :]) & off_diag
    other = patient[:, None] != patient[None, :]
    assert dist[same].mean() < 0.8 * dist[other].mean()
    # each patient's own studies are, on average, nearer to each other than to other patients'
    closer = [dist[i, same[i]].mean() < dist[i, other[i]].mean() for i in range(len(patient))]
    assert np.mean(closer) > 0.9


def _pair(finding: str, p: int, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(normal, with finding) renders of the same anatomy and study seed, as float arrays."""
    anatomy = sample_anatomy(p)
    normal = render_radiograph(anatomy, (), seed=77 + p, size=size)
    sick = render_radiograph(anatomy, (finding,), seed=77 + p, size=size)
    return np.asarray(normal, dtype=np.float32), np.asarray(sick, dtype=np.float32)


@pytest.mark.parametrize("finding", FINDINGS)
def test_each_finding_is_visible_at_64(finding: str) -> None:
    for p in range(4):
        anatomy = sample_anatomy(p)
        normal = _small(render_radiograph(anatomy, (), seed=77 + p))
        sick = _small(render_radiograph(anatomy, (finding,), seed=77 + p))
        diff = np.abs(sick - normal)
        assert diff.max() >= 20, (finding, p, float(diff.max()))
        assert (diff > 12).sum() >= 3, (finding, p, int((diff > 12).sum()))


def _region(a: np.ndarray, rows: tuple[float, float], cols: tuple[float, float]) -> np.ndarray:
    n = a.shape[0]
    return a[int(rows[0] * n) : int(rows[1] * n), int(cols[0] * n) : int(cols[1] * n)]


@pytest.mark.parametrize("p", range(3))
def test_cardiomegaly_brightens_lower_centre(p: int) -> None:
    normal, sick = _pair("cardiomegaly", p)
    gain = _region(sick, (0.45, 0.75), (0.2, 0.85)).mean() - _region(normal, (0.45, 0.75), (0.2, 0.85)).mean()
    assert gain > 8


@pytest.mark.parametrize("p", range(3))
def test_emphysema_darkens_lungs(p: int) -> None:
    normal, sick = _pair("emphysema", p)
    for cols in ((0.12, 0.35), (0.65, 0.88)):
        assert _region(sick, (0.25, 0.6), cols).mean() < _region(normal, (0.25, 0.6), cols).mean() - 10


@pytest.mark.parametrize("p", range(3))
def test_pleural_effusion_fills_a_lung_base(p: int) -> None:
    normal, sick = _pair("pleural effusion", p)
    gains = [
        _region(sick, (0.6, 0.78), cols).mean() - _region(normal, (0.6, 0.78), cols).mean()
        for cols in ((0.1, 0.35), (0.65, 0.9))
    ]
    assert max(gains) > 15
    upper = (0.1, 0.35), (0.0, 1.0)
    assert _region(sick, *upper).mean() == pytest.approx(_region(normal, *upper).mean(), abs=1)


@pytest.mark.parametrize("p", range(3))
def test_pulmonary_edema_is_bilateral_perihilar(p: int) -> None:
    normal, sick = _pair("pulmonary edema", p)
    for cols in ((0.22, 0.4), (0.6, 0.78)):
        assert _region(sick, (0.35, 0.6), cols).mean() > _region(normal, (0.35, 0.6), cols).mean() + 10


@pytest.mark.parametrize("p", range(3))
def test_device_is_bright_metal(p: int) -> None:
    normal, sick = _pair("medical device", p)
    assert (sick - normal).max() > 100
    assert (sick >= 250).sum() > (normal >= 250).sum() + 50


@pytest.mark.parametrize("p", range(3))
def test_scoliosis_changes_the_midline(p: int) -> None:
    normal, sick = _pair("scoliosis", p)
    diff = np.abs(sick - normal)
    assert _region(diff, (0.0, 1.0), (0.3, 0.7)).sum() > 0.95 * diff.sum()
    assert diff.mean() > 1.0


def test_all_findings_combine() -> None:
    anatomy = sample_anatomy(21)
    everything = np.asarray(render_radiograph(anatomy, FINDINGS, seed=3), dtype=np.float32)
    for finding in ("nodule", "cardiomegaly", "emphysema"):
        single = np.asarray(render_radiograph(anatomy, (finding,), seed=3), dtype=np.float32)
        assert np.abs(everything - single).mean() > 3


def test_negative_and_huge_seeds_work() -> None:
    anatomy = sample_anatomy(-4)
    assert render_radiograph(anatomy, (), seed=-1).size == (256, 256)
    assert render_radiograph(sample_anatomy(2**70), (), seed=2**70).mode == "L"
