"""A node killed, Redis flushed, the router over two Redis hosts, the auth admission
bound: real nodes, real clients."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from channels_redis.core import RedisChannelLayer

from imclient import Client
from realtime.cluster.registry import NodeInfo
from tests.cluster.traffic import QUICK, Traffic, address, placement
from tests.imclient.conftest import until
from tests.support.clients import ahttp, connect, make_user
from tests.support.servers import Deployment, RedisServer

pytestmark = [pytest.mark.server, pytest.mark.timeout(240)]


async def test_a_killed_nodes_users_come_back_on_the_others(make_deployment):
    dep = make_deployment(redis=True, **QUICK)
    nodes = [dep.start_server() for _ in range(3)]
    entry = nodes[0]  # REST for every client; the node killed is another
    sender_account = await make_user(entry.base_url)
    accounts = [await make_user(entry.base_url) for _ in range(24)]
    clients = [Client(entry.base_url, token=sender_account.token, seed=0)]
    receivers = {a.id: Client(entry.base_url, token=a.token, backoff_initial=0.05,
                              backoff_max=0.5, seed=i + 1) for i, a in enumerate(accounts)}
    clients.extend(receivers.values())
    try:
        await asyncio.gather(*(c.connect(timeout=30) for c in clients))
        before = await placement(entry, accounts)
        victims = {uid for uid, node in before.items() if node == nodes[2].tcp_address}
        assert victims
        traffic = Traffic(clients[0], receivers)
        await traffic.wait_rounds(3)

        nodes[2].kill()
        dep.wait_for_ring(members=2)  # within IM_NODE_TTL_S and a heartbeat
        after = await placement(entry, accounts)
        assert {uid for uid in before if before[uid] != after[uid]} == victims
        by_tcp = {n.tcp_address: n for n in nodes}
        await until(lambda: all(receivers[u].online and receivers[u].status.address
                                == address(by_tcp[after[u]], "tcp") for u in victims),
                    timeout=30, what="every user of the killed node back on its new node")
        await traffic.wait_rounds(3)
        for uid, client in receivers.items():
            assert client.stats["connections"] == 1 or uid in victims
        await traffic.stop_and_check()
    finally:
        for client in clients:
            await client.close()


async def test_flushing_redis_under_load_strands_no_push():
    redis_server = RedisServer()
    dep = Deployment.create(redis_url=redis_server.url(0), extra_env={
        k: str(v) for k, v in QUICK.items()})
    try:
        a, b = dep.start_server(), dep.start_server()
        # Steady state first: the nodes have set the registry's marker (a fresh Redis
        # has none, which they treat as a loss until 1.5 heartbeats have passed).
        marker = f"{dep.env['IM_REDIS_PREFIX']}:cluster:marker"
        await until(lambda: redis.Redis(port=redis_server.port).exists(marker),
                    what="the registry's marker set")
        alice, bob = await make_user(a.base_url), await make_user(a.base_url)
        sender = await connect(a, "tcp")
        await sender.auth(alice.token)
        receiver = await connect(b, "ws")
        await receiver.auth(bob.token)
        pushed: list[str] = []

        async def read() -> None:
            while True:
                frame = await receiver.recv(timeout=30)
                if frame["type"] == "text":
                    pushed.append(frame["body"]["text"])

        reader = asyncio.create_task(read())
        acked: list[tuple[float, str]] = []
        flushed_at = None
        for i in range(150):
            await sender.send_text(to=bob.id, text=f"m{i}", client_id=f"m{i}")
            await sender.expect("ack")
            acked.append((time.monotonic(), f"m{i}"))
            if i == 50:
                await asyncio.to_thread(redis_server.flushall)
                flushed_at = time.monotonic()
            await asyncio.sleep(0.02)
        # Every message stored from one heartbeat after the flush on reaches bob.
        due = [text for at, text in acked if at > flushed_at + QUICK["IM_NODE_HEARTBEAT_S"]]
        assert len(due) > 50
        await until(lambda: set(due) <= set(pushed), timeout=10, what="pushes after the flush")
        assert len(pushed) == len(set(pushed))  # none twice
        reader.cancel()
        # The nodes wrote their connections back: bob is online again for alice.
        status, presence = await ahttp(a.base_url, "GET", f"/api/presence/?users={bob.id}",
                                       token=alice.token)
        assert status == 200 and presence[str(bob.id)]["online"] is True
    finally:
        dep.close()
        redis_server.stop()


async def test_a_router_of_two_redis_hosts_carries_messages_between_nodes():
    registry, routers = RedisServer(), [RedisServer(), RedisServer()]
    hosts = [r.url(0) for r in routers]
    dep = Deployment.create(redis_url=registry.url(0),
                            extra_env={"IM_ROUTER_REDIS_URLS": ",".join(hosts)})
    layer = RedisChannelLayer(hosts=hosts)
    try:
        # A node on each router host (each node's channel is placed on one host by a
        # hash of a random part of its name): a node that lands on a host already
        # taken is stopped and another started, so two nodes run at most.
        on_host: dict[int, object] = {}
        for _ in range(30):
            server = dep.start_server()
            _, ready = await ahttp(server.base_url, "GET", "/api/ready/")
            entry = NodeInfo.decode(redis.Redis(port=registry.port).hget(
                f"{dep.env['IM_REDIS_PREFIX']}:cluster:nodes", ready["node"]))
            host = layer.consistent_hash(layer.non_local_name(entry.channel))
            if host in on_host:
                server.stop()
                continue
            on_host[host] = server
            if len(on_host) == 2:
                break
        assert len(on_host) == 2, "30 nodes, all on one router host"
        dep.wait_for_ring()
        a, b = on_host[0], on_host[1]
        for here, there in ((a, b), (b, a)):
            alice, bob = await make_user(here.base_url), await make_user(here.base_url)
            sender = await connect(here, "tcp")
            await sender.auth(alice.token)
            receiver = await connect(there, "ws")
            await receiver.auth(bob.token)
            for i in range(5):
                await sender.send_text(to=bob.id, text=f"hi {i}", client_id=f"h{i}")
            await sender.acks(5)
            for i in range(5):
                assert (await receiver.expect("text"))["body"]["text"] == f"hi {i}"
    finally:
        dep.close()
        registry.stop()
        for router in routers:
            router.stop()


async def test_auth_beyond_the_admission_rate_is_refused_with_retry_ms(make_deployment):
    dep = make_deployment(IM_AUTH_RATE=1)
    server = dep.start_server()
    alice = await make_user(server.base_url)
    first = await connect(server, "tcp")
    await first.auth(alice.token, device="one")
    second = await connect(server, "ws")
    await second.send({"type": "auth", "id": "a2", "token": alice.token, "device": "two",
                       "v": 1})
    frames = await second.closed()
    assert len(frames) == 1
    error = frames[0]
    assert (error["type"], error["code"], error["id"]) == ("error", "rate_limited", "a2")
    assert 0 < error["retry_ms"] <= 1000
