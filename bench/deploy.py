"""The processes a benchmark runs against: imserver deployments, the raw relay, Redis.

The child processes come from devtools/processes.py, as the tests' do (free ports,
a private redis-server, a fresh PostgreSQL database per run); this module adds the
settings a benchmark needs: DEBUG off, throttles and per-connection rate limits
lifted, the fast password hasher, a raised file-descriptor limit, and server logs
kept in files.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devtools import processes
from devtools.processes import (
    PYTHON,
    ROOT,
    create_postgres_database,
    drop_postgres_database,
    ready_fields,
    start_imserver,
    stop_process,
    wait_for_line,
)

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"

# What the bench server runs with, on top of the deployment's own (data dir, DB, Redis).
# The per-connection rate limit (IM_RATE_MSGS_PER_S, default 50/s) would otherwise
# cap every throughput scenario; it is lifted and the report says so.
BENCH_SERVER_ENV = {
    "SECRET_KEY": "bench-only",
    "IM_DEBUG": "0",
    "IM_LOG_LEVEL": "WARNING",
    "IM_FAST_PASSWORD_HASHER": "1",
    "IM_RATE_MSGS_PER_S": "1000000",
    "IM_RATE_BURST": "1000000",
    "IM_REGISTER_RATE_IP": "1000000/min",
    "IM_LOGIN_RATE_IP": "1000000/min",
    "IM_LOGIN_RATE_USER": "1000000/min",
    # connect_storm measures how fast a node admits connections, not the admission
    # bound a cluster runs with (IM_AUTH_RATE, docs/cluster.md).
    "IM_AUTH_RATE": "1000000",
    # Every load-generator connection comes from one address.
    "IM_MAX_CONNS_PER_IP": "0",
    "PYTHONUNBUFFERED": "1",
}


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit; return the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return hard


def process_rss_kb(pid: int) -> int:
    """VmRSS of a process, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and of its live descendants: a server run with
    `--workers N` is a supervisor and N workers."""
    total = process_cpu_s(pid)
    try:
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return total
    for child in children:
        try:
            total += process_tree_cpu_s(int(child))
        except OSError:
            pass  # it exited meanwhile
    return total


class Process:
    """A child process we started: stopped by its own pid, never by name."""

    proc: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 20) -> None:
        stop_process(self.proc, timeout=timeout)


class BenchServer(Process):
    def __init__(self, env: dict, log_path: Path, timeout: float = 90, *,
                 workers: int | None = None) -> None:
        self.log = open(log_path, "a", buffering=1)  # noqa: SIM115 - closed in stop()
        self.proc, parts = start_imserver(env, stderr=self.log, log=self.log,
                                          preexec_fn=raise_nofile, workers=workers,
                                          timeout=timeout)
        self.http = parts["http"]
        self.tcp = parts["tcp"]
        self.ws = f"ws://{self.http}/ws/"
        if workers and workers > 1:
            try:
                wait_for_ring(self.http, workers, timeout)
            except Exception:
                self.stop()
                raise

    def stop(self, timeout: float = 20) -> None:
        super().stop(timeout)
        self.log.close()


def _ring_seen(url: str) -> tuple[int, int] | None:
    """(nodes, ring version) a node's /metrics reports, or None if it did not answer."""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    seen = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("im_nodes", "im_ring_version"):
                seen[sample.name] = int(sample.value)
    return seen.get("im_nodes", 0), seen.get("im_ring_version", -1)


def wait_for_ring(http: str, workers: int, timeout: float, agreeing: int = 20) -> None:
    """Return once every worker serves one ring of `workers` nodes.

    `imserver ready` means each worker serves; each still takes a heartbeat to see the
    others join. A client that connects before then may be placed on a worker that the
    settled ring then moves it from (`offline`/`rebalance`), and the load generator's
    clients do not reconnect. Worker i > 0 answers on the HTTP port plus i; worker 0
    only on the shared port, where each new connection may reach any worker, so the
    shared port must also give `agreeing` answers in a row that name the same ring.
    """
    host, port = http.rsplit(":", 1)
    own = [f"http://{host}:{int(port) + i}/metrics" for i in range(1, workers)]
    shared = f"http://{http}/metrics"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answers = [_ring_seen(url) for url in own] + [_ring_seen(shared)
                                                     for _ in range(agreeing)]
        if len(set(answers)) == 1 and answers[0] is not None and answers[0][0] == workers:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the {workers} workers did not agree on one ring in {timeout} s")


class RelayServer(Process):
    def __init__(self, log_path: Path, *, uvloop: bool = False) -> None:
        self.log = open(log_path, "a", buffering=1)  # noqa: SIM115 - closed in stop()
        command = [PYTHON, str(ROOT / "bench" / "raw_relay.py")]
        if uvloop:
            command.append("--uvloop")
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, preexec_fn=raise_nofile)
        parts = ready_fields(wait_for_line(self.proc, "relay ready", 30, log=self.log))
        self.tcp = parts["tcp"]
        self.ws = f"ws://{parts['ws']}/ws/"

    def stop(self, timeout: float = 20) -> None:
        super().stop(timeout)
        self.log.close()


