"""An in-process OpenAI-compatible chat server: the real ``openai`` client talks HTTP to it.

``serve(reply)`` runs it on a free port; ``reply(body)`` maps each request body to
``(status, content)`` or ``(status, content, headers)``, where content is the assistant's text
(status 200) or an error message, and headers are extra response headers (``Retry-After``). A
reply function may sleep to make the client time out. Every request body is kept in
``server.seen``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.local_server import running

Reply = Callable[[dict], "tuple[int, str] | tuple[int, str, dict[str, str]]"]


@dataclass
class Server:
    url: str
    seen: list[dict] = field(default_factory=list)


@contextmanager
def serve(reply: Reply) -> Iterator[Server]:
    server = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.seen.append(body)
            status, content, *extra = reply(body)
            if status == 200:
                message = {"role": "assistant", "content": content}
                data = {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                }
            else:
                data = {"error": {"message": content, "type": "invalid_request_error"}}
            encoded = json.dumps(data).encode()
            try:
                self.send_response(status)
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        def log_message(self, *args):
            pass

    with running(Handler) as url:
        server.url = f"{url}/v1"
        yield server
