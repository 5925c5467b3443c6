"""One local HTTP server for the drill: the exporters' /metrics, and the webhook every receiver
that would notify a person (PagerDuty, Slack) posts to instead."""

from __future__ import annotations

import contextlib
import http.server
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


class Scrapeable(Protocol):
    """What answers a scrape: a status and the exposition text."""

    def scrape(self) -> tuple[int, bytes]: ...


@dataclass(frozen=True, slots=True)
class Notification:
    stack: str
    receiver: str
    received: float  # wall-clock seconds
    payload: dict[str, Any]


@dataclass(slots=True)
class Exchange:
    """The exporters' targets (path -> what it serves) and the notifications the webhook got."""

    targets: dict[str, Scrapeable] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, stack: str) -> list[Notification]:
        with self.lock:
            return [note for note in self.notifications if note.stack == stack]


def describe(alert: dict[str, Any]) -> str:
    """An alert as the report names it: "alertname (namespace)"."""
    return f"{alert['labels']['alertname']} ({alert['labels'].get('namespace', '-')})"


@contextlib.contextmanager
def serving(exchange: Exchange) -> Iterator[str]:
    """GET /<stack>/<target>/metrics as the exporters, POST /<stack>/<receiver> as the receivers'
    webhook. Yields the server's host:port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            target = exchange.targets.get(self.path)
            status, body = target.scrape() if target else (404, b"no such target\n")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            stack, _, receiver = self.path.strip("/").partition("/")
            with exchange.lock:
                exchange.notifications.append(Notification(stack, receiver, time.time(), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a scraper gone mid-answer
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
