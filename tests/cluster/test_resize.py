"""A cluster grows and shrinks while people chat (docs/cluster.md): real nodes,
real clients through the SDK."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from imclient import Client
from tests.cluster.traffic import QUICK, Traffic, address, placement
from tests.imclient.conftest import until
from tests.support.clients import ahttp, make_user
from tests.support.servers import PYTHON, ROOT

pytestmark = [pytest.mark.server, pytest.mark.timeout(240)]

RECEIVERS = 40
LOG: dict[int, list] = {}  # each receiver's link states, shown when an assertion fails


async def test_adding_then_draining_a_node_moves_only_its_users(make_deployment):
    dep = make_deployment(redis=True, **QUICK)
    nodes = [dep.start_server() for _ in range(3)]
    sender_account = await make_user(nodes[0].base_url)
    accounts = [await make_user(nodes[i % 3].base_url) for i in range(RECEIVERS)]
    transports = {a.id: ("tcp", "ws")[i % 2] for i, a in enumerate(accounts)}
    clients: list[Client] = []
    try:
        sender = Client(nodes[0].base_url, token=sender_account.token, backoff_max=0.5, seed=0)
        clients.append(sender)
        receivers = {}
        for i, account in enumerate(accounts):
            client = Client(nodes[i % 3].base_url, transport=transports[account.id],
                            token=account.token, backoff_initial=0.05, backoff_max=0.5,
                            seed=i + 1)
            client.add_status_listener(lambda st, uid=account.id: LOG.setdefault(uid, []).append(
                (st.state, st.reason, st.address)))
            clients.append(client)
            receivers[account.id] = client
        await asyncio.gather(*(c.connect(timeout=30) for c in clients))
        by_tcp = {n.tcp_address: n for n in nodes}
        before = await placement(nodes[1], accounts)
        for uid, client in receivers.items():  # the gateway placed every one
            assert client.status.address == address(by_tcp[before[uid]], transports[uid])

        traffic = Traffic(sender, receivers)
        await traffic.wait_rounds(3)

        # Grow: a fourth node joins; about a quarter of the users move, all to it.
        fourth = dep.start_server()
        grown = await placement(nodes[2], accounts)
        moved = {uid for uid in before if grown[uid] != before[uid]}
        assert moved and all(grown[uid] == fourth.tcp_address for uid in moved)
        assert len(moved) < RECEIVERS / 2
        await until(lambda: all(receivers[u].status.address == address(fourth, transports[u])
                                and receivers[u].online for u in moved),
                    timeout=30, what="every moved client on the new node")
        await traffic.wait_rounds(3)
        for uid, client in receivers.items():
            assert client.stats["connections"] == (2 if uid in moved else 1), (uid, LOG[uid][2:])

        # Shrink: drain the fourth node; its users go back where they were.
        _, ready = await ahttp(fourth.base_url, "GET", "/api/ready/")
        result = await asyncio.to_thread(
            subprocess.run, [PYTHON, "manage.py", "imcluster", "drain", ready["node"]],
            cwd=ROOT, env=dep.env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert await asyncio.to_thread(fourth.proc.wait, 30) == 0
        dep.wait_for_ring()
        assert await placement(nodes[0], accounts) == before
        await until(lambda: all(receivers[u].status.address == address(by_tcp[before[u]],
                                                                        transports[u])
                                and receivers[u].online for u in moved),
                    timeout=30, what="every moved client back")
        await traffic.wait_rounds(3)
        for uid, client in receivers.items():
            assert client.stats["connections"] == (3 if uid in moved else 1), (uid, LOG[uid][4:])
        await traffic.stop_and_check()
    finally:
        for client in clients:
            await client.close()
