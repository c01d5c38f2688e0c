"""Real services for tests: imserver processes, a private Redis, fresh PostgreSQL databases."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server on a free port, so runs never see each other's keys."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="im-redis-")
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def flushall(self) -> None:
        import redis

        redis.Redis(port=self.port).flushall()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres_base_url() -> str | None:
    """The PostgreSQL server the suite runs against, or None for SQLite runs."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def create_postgres_database(base_url: str, prefix: str = "im_test") -> tuple[str, str]:
    """A fresh database on the same server; returns (url, name)."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + "/" + name, name


def drop_postgres_database(base_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Deployment:
    """What several imserver processes share: a database, and Redis if clustered."""

    data_dir: str
    env: dict
    pg: tuple[str, str] | None = None
    servers: list[ImServer] = field(default_factory=list)

    @classmethod
    def create(cls, *, redis_url: str | None = None, extra_env: dict | None = None) -> Deployment:
        data_dir = tempfile.mkdtemp(prefix="im-test-")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("IM_", "DATABASE_URL", "SECRET_KEY"))}
        # As deployed: DEBUG off (a test that wants debug pages sets IM_DEBUG=1), and
        # the key generated into the data folder, except for a cluster, whose nodes
        # share one SECRET_KEY.
        env.update({
            "IM_DATA_DIR": data_dir,
            "IM_FAST_PASSWORD_HASHER": "1",
            "IM_LOG_LEVEL": "WARNING",
            # Tests register hundreds of users from one address.
            "IM_REGISTER_RATE_IP": "100000/min",
            "IM_LOGIN_RATE_IP": "100000/min",
            "PYTHONUNBUFFERED": "1",
        })
        pg = None
        base = postgres_base_url()
        if base:
            pg = create_postgres_database(base)
            env["DATABASE_URL"] = pg[0]
        if redis_url:
            env["IM_REDIS_URL"] = redis_url
            env["SECRET_KEY"] = secrets.token_urlsafe(50)
            env["IM_REDIS_PREFIX"] = f"t{secrets.token_hex(4)}"
        env.update(extra_env or {})
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
        )
        return cls(data_dir=data_dir, env=env, pg=pg)

    def start_server(self, **extra_env) -> ImServer:
        server = ImServer.start(self.env | extra_env)
        self.servers.append(server)
        if self.env.get("IM_REDIS_URL"):
            self.wait_for_ring()
        return server

    def live_servers(self) -> list[ImServer]:
        return [s for s in self.servers if s.proc.poll() is None]

    def wait_for_ring(self, timeout: float = 30, members: int | None = None) -> int:
        """Wait until every live node serves the same ring, of `members` nodes (by
        default, all of them); answer its version."""
        import json
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while True:
            servers = self.live_servers()
            want = len(servers) if members is None else members
            seen = []
            for server in servers:
                try:
                    with urllib.request.urlopen(server.base_url + "/api/ready/", timeout=5) as r:
                        seen.append(json.loads(r.read()))
                except (urllib.error.URLError, OSError, ValueError):
                    seen.append(None)
            versions = {(a["ring"], a["nodes"]) for a in seen if a is not None}
            if None not in seen and len(versions) == 1 and versions.pop()[1] == want:
                return seen[0]["ring"]
            if time.monotonic() > deadline:
                raise RuntimeError(f"the nodes did not agree on a ring: {seen}")
            time.sleep(0.05)

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        if self.pg:
            drop_postgres_database(postgres_base_url(), self.pg[1])
        shutil.rmtree(self.data_dir, ignore_errors=True)


class ImServer:
    """`manage.py imserver` in a subprocess, on ports it chose itself."""

    def __init__(self, proc: subprocess.Popen, http: str, tcp: str, env: dict) -> None:
        self.proc = proc
        self.env = env
        self.http_address = http
        self.tcp_address = tcp
        host, port = tcp.rsplit(":", 1)
        self.tcp_host, self.tcp_port = host, int(port)

    @property
    def base_url(self) -> str:
        return f"http://{self.http_address}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.http_address}/ws/"

    @property
    def secret_key(self) -> str:
        """The key this server signs with: its SECRET_KEY, or the one it generated."""
        if self.env.get("SECRET_KEY"):
            return self.env["SECRET_KEY"]
        return (Path(self.env["IM_DATA_DIR"]) / "secret_key").read_text().strip()

    @classmethod
    def start(cls, env: dict, timeout: float = 60) -> ImServer:
        proc = subprocess.Popen(
            [PYTHON, "manage.py", "imserver", "--host", "127.0.0.1",
             "--http-port", "0", "--tcp-port", "0"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=None, text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("imserver ready"):
                parts = dict(p.split("=", 1) for p in line.split()[2:])
                return cls(proc, parts["http"], parts["tcp"], env)
        proc.kill()
        raise RuntimeError(f"imserver did not start (exit code {proc.poll()})")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
