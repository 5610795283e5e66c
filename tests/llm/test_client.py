"""The shared LLM client against an in-process OpenAI-compatible server: cache, retries honouring
Retry-After, backoff on 5xx, timeouts, refusals, the concurrency limit and the progress bar."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from medforget.errors import ConfigError
from medforget.llm.client import ChatRequest, Endpoint, LLMClient, LLMRequestError, Reply, retry_after
from tests.fake_openai import serve


def request(text: str = "hello", **extra) -> ChatRequest:
    return ChatRequest("probe", "1.0.0", ({"role": "user", "content": text},), **extra)


def client(url: str, tmp_path: Path, waits: list[float] | None = None, **settings) -> LLMClient:
    endpoint = Endpoint(url, "fake-llm", cache_dir=tmp_path / "cache", **settings)
    return LLMClient(endpoint, sleep=waits.append if waits is not None else time.sleep)


def scripted(*steps):
    """Replies in order, then the last one forever."""
    queue = list(steps)

    def reply(body: dict):
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return reply


def test_a_reply_is_cached_and_a_second_ask_sends_nothing(tmp_path: Path):
    with serve(lambda body: (200, "echo " + body["messages"][0]["content"])) as server:
        first = client(server.url, tmp_path).complete(request())
        again = client(server.url, tmp_path)  # a new client, as in a rebuild
        second = again.complete(request())
    assert (first.text, first.cached, second.text, second.cached) == ("echo hello", False, "echo hello", True)
    assert first.cache_key == second.cache_key and len(server.seen) == 1
    assert again.stats.requests == 0 and again.stats.cache_hits == 1
    assert server.seen[0]["model"] == "fake-llm" and server.seen[0]["temperature"] == 0.0


def test_the_cache_key_covers_model_prompt_version_text_images_and_sampling():
    base = request()
    keys = {
        base.cache_key("m"),
        base.cache_key("other-model"),
        request("hi").cache_key("m"),
        ChatRequest("probe", "2.0.0", base.messages).cache_key("m"),
        request(images=(b"png-1",)).cache_key("m"),
        request(images=(b"png-2",)).cache_key("m"),
        request(temperature=0.7).cache_key("m"),
    }
    assert len(keys) == 7 and base.cache_key("m") == request().cache_key("m")


def test_images_go_as_data_urls_with_the_last_message(tmp_path: Path):
    with serve(lambda body: (200, "ok")) as server:
        client(server.url, tmp_path).complete(request(images=(b"\x89PNG",)))
    content = server.seen[0]["messages"][0]["content"]
    assert content[0]["image_url"]["url"] == "data:image/png;base64,iVBORw=="
    assert content[1] == {"type": "text", "text": "hello"}


def test_429_waits_what_retry_after_asks_then_succeeds(tmp_path: Path):
    waits: list[float] = []
    with serve(scripted((429, "slow down", {"Retry-After": "7"}), (200, "done"))) as server:
        llm = client(server.url, tmp_path, waits)
        assert llm.complete(request()).text == "done"
    assert waits == [7.0] and len(server.seen) == 2
    assert llm.stats.requests == 2 and llm.stats.retries == 1 and llm.stats.failed == 0


def test_5xx_backs_off_exponentially_and_fails_typed_after_the_last_retry(tmp_path: Path):
    waits: list[float] = []
    with serve(scripted((500, "boom"), (503, "busy"), (200, "up again"))) as server:
        assert client(server.url, tmp_path, waits, backoff=0.25).complete(request()).text == "up again"
    assert waits == [0.25, 0.5]
    waits.clear()
    with serve(lambda body: (500, "down for good")) as server:
        llm = client(server.url, tmp_path, waits, max_retries=2, backoff=0.25)
        with pytest.raises(LLMRequestError, match=r"after 3 attempt\(s\).*down for good"):
            llm.complete(request("never cached"))
    assert waits == [0.25, 0.5] and len(server.seen) == 3 and llm.stats.failed == 1
    assert llm.cache.get(request("never cached").cache_key("fake-llm")) is None  # failures are not cached


def test_retry_after_is_capped_by_max_backoff(tmp_path: Path):
    waits: list[float] = []
    with serve(scripted((429, "later", {"Retry-After": "3600"}), (200, "ok"))) as server:
        client(server.url, tmp_path, waits, max_backoff=5).complete(request())
    assert waits == [5.0]


def test_a_refusal_is_not_retried(tmp_path: Path):
    with serve(lambda body: (400, "bad request")) as server, pytest.raises(LLMRequestError, match="BadRequestError"):
        client(server.url, tmp_path, []).complete(request())
    assert len(server.seen) == 1


def test_a_timed_out_request_is_retried(tmp_path: Path):
    calls = []

    def slow_then_fast(body: dict):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.5)
        return 200, "in time"

    waits: list[float] = []
    with serve(slow_then_fast) as server:
        llm = client(server.url, tmp_path, waits, timeout=0.3)
        assert llm.complete(request()).text == "in time"
    assert len(waits) == 1 and llm.stats.retries == 1


def test_complete_all_keeps_order_limits_concurrency_and_returns_failures_in_place(tmp_path: Path, capsys):
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def counting(body: dict):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        text = body["messages"][0]["content"]
        return (400, "no") if text == "q5" else (200, f"a{text[1:]}")

    with serve(counting) as server:
        replies = client(server.url, tmp_path, concurrency=3).complete_all(
            [request(f"q{n}") for n in range(12)], desc="probing"
        )
    assert [r.text if isinstance(r, Reply) else "error" for r in replies] == [
        f"a{n}" if n != 5 else "error" for n in range(12)
    ]
    assert isinstance(replies[5], LLMRequestError)
    assert 2 <= state["most"] <= 3
    # the progress bar: count of total, elapsed < ETA, rate
    assert re.search(r"probing: .*\d+/12 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+req/s\]", capsys.readouterr().err)


def test_identical_requests_of_a_batch_are_sent_once_and_share_the_reply(tmp_path: Path):
    sent: list[str] = []

    def echo(body: dict):
        sent.append(body["messages"][0]["content"])
        return 200, f"a{body['messages'][0]['content'][1:]}"

    with serve(echo) as server:
        llm = client(server.url, tmp_path)
        replies = llm.complete_all([request("q1"), request("q2"), request("q1"), request("q1")])
    assert [r.text for r in replies] == ["a1", "a2", "a1", "a1"]
    assert sorted(sent) == ["q1", "q2"] and llm.stats.requests == 2 and llm.stats.shared == 2


def test_retry_after_forms():
    assert retry_after({"retry-after": "2"}) == 2.0 and retry_after({"retry-after-ms": "250"}) == 0.25
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after({"retry-after": soon}) <= 30
    assert retry_after({"retry-after": "soon"}) is None and retry_after(None) is None


def test_endpoint_settings_are_checked_and_a_named_key_must_exist(monkeypatch):
    with pytest.raises(ConfigError, match="concurrency"):
        Endpoint("http://x/v1", "m", concurrency=0)
    monkeypatch.delenv("MY_LLM_KEY", raising=False)
    with pytest.raises(ConfigError, match="MY_LLM_KEY is not set"):
        Endpoint("http://x/v1", "m", api_key_env="MY_LLM_KEY").api_key()
    monkeypatch.setenv("MY_LLM_KEY", "sk-test")
    assert Endpoint("http://x/v1", "m", api_key_env="MY_LLM_KEY").api_key() == "sk-test"
