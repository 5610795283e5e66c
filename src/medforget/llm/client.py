"""A robust client for any OpenAI-compatible chat endpoint, shared by LLM QA and the LLM judge.

- ``concurrency`` requests in flight (a thread pool) and a timeout per request;
- 408, 409, 429 and 5xx replies, timeouts and dropped connections are retried up to
  ``max_retries`` times with exponential backoff (``backoff`` seconds, doubled each time, at most
  ``max_backoff``), waiting instead what the server's ``Retry-After`` (or ``retry-after-ms``)
  header asks for; any other refusal fails at once;
- a disk cache of every reply, keyed by (model, prompt id and version, rendered prompt, image
  hashes, sampling settings), so a rebuild makes no request;
- counters of requests, cache hits and retries, and a progress bar with rate and ETA.

The ``openai`` package is imported only when a client is made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from medforget.errors import ConfigError, MedForgetError

logger = logging.getLogger(__name__)

CACHE_ENV = "MEDFORGET_LLM_CACHE"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
_RETRIED_STATUSES = frozenset({408, 409, 429})  # and every 5xx


class LLMError(MedForgetError):
    """An LLM endpoint could not give what was asked of it."""


class LLMRequestError(LLMError):
    """A request failed for good: refused, or still failing after every retry."""


def default_cache_dir() -> Path:
    """``$MEDFORGET_LLM_CACHE``, else ``$XDG_CACHE_HOME/medforget/llm`` (``~/.cache/medforget/llm``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medforget" / "llm"


@dataclass(frozen=True)
class Endpoint:
    """Where to ask (an OpenAI-compatible base URL and model name) and the client's limits."""

    base_url: str
    model: str
    #: environment variable holding the API key; local servers need none
    api_key_env: str = DEFAULT_KEY_ENV
    #: requests in flight at once
    concurrency: int = 4
    #: seconds one request may take
    timeout: float = 60.0
    #: retries of one request after 408, 409, 429, 5xx, a timeout or a dropped connection
    max_retries: int = 3
    #: wait before the first retry, doubled for each further one (seconds)
    backoff: float = 0.5
    #: longest wait, also the cap on a server's Retry-After (seconds)
    max_backoff: float = 60.0
    #: the reply cache; None: :func:`default_cache_dir`
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        checks = [
            (bool(self.base_url) and bool(self.model), "an endpoint needs a base URL and a model name"),
            (self.concurrency >= 1, f"concurrency must be >= 1, got {self.concurrency}"),
            (self.timeout > 0, f"timeout must be > 0 seconds, got {self.timeout}"),
            (self.max_retries >= 0, f"max_retries must be >= 0, got {self.max_retries}"),
            (0 <= self.backoff <= self.max_backoff, "need 0 <= backoff <= max_backoff"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid LLM endpoint settings: {message}")

    def api_key(self) -> str:
        """The key from ``api_key_env``; a placeholder when the default variable is unset (local
        servers ignore it), an error when a variable named on purpose is unset."""
        key = os.environ.get(self.api_key_env)
        if key:
            return key
        if self.api_key_env != DEFAULT_KEY_ENV:
            raise ConfigError(
                f"the API key variable {self.api_key_env} is not set: export it, or leave the key "
                f"variable out for a local server that needs no key"
            )
        return "not-needed"


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion: the rendered prompt, its sampling settings and what identifies it."""

    prompt_id: str
    prompt_version: str
    messages: tuple[Mapping[str, str], ...]  # {"role", "content"} text messages
    temperature: float = 0.0
    max_tokens: int = 256
    response_format: Mapping[str, Any] | None = None
    #: PNG images (vision endpoints), sent with message ``images_at`` (None: the last); the key holds their sha256
    images: tuple[bytes, ...] = field(default=(), repr=False)
    images_at: int | None = None

    @property
    def image_message(self) -> int:
        """Index of the message the images go with."""
        return len(self.messages) - 1 if self.images_at is None else self.images_at

    def cache_key(self, model: str) -> str:
        identity = {
            "model": model,
            "prompt": [self.prompt_id, self.prompt_version],
            "messages": list(self.messages),
            "images": [hashlib.sha256(png).hexdigest() for png in self.images],
            "images_at": self.image_message if self.images else None,
            "sampling": [self.temperature, self.max_tokens],
            "response_format": self.response_format,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def body(self, model: str) -> dict[str, Any]:
        """Keyword arguments of ``chat.completions.create``."""
        import base64

        messages: list[dict[str, Any]] = [dict(m) for m in self.messages]
        if self.images:
            parts: list[dict[str, Any]] = [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}}
                for png in self.images
            ]
            at = self.image_message
            messages[at]["content"] = [*parts, {"type": "text", "text": self.messages[at]["content"]}]
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.response_format is not None:
            body["response_format"] = dict(self.response_format)
        return body


@dataclass(frozen=True)
class Reply:
    text: str
    cache_key: str
    cached: bool


@dataclass(frozen=True)
class ClientStats:
    #: HTTP requests sent, retries included
    requests: int = 0
    cache_hits: int = 0
    #: requests sent again after a retried failure
    retries: int = 0
    #: requests that failed for good
    failed: int = 0
    #: requests of a batch answered by an identical one (sent once)
    shared: int = 0


class ReplyCache:
    """Replies on disk, one JSON file per key (``<root>/<key[:2]>/<key>.json``), written atomically."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        path = self._path(key)
        try:
            reply = json.loads(path.read_text(encoding="utf-8"))["reply"]
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError):
            logger.warning("ignoring the unreadable LLM cache entry %s", path)
            return None
        return reply if isinstance(reply, str) else None

    def put(self, key: str, model: str, request: ChatRequest, reply: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "key": key,
            "model": model,
            "prompt_id": request.prompt_id,
            "prompt_version": request.prompt_version,
            "messages": list(request.messages),
            "reply": reply,
        }
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a server asks to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or as an HTTP date."""
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
    except (TypeError, ValueError):
        return None


class LLMClient:
    """Chat completions from one :class:`Endpoint`, cached, retried, counted. Thread-safe."""

    def __init__(self, endpoint: Endpoint, sleep: Callable[[float], None] = time.sleep):
        from openai import OpenAI

        self.endpoint = endpoint
        self.cache = ReplyCache(endpoint.cache_dir or default_cache_dir())
        # retries are ours (counted, Retry-After capped), so the openai client makes none
        self._openai = OpenAI(
            base_url=endpoint.base_url, api_key=endpoint.api_key(), timeout=endpoint.timeout, max_retries=0
        )
        self._sleep = sleep
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    @property
    def stats(self) -> ClientStats:
        with self._lock:
            return ClientStats(**self._counts)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def complete(self, request: ChatRequest) -> Reply:
        """The reply to ``request``: from the cache, else from the endpoint (then cached)."""
        key = request.cache_key(self.endpoint.model)
        cached = self.cache.get(key)
        if cached is not None:
            self._count("cache_hits")
            return Reply(cached, key, cached=True)
        text = self._send(request)
        self.cache.put(key, self.endpoint.model, request, text)
        return Reply(text, key, cached=False)

    def complete_all(self, requests: Sequence[ChatRequest], desc: str = "llm") -> list[Reply | LLMRequestError]:
        """Replies in request order, ``concurrency`` in flight; a request that failed for good
        gives its :class:`LLMRequestError` in its place. Identical requests (same cache key: two
        rows whose prompts render alike) are sent once and share the reply."""
        from tqdm import tqdm

        keys = [request.cache_key(self.endpoint.model) for request in requests]
        first = {key: n for n, key in reversed(list(enumerate(keys)))}  # key -> its first request
        results: dict[str, Reply | LLMRequestError] = {}
        with (
            ThreadPoolExecutor(max_workers=self.endpoint.concurrency) as pool,
            tqdm(total=len(first), desc=desc, unit="req", leave=False) as bar,
        ):
            futures = {pool.submit(self.complete, requests[n]): key for key, n in first.items()}
            for future in as_completed(futures):
                try:
                    results[futures[future]] = future.result()
                except LLMRequestError as err:
                    results[futures[future]] = err
                bar.update()
        with self._lock:
            self._counts["shared"] += len(requests) - len(first)
        return [results[key] for key in keys]

    def _send(self, request: ChatRequest) -> str:
        from openai import APIConnectionError, APIStatusError, OpenAIError

        body = request.body(self.endpoint.model)
        attempt = 0
        while True:
            self._count("requests")
            try:
                response = self._openai.chat.completions.create(**body)
            except OpenAIError as err:
                status = err.status_code if isinstance(err, APIStatusError) else None
                retried = isinstance(err, APIConnectionError) or status in _RETRIED_STATUSES or (status or 0) >= 500
                if not retried or attempt >= self.endpoint.max_retries:
                    self._count("failed")
                    raise LLMRequestError(
                        f"{self.endpoint.model} at {self.endpoint.base_url} failed a {request.prompt_id} request "
                        f"after {attempt + 1} attempt(s): {type(err).__name__}: {err}"
                    ) from err
                wait = self._wait(err, attempt)
                logger.info(
                    "%s request: %s; retry %d in %.1fs", request.prompt_id, type(err).__name__, attempt + 1, wait
                )
                self._count("retries")
                self._sleep(wait)
                attempt += 1
                continue
            choices = getattr(response, "choices", None) or []
            return (choices[0].message.content or "") if choices else ""

    def _wait(self, err: Exception, attempt: int) -> float:
        response = getattr(err, "response", None)
        asked = retry_after(response.headers if response is not None else None)
        wait = self.endpoint.backoff * 2**attempt if asked is None else asked
        return min(max(wait, 0.0), self.endpoint.max_backoff)
