"""A device cloud on a real local port for the tests: it answers each deactivation request from
a script (status, body, headers, an optional delay) and keeps every request it got."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Answer:
    """One scripted answer."""

    status: int
    body: Any = None  # a dict is sent as JSON, a str as text
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (to provoke a client timeout)


def confirmed(reference: str = "CLOUD-REF-1", status: str = "deactivated") -> Answer:
    """The contract's confirmation."""
    return Answer(200, {"status": status, "reference": reference})


@dataclass
class FakeCloud:
    """The running server: `url` is the base URL a brand configures; `requests` what it got."""

    url: str
    script: list[Answer]
    requests: list[dict[str, Any]] = field(default_factory=list)

    def next_answer(self) -> Answer:
        # The last answer repeats once the script runs out.
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


@contextmanager
def fake_cloud(*script: Answer) -> Iterator[FakeCloud]:
    """Serve the script on 127.0.0.1 (a free port) under /v1 until the block ends."""
    cloud = FakeCloud(url="", script=list(script))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                cloud.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "json": json.loads(raw) if raw else None,
                    }
                )
                answer = cloud.next_answer()
            if answer.delay:
                time.sleep(answer.delay)
            body = (
                json.dumps(answer.body).encode()
                if isinstance(answer.body, dict)
                else str(answer.body or "").encode()
            )
            try:
                self.send_response(answer.status)
                content_type = "application/json" if isinstance(answer.body, dict) else "text/plain"
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    cloud.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield cloud
    finally:
        server.shutdown()
        server.server_close()
