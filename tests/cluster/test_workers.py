"""`imserver --workers N`: worker processes sharing the ports as nodes of one cluster,
restarted when they die, stopped together; refused on the embedded defaults."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
import redis

from imclient import Client
from realtime.cluster.registry import NodeInfo
from tests.cluster.traffic import QUICK, Traffic, settled_placement
from tests.imclient.conftest import until
from tests.support.clients import TcpClient, ahttp, connect, make_user
from tests.support.servers import (
    PYTHON,
    ROOT,
    Deployment,
    ImServer,
    RedisServer,
    postgres_base_url,
)

pytestmark = [pytest.mark.timeout(240)]


def worker_pids(supervisor: ImServer) -> dict[int, int]:
    """Worker index -> pid of the supervisor's live children."""
    pid = supervisor.proc.pid
    found = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"--worker" in argv:
            found[int(argv[argv.index(b"--worker") + 1])] = int(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def nodes_answering(server: ImServer, want: int) -> set[str]:
    """Ask /api/ready/ on new connections until `want` different ready nodes answered,
    each serving a ring of `want` nodes: the kernel spreads connections over workers."""
    seen: set[str] = set()

    async def all_seen() -> bool:
        status, body = await ahttp(server.base_url, "GET", "/api/ready/")
        if status == 200 and body["nodes"] == want:
            seen.add(body["node"])
        return len(seen) >= want

    for _ in range(600):
        if await all_seen():
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {seen} answered")


async def auth_on_another_node(server: ImServer, token: str, transport: str, avoid: str):
    """Connect until the kernel hands the connection to a worker other than `avoid`."""
    for _ in range(50):
        client = await connect(server, transport)
        ok = await client.auth(token)
        if ok["node"] != avoid:
            return client, ok["node"]
        await client.close()
    raise AssertionError(f"50 connections, all on {avoid}")


def free_port_pair() -> int:
    """A port p such that p and p + 1 are free (as far as a bind can tell)."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two free ports in a row")


@pytest.fixture
def workers_deployment():
    if postgres_base_url() is None:
        pytest.fail("the workers need PostgreSQL: run with DATABASE_URL=postgres://...")
    redis_server = RedisServer()
    dep = Deployment.create(redis_url=redis_server.url(0),
                            extra_env={k: str(v) for k, v in QUICK.items()})
    yield dep, redis_server
    dep.close()
    redis_server.stop()


@pytest.mark.server
async def test_two_workers_share_the_ports_and_their_clients_talk_and_stop_together(
        workers_deployment):
    dep, _ = workers_deployment
    own_port = free_port_pair()
    server = ImServer.start(dep.env | {"IM_WORKER_HTTP_PORT": str(own_port)}, workers=2)
    dep.servers.append(server)
    nodes = await nodes_answering(server, 2)
    pids = worker_pids(server)
    assert sorted(pids) == [0, 1] and len(nodes) == 2
    # Each worker also answers on a port of its own (probes, metrics), as itself.
    for index in (0, 1):
        base = f"http://127.0.0.1:{own_port + index}"
        _, ready = await ahttp(base, "GET", "/api/ready/")
        assert ready["node"].endswith(f"/{index}") and ready["node"] in nodes
        with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
            assert response.status == 200 and b"im_nodes" in response.read()

    # Worker i is also on the given ports plus i (docs/protocol.md, Cluster), and the
    # ring names each worker by those: worker 0 by the given ports themselves.
    host, http_port = server.http_address.rsplit(":", 1)
    _, ready = await ahttp(f"http://{host}:{int(http_port) + 1}", "GET", "/api/ready/")
    assert ready["node"].endswith("/1")
    own = await TcpClient.connect(server.tcp_host, server.tcp_port + 1)
    probe = await make_user(server.base_url)
    assert (await own.auth(probe.token))["node"] == ready["node"]
    await own.close()
    users = [await make_user(server.base_url) for _ in range(12)]
    named = set((await settled_placement(server, users)).values())
    assert named == {f"{server.tcp_host}:{server.tcp_port + i}" for i in (0, 1)}

    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender = await connect(server, "tcp")
    alice_node = (await sender.auth(alice.token))["node"]
    receiver, bob_node = await auth_on_another_node(server, bob.token, "ws", alice_node)
    assert {alice_node, bob_node} == nodes  # one client on each worker
    for i in range(5):
        await sender.send_text(to=bob.id, text=f"to bob {i}", client_id=f"a{i}")
    await sender.acks(5)
    for i in range(5):
        assert (await receiver.expect("text"))["body"]["text"] == f"to bob {i}"
    await receiver.send_text(to=alice.id, text="to alice", client_id="b0")
    await receiver.expect("ack")
    assert (await sender.expect("text"))["body"]["text"] == "to alice"

    # SIGTERM to the supervisor: every worker drains (its clients are told), all exit.
    server.proc.send_signal(signal.SIGTERM)
    for client in (sender, receiver):
        frame = await client.expect("offline")
        assert frame["reason"] == "shutdown"
        await client.close()
    assert await asyncio.to_thread(server.proc.wait, 30) == 0
    await until(lambda: not any(alive(pid) for pid in pids.values()), timeout=10,
                what="every worker gone")


@pytest.mark.server
async def test_a_killed_worker_is_restarted_and_its_clients_lose_nothing(workers_deployment):
    dep, redis_server = workers_deployment
    server = ImServer.start(dep.env, workers=2)
    dep.servers.append(server)
    await nodes_answering(server, 2)
    sender_account = await make_user(server.base_url)
    accounts = [await make_user(server.base_url) for _ in range(8)]
    clients = [Client(server.base_url, token=sender_account.token, seed=0)]
    receivers = {a.id: Client(server.base_url, token=a.token, backoff_initial=0.05,
                              backoff_max=0.5, seed=i + 1) for i, a in enumerate(accounts)}
    clients.extend(receivers.values())
    registry = redis.Redis(port=redis_server.port, decode_responses=True)
    nodes_key = f"{dep.env['IM_REDIS_PREFIX']}:cluster:nodes"

    def connections() -> dict[str, int]:
        entries = map(NodeInfo.decode, registry.hvals(nodes_key))
        return {e.node: e.connections for e in entries if e is not None}

    try:
        await asyncio.gather(*(c.connect(timeout=30) for c in clients))
        traffic = Traffic(clients[0], receivers)
        await traffic.wait_rounds(3)
        # The registry counts each worker's connections on its heartbeat.
        await until(lambda: sum(connections().values()) == len(clients), timeout=10,
                    what="every connection counted in the registry")
        victim_node, victims = max(connections().items(), key=lambda item: item[1])
        index = int(victim_node.rsplit("/", 1)[1])
        pids = worker_pids(server)
        os.kill(pids[index], signal.SIGKILL)

        # The supervisor starts the worker again (same index, so the same node id).
        await until(lambda: index in worker_pids(server)
                    and worker_pids(server)[index] != pids[index], timeout=20,
                    what="the killed worker restarted")
        assert await nodes_answering(server, 2)
        await until(lambda: all(c.online for c in clients), timeout=30,
                    what="every client online again")
        await traffic.wait_rounds(3)
        reconnected = sum(c.stats["connections"] - 1 for c in clients)
        assert reconnected >= victims
        await traffic.stop_and_check()  # none lost, none twice, in order
    finally:
        for client in clients:
            await client.close()


@pytest.mark.server
async def test_a_draining_worker_takes_no_new_connections_and_is_started_again(
        workers_deployment):
    dep, redis_server = workers_deployment
    server = ImServer.start(dep.env, workers=2)
    dep.servers.append(server)
    nodes = await nodes_answering(server, 2)
    registry = redis.Redis(port=redis_server.port, decode_responses=True)
    entries = map(NodeInfo.decode, registry.hvals(f"{dep.env['IM_REDIS_PREFIX']}:cluster:nodes"))
    tcp_of = {e.node: e.tcp for e in entries if e is not None}
    alice = await make_user(server.base_url)
    others = [await make_user(server.base_url) for _ in range(12)]
    first = await connect(server, "tcp")
    one = (await first.auth(alice.token, device="first"))["node"]
    index = int(one.rsplit("/", 1)[1])
    pid = worker_pids(server)[index]
    os.kill(pid, signal.SIGTERM)  # that worker alone drains, as `imcluster drain` does
    frame = await first.expect("offline")
    (other,) = nodes - {one}
    assert frame["reason"] == "shutdown" and frame["reconnect"] is not None
    # The client keeps its end open, so the worker waits (IM_DRAIN_S) out of the ring;
    # meanwhile every new connection on the shared ports lands on the other worker.
    kept = []
    for i, account in enumerate(others):
        client = await connect(server, "tcp" if i % 2 else "ws")
        assert (await client.auth(account.token))["node"] == other
        kept.append(client)
    await first.close()
    await until(lambda: index in worker_pids(server) and worker_pids(server)[index] != pid,
                timeout=20, what="the drained worker started again")
    assert await nodes_answering(server, 2) == nodes
    # Back in the ring, it owns about half of those users again, at its own addresses:
    # the other worker sends exactly those to it (rebalance), and keeps the rest.
    owners = await settled_placement(server, others)
    moved = 0
    for account, client in zip(others, kept, strict=True):
        if owners[account.id] == tcp_of[other]:
            await client.send({"type": "heartbeat"})
            assert (await client.recv())["type"] == "heartbeat"
        else:
            moved += 1
            frame = await client.expect("offline")
            assert frame["reason"] == "rebalance"
            assert frame["reconnect"]["tcp"] == owners[account.id]
        await client.close()
    assert 0 < moved < len(others)


@pytest.mark.embedded
@pytest.mark.parametrize("how", ["flag", "env"])
def test_workers_on_the_embedded_defaults_are_refused_clearly(tmp_path, how):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IM_", "DATABASE_URL", "SECRET_KEY"))}
    env["IM_DATA_DIR"] = str(tmp_path)
    args = ["--workers", "2"] if how == "flag" else []
    if how == "env":
        env["IM_WORKERS"] = "2"
    done = subprocess.run(
        [PYTHON, "manage.py", "imserver", "--http-port", "0", "--tcp-port", "0", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "one process is the limit" in done.stderr
    assert "IM_REDIS_URL" in done.stderr and "SQLite has one writer" in done.stderr
    assert "imserver ready" not in done.stdout
