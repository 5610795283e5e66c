"""The endpoint adapter against an in-process OpenAI-compatible server (the real client)."""

from __future__ import annotations

import pytest
from PIL import Image

from medforget.models.adapters import AdapterError, EndpointAdapter
from tests.fake_openai import serve


def echo(body: dict) -> tuple[int, str]:
    text = body["messages"][0]["content"][-1]["text"]
    return (400, "bad request") if text == "boom" else (200, f"echo: {text}")


def test_rows_become_chat_requests_with_images():
    rows = [
        {"id": "a", "question": "What is shown?", "image": Image.new("L", (8, 8))},
        {"id": "b", "question": "Who is the patient?", "image": None},
    ]
    with serve(echo) as server:
        answers = EndpointAdapter(server.url, "fake-vlm", concurrency=2).generate(rows)
    assert answers == ["echo: What is shown?", "echo: Who is the patient?"]
    by_text = {r["messages"][0]["content"][-1]["text"]: r for r in server.seen}
    image_part = by_text["What is shown?"]["messages"][0]["content"][0]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    assert len(by_text["Who is the patient?"]["messages"][0]["content"]) == 1
    assert all(r["temperature"] == 0 and r["model"] == "fake-vlm" for r in server.seen)


def test_a_refused_request_is_a_typed_error_naming_the_row():
    with serve(echo) as server, pytest.raises(AdapterError, match="failed on row z"):
        EndpointAdapter(server.url, "fake-vlm").generate([{"id": "z", "question": "boom", "image": None}])
