"""Checked replies: JSON read and validated against a schema, a rejected reply asked again with the
reason (a turn with its own cache key), a bounded number of times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.llm.client import ChatRequest, Endpoint, LLMClient
from medforget.llm.replies import InvalidReply, Job, ask, parse_reply, response_format
from tests.fake_openai import serve

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": False}


def even(data: dict) -> int:
    if data["n"] % 2:
        raise InvalidReply(f"{data['n']} is odd")
    return data["n"]


def job(text: str) -> Job:
    request = ChatRequest(
        "count",
        "1.0.0",
        ({"role": "user", "content": text},),
        response_format=response_format("json_schema", "count", SCHEMA),
    )
    return Job(text, request, SCHEMA, even)


def test_parse_reply_reads_fenced_or_embedded_json_and_names_schema_breaks():
    assert parse_reply('```json\n{"n": 2}\n```', SCHEMA) == {"n": 2}
    assert parse_reply('Sure! Here it is: {"n": 4} Hope that helps.', SCHEMA) == {"n": 4}
    with pytest.raises(InvalidReply, match="not a JSON object"):
        parse_reply("two", SCHEMA)
    with pytest.raises(InvalidReply, match="n: 'two' is not of type 'integer'"):
        parse_reply('{"n": "two"}', SCHEMA)
    with pytest.raises(InvalidReply, match="'n' is a required property"):
        parse_reply("{}", SCHEMA)


def test_response_format_modes():
    assert response_format("json_schema", "count", SCHEMA)["json_schema"] == {
        "name": "count",
        "schema": SCHEMA,
        "strict": True,
    }
    assert response_format("json_object", "count", SCHEMA) == {"type": "json_object"}
    assert response_format("none", "count", SCHEMA) is None


def fussy(body: dict) -> tuple[int, str]:
    """Malformed JSON first, an odd number after that, 8 once told what was wrong twice."""
    turns = len(body["messages"])
    return 200, ['{"n": 8', '{"n": 3}', '{"n": 8}'][min(turns // 2, 2)]


def test_malformed_json_then_success_retries_with_the_reason(tmp_path: Path):
    with serve(fussy) as server:
        llm = LLMClient(Endpoint(server.url, "fake", cache_dir=tmp_path))
        [outcome] = ask(llm, [job("count")], max_attempts=3, desc="count")
        assert (outcome.ok, outcome.value, outcome.invalid) == (True, 8, 2)
        assert len(server.seen) == 3 and server.seen[0]["response_format"]["type"] == "json_schema"
        retry = server.seen[1]["messages"]
        assert retry[1] == {"role": "assistant", "content": '{"n": 8'}
        assert "not a JSON object" in retry[2]["content"]
        assert "3 is odd" in server.seen[2]["messages"][4]["content"]
        # a rebuild replays the same three attempts from the cache, sending nothing
        again = LLMClient(Endpoint(server.url, "fake", cache_dir=tmp_path))
        assert ask(again, [job("count")], max_attempts=3, desc="count")[0].value == 8
        assert len(server.seen) == 3 and again.stats.cache_hits == 3


def test_attempts_are_bounded_and_the_last_error_kept(tmp_path: Path):
    with serve(lambda body: (200, json.dumps({"n": 1}))) as server:
        outcomes = ask(
            LLMClient(Endpoint(server.url, "fake", cache_dir=tmp_path)),
            [job("a"), job("b")],
            max_attempts=2,
            desc="count",
        )
    assert [(o.ok, o.invalid, o.error) for o in outcomes] == [(False, 2, "1 is odd")] * 2
    assert len(server.seen) == 4


def test_a_failed_request_is_an_outcome_not_a_reply(tmp_path: Path):
    with serve(lambda body: (404, "no such model")) as server:
        [outcome] = ask(LLMClient(Endpoint(server.url, "fake", cache_dir=tmp_path)), [job("a")], 3, "count")
    assert outcome.request_failed and "no such model" in outcome.error and len(server.seen) == 1


def test_a_retry_keeps_the_image_with_the_question(tmp_path: Path):
    request = ChatRequest("count", "1.0.0", ({"role": "user", "content": "count the dots"},), images=(b"png",))
    with serve(fussy) as server:
        ask(
            LLMClient(Endpoint(server.url, "fake", cache_dir=tmp_path)),
            [Job("dots", request, SCHEMA, even)],
            2,
            "count",
        )
    retry = server.seen[1]["messages"]
    assert retry[0]["content"][0]["type"] == "image_url" and isinstance(retry[2]["content"], str)
