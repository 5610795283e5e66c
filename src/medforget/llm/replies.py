"""Checked replies: JSON read out of a model's text, validated against a JSON schema and then by a
job's own check; a reply that fails is asked again, with the reason, a bounded number of times.

Each retry is a new conversation turn (the rejected reply, then what was wrong with it), so it has
its own cache key: a rebuild replays the same attempts from the cache.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from medforget.llm.client import ChatRequest, LLMClient, LLMError, LLMRequestError


class InvalidReply(LLMError):
    """A reply that does not parse, breaks its schema, or fails its job's check."""


class LLMOutputError(LLMError):
    """LLM replies stayed invalid after every attempt, and falling back to templates was not allowed."""


def parse_reply(text: str, schema: Mapping[str, Any]) -> Any:
    """The JSON value of ``text`` (a fenced block or prose around one object is tolerated),
    validated against ``schema``."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    data = _json(text)
    error = best_match(Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the reply"
        raise InvalidReply(f"{where}: {error.message}")
    return data


def _json(text: str) -> Any:
    stripped = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    for candidate in (stripped, stripped[stripped.find("{") : stripped.rfind("}") + 1]):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise InvalidReply(f"not a JSON object: {text[:160]!r}")


def response_format(mode: str, name: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """What to send as ``response_format``: ``json_schema`` (vLLM, llama.cpp, OpenAI), ``json_object``, or ``none``."""
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema), "strict": True}}
    return {"type": "json_object"} if mode == "json_object" else None


@dataclass(frozen=True)
class Job:
    """One question to an LLM: its first request, the reply's schema, and the check that turns the
    parsed reply into the value used (raising :class:`InvalidReply` when it may not be used)."""

    subject: str  # what it is about (a fact or QA id), for error listings
    request: ChatRequest
    schema: Mapping[str, Any]
    check: Callable[[Any], Any]


@dataclass(frozen=True)
class Outcome:
    """What a job gave: ``value`` and the ``cache_key`` of the reply it came from, or the last ``error``."""

    value: Any = None
    cache_key: str | None = None
    error: str | None = None
    #: replies rejected before this outcome
    invalid: int = 0
    #: the endpoint failed (not the reply): never a reason to fall back
    request_failed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def ask(client: LLMClient, jobs: Sequence[Job], max_attempts: int, desc: str) -> list[Outcome]:
    """Every job's outcome, in order. Attempts go in rounds: all first requests, concurrently,
    then a retry of each rejected reply, up to ``max_attempts`` replies per job."""
    pending = {n: job.request for n, job in enumerate(jobs)}
    outcomes: dict[int, Outcome] = {}
    for attempt in range(1, max_attempts + 1):
        label = desc if attempt == 1 else f"{desc} (retry {attempt - 1})"
        replies = client.complete_all(list(pending.values()), desc=label)
        retries: dict[int, ChatRequest] = {}
        for (n, request), reply in zip(pending.items(), replies):
            if isinstance(reply, LLMRequestError):
                outcomes[n] = Outcome(error=str(reply), invalid=attempt - 1, request_failed=True)
                continue
            try:
                value = jobs[n].check(parse_reply(reply.text, jobs[n].schema))
            except InvalidReply as err:
                outcomes[n] = Outcome(error=str(err), invalid=attempt)
                retries[n] = _retry(request, reply.text, str(err))
                continue
            outcomes[n] = Outcome(value=value, cache_key=reply.cache_key, invalid=attempt - 1)
        pending = retries
        if not pending:
            break
    return [outcomes[n] for n in range(len(jobs))]


def _retry(request: ChatRequest, reply: str, error: str) -> ChatRequest:
    turn = (
        {"role": "assistant", "content": reply},
        {"role": "user", "content": f"That reply is not valid: {error}. Reply again with the JSON object only."},
    )
    return dataclasses.replace(request, messages=(*request.messages, *turn), images_at=request.image_message)
