"""Child processes for the tests and the benchmark: imserver, a private Redis, fresh
PostgreSQL databases. Every child is stopped by its own pid, never by name.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
IMSERVER_READY = "imserver ready"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready_fields(line: str) -> dict[str, str]:
    """`<name> ready k=v k=v ...` -> {k: v}."""
    return dict(p.split("=", 1) for p in line.split()[2:])


def wait_for_line(proc: subprocess.Popen, prefix: str, timeout: float, *,
                  log: IO[str] | None = None) -> str:
    """Read a child's stdout until a line starting with `prefix` and return it. With
    `log`, every line goes there, and the rest of stdout is drained into it on a
    thread (a child writing into a full pipe would block). Kills the child if the
    line never comes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if log is not None:
            log.write(line)
        if line.startswith(prefix):
            if log is not None:
                threading.Thread(target=_drain, args=(proc, log), daemon=True).start()
            return line
    proc.kill()
    proc.wait()
    raise RuntimeError(f"{prefix!r} never came (exit code {proc.poll()})")


def _drain(proc: subprocess.Popen, log: IO[str]) -> None:
    for line in proc.stdout:
        log.write(line)


def start_imserver(env: dict, *, host: str = "127.0.0.1", stderr=None,
                   log: IO[str] | None = None, preexec_fn=None, workers: int | None = None,
                   timeout: float = 60) -> tuple[subprocess.Popen, dict[str, str]]:
    """`manage.py imserver` on ports it chooses itself (with `workers`, that many worker
    processes sharing them); returns the process and the fields of its ready line
    (`http`, `tcp`, and `workers`)."""
    more = ["--workers", str(workers)] if workers is not None else []
    proc = subprocess.Popen(
        [PYTHON, "manage.py", "imserver", "--host", host, "--http-port", "0", "--tcp-port", "0",
         *more],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        preexec_fn=preexec_fn,
    )
    line = wait_for_line(proc, IMSERVER_READY, timeout, log=log)
    return proc, ready_fields(line)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    """Signal a child, wait `timeout`, then kill it; returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def start_redis(port: int, data_dir: str, extra: list[str] = (), *,
                preexec_fn=None) -> subprocess.Popen:
    """redis-server on 127.0.0.1:`port` without persistence, once it answers PING."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", data_dir, *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec_fn,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait(10)
    raise RuntimeError("redis-server did not start")


class RedisServer:
    """A private redis-server on a free port (no persistence), so runs never see each
    other's keys."""

    def __init__(self, *, maxclients: int | None = None, preexec_fn=None) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="im-redis-")
        extra = ["--maxclients", str(maxclients)] if maxclients is not None else []
        self.proc = start_redis(self.port, self.dir, extra, preexec_fn=preexec_fn)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def flushall(self) -> None:
        import redis  # optional: only the tests that flush need the client

        redis.Redis(port=self.port).flushall()

    def stop(self, timeout: float = 10) -> None:
        stop_process(self.proc, timeout=timeout)
        shutil.rmtree(self.dir, ignore_errors=True)


class MongoServer:
    """A private MongoDB-protocol server on a free port: SecantusDB (MongoDB's wire
    protocol over WiredTiger), its data in a folder of its own that outlives a
    restart of the process. Clients connect with retryWrites=false."""

    def __init__(self, *, data_dir: str | None = None) -> None:
        self.dir = data_dir or tempfile.mkdtemp(prefix="im-mongo-")
        self.port = free_port()
        self.start()

    def start(self) -> None:
        binary = shutil.which("secantusd-py") or str(Path(PYTHON).with_name("secantusd-py"))
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(self.port),
             "--storage-path", os.path.join(self.dir, "data"), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir,
        )
        import pymongo  # optional: only the MongoDB runs need the driver

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                client = pymongo.MongoClient(self.url(), serverSelectionTimeoutMS=200)
                client.admin.command("ping")
                client.close()
                return
            except pymongo.errors.PyMongoError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the MongoDB-protocol server did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, database: str = "im") -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}?retryWrites=false"

    def stop(self, timeout: float = 10, *, keep_data: bool = False) -> None:
        stop_process(self.proc, timeout=timeout)
        if not keep_data:
            shutil.rmtree(self.dir, ignore_errors=True)


def create_postgres_database(base_url: str, prefix: str = "im_test") -> tuple[str, str]:
    """A fresh database on the same server; returns (url, name)."""
    import psycopg  # optional: SQLite runs never need it

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + "/" + name, name


def drop_postgres_database(base_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
