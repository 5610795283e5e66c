"""The endpoint adapter against an in-process OpenAI-compatible server (the real client)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from medforget.models.adapters import AdapterError, EndpointAdapter


class FakeChat(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeChat.seen.append(body)
        text = body["messages"][0]["content"][-1]["text"]
        if text == "boom":
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "bad request", "type": "invalid_request_error"}}')
            return
        answer = f"echo: {text}"
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_rows_become_chat_requests_with_images(server: str):
    rows = [{"id": "a", "question": "What is shown?", "image": Image.new("L", (8, 8))},
            {"id": "b", "question": "Who is the patient?", "image": None}]
    FakeChat.seen.clear()
    answers = EndpointAdapter(server, "fake-vlm", concurrency=2).generate(rows)
    assert answers == ["echo: What is shown?", "echo: Who is the patient?"]
    by_text = {r["messages"][0]["content"][-1]["text"]: r for r in FakeChat.seen}
    image_part = by_text["What is shown?"]["messages"][0]["content"][0]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    assert len(by_text["Who is the patient?"]["messages"][0]["content"]) == 1
    assert all(r["temperature"] == 0 and r["model"] == "fake-vlm" for r in FakeChat.seen)


def test_a_refused_request_is_a_typed_error_naming_the_row(server: str):
    with pytest.raises(AdapterError, match="failed on row z"):
        EndpointAdapter(server, "fake-vlm").generate([{"id": "z", "question": "boom", "image": None}])
