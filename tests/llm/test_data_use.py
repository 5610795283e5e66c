"""Data-use agreements travel with the data: a MIMIC-derived build sends its text to no endpoint
but a local one (loopback, or a host the user lists), unless the user acknowledges it."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from medforget.build.pipeline import build
from medforget.cli import main
from medforget.config import LLMConfig
from medforget.dataset import read_manifest
from medforget.llm.data_use import DataUse, DataUseError
from tests.builders.mimic_fixtures import make_mimic
from tests.builders.test_mimic import mimic_config
from tests.fake_openai import serve
from tests.qa.scribe import scribe

FAR = "http://203.0.113.7:9/v1"  # TEST-NET-3: never routed, and never reached (no traffic is sent)
PHYSIONET = "PhysioNet-Credentialed-Health-Data-1.5.0"


@pytest.fixture
def no_traffic(monkeypatch):
    """Fails the test on any connection attempt to a non-loopback address."""
    real = socket.socket.connect

    def connect(self, address):
        if not str(address[0]).startswith(("127.", "::1")):
            pytest.fail(f"a connection to {address} was attempted")
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="module")
def mimic_build(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mimic")
    return build(mimic_config(make_mimic(folder)), folder / "out").out


def test_local_is_loopback_or_a_host_the_user_lists(monkeypatch):
    monkeypatch.delenv("MEDFORGET_LOCAL_HOSTS", raising=False)
    plain = DataUse.from_user()
    assert all(plain.is_local(u) for u in ("http://localhost:8008/v1", "http://127.0.0.5/v1", "http://[::1]:1/v1"))
    far = ("https://api.openai.com/v1", "http://127.0.0.1.example.com/v1", "http://10.0.0.5/v1", FAR)
    assert not any(plain.is_local(u) for u in far)
    assert DataUse.from_user(["GPU.hospital.internal"]).is_local("https://gpu.hospital.internal/v1")
    monkeypatch.setenv("MEDFORGET_LOCAL_HOSTS", "10.0.0.5, gpu2")
    assert DataUse.from_user().is_local("http://10.0.0.5/v1") and DataUse.from_user().is_local("http://gpu2/v1")


def test_only_a_licence_that_keeps_text_here_restricts(mimic_build: Path, tiny_build: Path):
    assert read_manifest(mimic_build).local_only() == (f"mimic-cxr ({PHYSIONET})",)
    assert read_manifest(tiny_build).local_only() == ()  # IU X-ray (CC BY-NC-ND) may go to an API
    DataUse().check(FAR, read_manifest(tiny_build).local_only(), "rows")
    DataUse(acknowledged=True).check(FAR, read_manifest(mimic_build).local_only(), "rows")
    with pytest.raises(DataUseError, match=rf"mimic-cxr \({PHYSIONET}\).*--acknowledge-data-use"):
        DataUse().check(FAR, read_manifest(mimic_build).local_only(), "rows")


def test_llm_qa_on_mimic_refuses_a_non_local_endpoint_before_any_work(tmp_path: Path, no_traffic):
    config = mimic_config(make_mimic(tmp_path))
    far = dataclasses.replace(config, llm=LLMConfig.from_mapping({"base_url": FAR, "model": "m", "fallback": True}))
    with pytest.raises(DataUseError, match=rf"report text for LLM QA to {FAR}.*{PHYSIONET}"):
        build(far, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with serve(scribe()) as server:  # the same build against a server on loopback goes ahead
        local = LLMConfig.from_mapping({"base_url": server.url, "model": "scribe", "cache_dir": tmp_path / "cache"})
        manifest = build(dataclasses.replace(config, llm=local), tmp_path / "local").manifest
    assert server.seen and manifest.llm is not None and manifest.llm["model"] == "scribe"


def test_the_build_command_names_the_licence_and_the_ways_out(tmp_path: Path, capsys, no_traffic):
    root = make_mimic(tmp_path).root
    argv = ["build", "--preset", "tiny", "--source", "mimic-cxr", "--root", str(root), "--out", str(tmp_path / "o")]
    assert main([*argv, "--llm-base-url", FAR, "--llm-model", "m"]) == 2
    error = capsys.readouterr().err
    assert PHYSIONET in error and "--llm-local-host 203.0.113.7" in error and "--acknowledge-data-use" in error
    assert not (tmp_path / "o").exists()


def test_eval_refuses_a_non_local_model_or_judge_on_mimic(mimic_build: Path, tmp_path: Path, capsys, no_traffic):
    common = ["eval", "--dataset", str(mimic_build), "--level", "patient", "--out", str(tmp_path / "run")]
    assert main([*common, "--endpoint", FAR, "--endpoint-model", "vlm"]) == 2
    assert "its questions and images to the model" in capsys.readouterr().err
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("")
    assert main([*common, "--predictions", str(predictions), "--judge-endpoint", FAR, "--judge-model", "j"]) == 2
    assert "its answers to the judge" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    with serve(lambda body: (200, "no")) as server:  # a model served on loopback is asked
        assert main([*common, "--endpoint", server.url, "--endpoint-model", "vlm", "--no-reconstruction"]) == 0
    assert server.seen and (tmp_path / "run" / "results.json").is_file()
