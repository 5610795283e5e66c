"""``medforget doctor``: what is installed, what each feature needs, and how to get it."""

from __future__ import annotations

import importlib.metadata
import json

from medforget.cli import doctor, main


def _features(capsys) -> dict[str, dict]:
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["medforget"] and report["python"] and report["torch"]["version"]
    return {f["feature"]: f for f in report["features"]}


def test_every_optional_extra_is_some_features_need(capsys):
    named = {extra for feature in doctor.FEATURES for extra in feature.extras}
    assert set(doctor.extras()) - {"test"} <= named  # a new extra must say what it is for
    features = _features(capsys)
    assert len(features) == len(doctor.FEATURES)
    assert features["train, unlearn and evaluate models"]["ready"]  # the suite itself needs it


def test_a_missing_or_wrong_package_names_itself_and_the_install_command(capsys, monkeypatch):
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name == "matplotlib":
            raise importlib.metadata.PackageNotFoundError(name)
        return "2.4.0" if name == "pydicom" else real(name)

    monkeypatch.setattr(doctor.importlib.metadata, "version", version)
    features = _features(capsys)
    dicom = features["build from DICOM folders (--source dicom)"]
    assert not dicom["ready"]
    assert dicom["missing"] == ["pydicom>=3.0 (installed: 2.4.0)"]
    assert dicom["commands"] == ["pip install -e '.[dicom]'"]  # the suite runs from the checkout
    plots = features["the board's plots (leaderboard build)"]
    assert plots["missing"] == ["matplotlib>=3.8 (not installed)"]


def test_a_missing_wheel_executable_or_gpu_says_how_to_get_it(capsys, monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    real = doctor.importlib.util.find_spec
    monkeypatch.setattr(doctor.importlib.util, "find_spec", lambda m: None if m == "torchxrayvision" else real(m))
    features = _features(capsys)
    assert features["the board page's browser test"]["missing"] == ["chromium (not on PATH)"]
    assert features["the board page's browser test"]["commands"] == ["sudo apt-get install chromium"]
    iu = features["build the default dataset (IU X-ray archive)"]
    assert iu["commands"] == ["pip install --no-deps torchxrayvision==1.5.7"]
    gpu = features["GPU runs (LoRA, bf16, accelerate)"]
    assert gpu["ready"] == bool(__import__("torch").cuda.device_count())


def test_the_text_report_lists_each_feature_with_its_status(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("medforget ") and "torch 2." in out
    assert sum(line.startswith(("[ok] ", "[--] ")) for line in out.splitlines()) == len(doctor.FEATURES)
