"""Real services for tests: imserver processes, a private Redis, fresh PostgreSQL databases."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools.processes import (
    PYTHON,
    ROOT,
    MongoServer,
    RedisServer,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    start_imserver,
    stop_process,
)

__all__ = [
    "MONGODB_BASE_ENV", "PYTHON", "ROOT", "Deployment", "ImServer", "MongoServer", "RedisServer",
    "free_port", "postgres_base_url",
]

# Set by the MongoDB pass's fixture: the server's URL without a database; each
# deployment gets a database of its own on it.
MONGODB_BASE_ENV = "IM_TEST_MONGODB_BASE_URL"


def postgres_base_url() -> str | None:
    """The PostgreSQL server the suite runs against, or None for SQLite runs."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


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
        mongo_base = os.environ.get(MONGODB_BASE_ENV)
        if mongo_base:
            env["IM_MONGODB_URL"] = mongo_base.replace(
                "/?", f"/im_{secrets.token_hex(6)}?", 1)
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
    def start(cls, env: dict, timeout: float = 60, *, workers: int | None = None) -> ImServer:
        proc, ready = start_imserver(env, timeout=timeout, workers=workers)
        return cls(proc, ready["http"], ready["tcp"], env)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        return stop_process(self.proc, sig, timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
