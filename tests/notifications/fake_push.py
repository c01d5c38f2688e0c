"""A fake push service: a real HTTP server on loopback that can be made to fail."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)
    status: int = 0  # what it was answered

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class FakePush:
    """Answers each POST with what `answer(request)` says: (status, headers, delay s)
    or (status, headers, delay s, body)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.changed = threading.Condition()
        self.answer: Callable[[Received], tuple[int, dict, float]] = lambda r: (200, {}, 0.0)
        self.release = threading.Event()  # lets requests told to hang go on
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                   self.rfile.read(length))
                with fake.changed:
                    fake.received.append(request)
                    fake.changed.notify_all()
                status, headers, delay, *rest = fake.answer(request)
                request.status = status
                if delay:
                    fake.release.wait(delay)
                body = rest[0] if rest else b"{}"
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 20) -> list:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.received):
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; received {[r.json for r in self.received]}"
                self.changed.wait(left)
            return list(self.received)

    def keys(self) -> list[str]:
        with self.changed:
            return [r.headers["idempotency-key"] for r in self.received]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def outbox(env: dict) -> list[dict]:
    """The server's notification rows (read straight from its database)."""
    query = ("SELECT n.id, n.key, n.state, n.attempts, n.channel, n.seq, d.device, d.enabled "
             "FROM notifications_notification n JOIN notifications_device d "
             "ON d.id = n.device_id ORDER BY n.id")
    columns = ["id", "key", "state", "attempts", "channel", "seq", "device", "enabled"]
    return [dict(zip(columns, row, strict=True)) for row in _query(env, query)]


def outbox_intents(env: dict) -> list[list]:
    """The keys of every outbox intent still in the server's database."""
    return [json.loads(keys) if isinstance(keys, str) else keys for (keys,) in _query(
        env, "SELECT keys FROM notifications_outboxintent ORDER BY id")]


def _query(env: dict, query: str) -> list[tuple]:
    if env.get("DATABASE_URL"):
        import psycopg

        with psycopg.connect(env["DATABASE_URL"]) as conn:
            return conn.execute(query).fetchall()
    path = Path(env["IM_DATA_DIR"]) / "im.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(query).fetchall()


def wait_outbox(env: dict, predicate: Callable[[list[dict]], bool], timeout: float = 20) -> list:
    """Polls the database (it has no event to wait on) until predicate holds."""
    deadline = time.monotonic() + timeout
    while True:
        rows = outbox(env)
        if predicate(rows):
            return rows
        assert time.monotonic() < deadline, f"timed out; outbox {rows}"
        time.sleep(0.1)
