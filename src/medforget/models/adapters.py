"""Model adapters behind one interface: answer QA rows in batches, and (when the model allows)
give the per-token log-probabilities of a given answer.

- :class:`TransformersAdapter`: any ``transformers`` image-text-to-text checkpoint from a local
  path (LLaVA, Qwen2.5-VL, ...): chat template, image placement, left padding, greedy decoding
  with the KV cache, batched, each distinct prompt answered once;
- :class:`PredictionsFile`: a JSONL file of ``{"id", "prediction", "logprobs"?}`` (black box).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from medforget.errors import MedForgetError
from medforget.models.chat import TrainingCollator, answer_logits, length_order, prompt_text


class AdapterError(MedForgetError):
    """A model or predictions file cannot answer the rows it was given."""


class ModelAdapter(Protocol):
    name: str

    def generate(self, rows: Sequence[Mapping[str, Any]]) -> list[str]: ...

    def answer_logprobs(self, rows: Sequence[Mapping[str, Any]]) -> list[list[float]] | None: ...


def _picture(row: Mapping[str, Any]) -> Hashable:
    """What identifies a row's image for the model: its pixels (an image id names an image in
    one build only)."""
    image = row["image"]
    if image is None:
        return None
    return image.mode, image.size, hashlib.blake2b(image.tobytes(), digest_size=16).digest()


def _decode_order(rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Row indices by task, then reference answer length, then question length: a batch's
    rows end their answers at about the same step, so greedy decoding, which runs until every
    row of a batch has written its end token, stops early for short answers (a letter, a date)
    instead of decoding as long as the batch's longest."""

    def size(i: int) -> tuple[str, int, int]:
        row = rows[i]
        return str(row.get("task", "")), len(str(row.get("answer", ""))), len(row["question"])

    return sorted(range(len(rows)), key=size)


