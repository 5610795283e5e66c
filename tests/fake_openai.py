"""An in-process OpenAI-compatible chat server: the real ``openai`` client talks HTTP to it.

``serve(reply)`` runs it on a free port; ``reply(body)`` maps each request body to
``(status, content)``, where content is the assistant's text (status 200) or an error message.
Every request body is kept in ``server.seen``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = Callable[[dict], "tuple[int, str]"]


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
            status, content = reply(body)
            if status == 200:
                message = {"role": "assistant", "content": content}
                data = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}
            else:
                data = {"error": {"message": content, "type": "invalid_request_error"}}
            encoded = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield server
    finally:
        httpd.shutdown()
