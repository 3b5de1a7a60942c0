"""A local webhook for the alert tests: an HTTP server in a thread that answers with
scripted status codes and keeps what it received."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Webhook:
    """``url`` answers each POST with the next code of ``codes`` (200 once they run out)
    and appends it to ``received``."""

    url: str
    codes: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)


@contextmanager
def serve_webhook() -> Iterator[Webhook]:
    hook = Webhook("")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(size) or b"null")
            with lock:
                hook.received.append(Received(self.path, dict(self.headers), body))
                code = hook.codes.pop(0) if hook.codes else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