class TransformersAdapter:
    """A local checkpoint, run with ``transformers`` on CPU or one GPU.

    Decoding is greedy, so while the weights stay the checkpoint's a prompt (question and
    pixels) has one answer and an answer one log-probability: each is computed once per adapter
    and kept (an evaluation at every level asks the same rows, and utility, again). A caller
    that edits ``model`` in place passes ``memoise=False``.
    """

    def __init__(
        self,
        path: Path,
        batch_size: int = 32,
        max_new_tokens: int = 48,
        device: str | None = None,
        memoise: bool = True,
    ):
        import torch

        from medforget.models.families import ModelFamilyError, load_checkpoint

        self.name = str(path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            model, self.processor = load_checkpoint(path)
        except ModelFamilyError as err:
            raise AdapterError(str(err)) from err
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.memoise = memoise
        self._answers: dict[Hashable, str] = {}
        self._logprobs: dict[Hashable, list[float]] = {}

    def _inputs(self, rows: Sequence[Mapping[str, Any]], texts: Sequence[str]) -> Any:
        images = [r["image"].convert("RGB") for r in rows if r["image"] is not None]
        batch = self.processor(text=list(texts), images=images or None, return_tensors="pt", padding=True)
        return batch.to(self.device)

    def _batches(self, rows: Sequence[Mapping[str, Any]], order: Sequence[int]) -> Any:
        """(row indices, rows) per batch, in ``order``."""
        for start in range(0, len(order), self.batch_size):
            indices = order[start : start + self.batch_size]
            yield indices, [rows[i] for i in indices]

    def generate(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Greedy answers, each distinct prompt decoded once (:meth:`_decode`)."""
        if not self.memoise:
            return self._decode(rows)
        keys = [(_picture(r), r["question"]) for r in rows]
        return _memoised(self._answers, keys, rows, self._decode)

    def answer_logprobs(self, rows: Sequence[Mapping[str, Any]]) -> list[list[float]]:
        """Per-token log-probabilities of each row's answer (and end of answer), teacher-forced,
        each distinct (prompt, answer) once (:meth:`_teacher_forced`)."""
        if not self.memoise:
            return self._teacher_forced(rows)
        keys = [(_picture(r), r["question"], r["answer"]) for r in rows]
        return [list(lp) for lp in _memoised(self._logprobs, keys, rows, self._teacher_forced)]

    def _decode(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Greedy answers, batched (:func:`_decode_order`); prompts are left-padded so
        generation continues them."""
        import torch

        tokenizer = self.processor.tokenizer
        answers: list[str] = [""] * len(rows)
        for indices, chunk in self._batches(rows, _decode_order(rows)):
            tokenizer.padding_side = "left"
            batch = self._inputs(chunk, [prompt_text(self.processor, r) for r in chunk])
            with torch.inference_mode():
                out = self.model.generate(
                    **batch, do_sample=False, max_new_tokens=self.max_new_tokens, pad_token_id=tokenizer.pad_token_id
                )
            new = out[:, batch["input_ids"].shape[1] :]
            for i, text in zip(indices, tokenizer.batch_decode(new, skip_special_tokens=True)):
                answers[i] = text.strip()
        return answers

    def _teacher_forced(self, rows: Sequence[Mapping[str, Any]]) -> list[list[float]]:
        import torch

        collate = TrainingCollator(self.processor)
        result: list[list[float]] = [[] for _ in rows]
        for indices, chunk in self._batches(rows, length_order(rows, with_answer=True)):
            batch = {k: v.to(self.device) for k, v in collate(chunk).items()}
            with torch.inference_mode():
                logits, targets, counts = answer_logits(self.model, batch)
            picked = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            for i, row_logprobs in zip(indices, picked.split(counts)):
                result[i] = row_logprobs.tolist()
        return result


def _memoised(
    known: dict[Hashable, Any],
    keys: Sequence[Hashable],
    rows: Sequence[Mapping[str, Any]],
    compute: Callable[[Sequence[Mapping[str, Any]]], Sequence[Any]],
) -> list[Any]:
    """``compute`` of each row, from ``known`` by key; computed (and kept) for the first row of
    each key not known yet."""
    fresh: dict[Hashable, int] = {}
    for i, key in enumerate(keys):
        if key not in known:
            fresh.setdefault(key, i)
    known.update(zip(fresh, compute([rows[i] for i in fresh.values()])))
    return [known[key] for key in keys]


class PredictionsFile:
    """Predictions submitted as JSONL: one ``{"id", "prediction", "logprobs"?}`` per line."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise AdapterError(f"predictions file {path} does not exist; expected JSONL of {{id, prediction}}")
        self.name = str(path)
        self.predictions: dict[str, str] = {}
        self.logprobs: dict[str, list[float]] = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                self._add(path, number, line)

    def _add(self, path: Path, number: int, line: str) -> None:
        """One record: a row's prediction (and its answer's log-probabilities), or, with no
        prediction, the log-probabilities of a truth-ratio answer (``<id>#paraphrased``)."""
        try:
            record = json.loads(line)
            row_id = record["id"]
            prediction = record["prediction"] if "prediction" in record or "logprobs" not in record else None
        except (ValueError, KeyError, TypeError) as err:
            raise AdapterError(f"{path}:{number}: expected a JSON object with 'id' and 'prediction' ({err})") from err
        if not isinstance(row_id, str) or not isinstance(prediction, (str, type(None))):
            raise AdapterError(f"{path}:{number}: 'id' and 'prediction' must be strings")
        if row_id in self.predictions or row_id in self.logprobs:
            raise AdapterError(f"{path}:{number}: duplicate prediction for id {row_id!r}")
        if prediction is not None:
            self.predictions[row_id] = prediction
        if "logprobs" in record:
            values = record["logprobs"]
            if not isinstance(values, list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in values
            ):
                raise AdapterError(f"{path}:{number}: 'logprobs' must be a list of numbers")
            self.logprobs[row_id] = [float(x) for x in values]

    def _missing(self, rows: Sequence[Mapping[str, Any]], have: Mapping[str, Any]) -> list[str]:
        return [r["id"] for r in rows if r["id"] not in have]

    def covers(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Whether every row has a prediction (optional probes run only then)."""
        return not self._missing(rows, self.predictions)

    def generate(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        missing = self._missing(rows, self.predictions)
        if missing:
            raise AdapterError(f"{self.name} has no prediction for {len(missing)} rows, e.g. {missing[:20]}")
        return [self.predictions[r["id"]] for r in rows]

    def answer_logprobs(self, rows: Sequence[Mapping[str, Any]]) -> list[list[float]] | None:
        if self._missing(rows, self.logprobs):
            return None
        return [self.logprobs[r["id"]] for r in rows]


def endpoint_client(base_url: str, api_key_env: str, timeout: float) -> Any:
    """An OpenAI client for any compatible endpoint; the key from ``api_key_env`` (local servers
    need none), three retries."""
    import os

    from openai import OpenAI

    return OpenAI(
        base_url=base_url, api_key=os.environ.get(api_key_env) or "not-needed", timeout=timeout, max_retries=3
    )


class EndpointAdapter:
    """Any OpenAI-compatible chat endpoint (vLLM, llama.cpp, Ollama, ``transformers serve``, a
    hosted API): each row is one chat request, its image sent as a PNG data URL; greedy
    (temperature 0); ``concurrency`` requests in flight. Black box: no log-probabilities."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        max_tokens: int = 48,
        timeout: float = 60.0,
    ):
        self.name = f"{model}@{base_url}"
        self.model = model
        self.endpoint_url = base_url  # what evaluate() checks against the data's licence
        self.max_tokens = max_tokens
        self.concurrency = concurrency
        self.client = endpoint_client(base_url, api_key_env, timeout)

    def _messages(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        import base64
        import io

        content: list[dict[str, Any]] = []
        if row["image"] is not None:
            buffer = io.BytesIO()
            row["image"].save(buffer, format="PNG")
            url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
            content.append({"type": "image_url", "image_url": {"url": url}})
        content.append({"type": "text", "text": row["question"]})
        return [{"role": "user", "content": content}]

    def _ask(self, row: Mapping[str, Any]) -> str:
        from openai import OpenAIError

        try:
            reply = self.client.chat.completions.create(
                model=self.model, messages=self._messages(row), temperature=0, max_tokens=self.max_tokens
            )
        except OpenAIError as err:
            raise AdapterError(f"{self.name} failed on row {row['id']}: {err}") from err
        return (reply.choices[0].message.content or "").strip()

    def generate(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._ask, rows))

    def answer_logprobs(self, rows: Sequence[Mapping[str, Any]]) -> list[list[float]] | None:
        return None