class RedisServer(processes.RedisServer):
    """A private redis-server that takes as many clients as the open-file limit."""

    def __init__(self) -> None:
        super().__init__(maxclients=20000, preexec_fn=raise_nofile)


def pg_base_url() -> str:
    return os.environ.get("BENCH_PG_URL") or os.environ.get("TEST_PG_URL") or DEFAULT_PG_URL


def pg_available(base_url: str) -> str | None:
    """None if PostgreSQL answers at `base_url`, else why not."""
    try:
        import psycopg

        with psycopg.connect(base_url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means: skip PostgreSQL
        return f"PostgreSQL not reachable at {base_url}: {exc.__class__.__name__}"
    if not shutil.which("redis-server") and not os.path.exists("/usr/bin/redis-server"):
        return "redis-server not installed"
    return None


@dataclass
class Deployment:
    """One configuration under test: a database (+ Redis) and the servers started on it."""

    name: str  # "embedded", "pg-redis" or "pg-mongo-redis"
    store: str  # "sqlite", "postgresql" or "postgresql+mongodb" (messages in MongoDB)
    layer: str  # "memory" or "redis"
    env: dict
    log_dir: Path
    data_dir: str
    pg: tuple[str, str] | None = None
    redis: RedisServer | None = None
    mongo: processes.MongoServer | None = None
    servers: list[BenchServer] = field(default_factory=list)

    @classmethod
    def create(cls, name: str, log_dir: Path) -> Deployment:
        data_dir = tempfile.mkdtemp(prefix=f"im-bench-{name}-")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("IM_", "DATABASE_URL", "SECRET_KEY"))}
        env.update(BENCH_SERVER_ENV)
        # A/B runs of one server setting, e.g. BENCH_SERVER_EXTRA="IM_METRICS=0"
        # (docs/operations.md, what metrics cost).
        for item in filter(None, os.environ.get("BENCH_SERVER_EXTRA", "").split(",")):
            key, _, value = item.partition("=")
            env[key.strip()] = value.strip()
        env["IM_DATA_DIR"] = data_dir
        env["PYTHONPATH"] = str(ROOT)
        pg = redis = mongo = None
        try:
            if name in ("pg-redis", "pg-mongo-redis"):
                base = pg_base_url()
                pg = create_postgres_database(base, prefix="im_bench")
                redis = RedisServer()
                env["DATABASE_URL"] = pg[0]
                env["IM_REDIS_URL"] = redis.url(0)
                env["IM_REDIS_PREFIX"] = f"b{secrets.token_hex(3)}"
                store, layer = "postgresql", "redis"
                if name == "pg-mongo-redis":
                    mongo = processes.MongoServer()
                    env["IM_MONGODB_URL"] = mongo.url("im_bench")
                    store = "postgresql+mongodb"
            elif name == "embedded":
                store, layer = "sqlite", "memory"
            else:
                raise ValueError(f"unknown deployment {name!r}")
            dep = cls(name=name, store=store, layer=layer, env=env, log_dir=log_dir,
                      data_dir=data_dir, pg=pg, redis=redis, mongo=mongo)
            dep.manage(["migrate", "--noinput", "-v0"], timeout=300)
            return dep
        except BaseException:
            if redis is not None:
                redis.stop()
            if mongo is not None:
                mongo.stop()
            if pg is not None:
                drop_postgres_database(pg_base_url(), pg[1])
            shutil.rmtree(data_dir, ignore_errors=True)
            raise

    def manage(self, args: list[str], *, env: dict | None = None, timeout: float = 300) -> None:
        with open(self.log_dir / f"{self.name}-manage.log", "a") as log:
            subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env or self.env,
                           check=True, timeout=timeout, stdout=log, stderr=log)

    def seed(self, *, users: int, groups: list[tuple[int, int]]) -> dict:
        """Create `users` users with tokens and groups [(first user index, size)]."""
        out = Path(self.data_dir) / f"seed-{secrets.token_hex(3)}.json"
        spec = {"prefix": f"b{secrets.token_hex(3)}_", "users": users, "groups": groups}
        env = self.env | {"BENCH_SEED": json.dumps(spec), "BENCH_SEED_OUT": str(out)}
        self.manage(["shell", "-c", "from bench.seed import main; main()"], env=env)
        return json.loads(out.read_text())

    def start_server(self, *, workers: int | None = None) -> BenchServer:
        server = BenchServer(self.env, self.log_dir / f"{self.name}-server.log",
                             workers=workers)
        self.servers.append(server)
        return server

    def stop_server(self, server: BenchServer) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def close(self) -> None:
        for server in list(self.servers):
            self.stop_server(server)
        if self.redis is not None:
            self.redis.stop()
        if self.mongo is not None:
            self.mongo.stop()
        if self.pg is not None:
            try:
                drop_postgres_database(pg_base_url(), self.pg[1])
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the results
                print(f"could not drop {self.pg[1]}: {exc}", file=sys.stderr)
        shutil.rmtree(self.data_dir, ignore_errors=True)
