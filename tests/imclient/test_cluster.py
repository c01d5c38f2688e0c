"""Two nodes behind a load balancer: the SDK follows the gateway across a shutdown."""

from __future__ import annotations

import asyncio

import pytest

from imclient import Client
from tests.cluster.traffic import placement
from tests.imclient.conftest import take, until
from tests.support.clients import make_user
from tests.support.proxy import FaultProxy

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]


async def test_a_node_shutdown_moves_the_client_to_the_node_the_gateway_names(make_deployment):
    dep = make_deployment(redis=True)
    nodes = dep.start_server(), dep.start_server()
    alice = await make_user(nodes[0].base_url)
    bob = await make_user(nodes[0].base_url)
    # The ring places alice; "first" is her node, whichever that is.
    home = (await placement(nodes[0], [alice]))[alice.id]
    first, second = sorted(nodes, key=lambda n: n.tcp_address != home)
    async with FaultProxy(first.http_address) as balancer:
        statuses = []
        a = Client(f"http://{balancer.address}", token=alice.token, backoff_initial=0.05,
                   backoff_max=0.5, on_status=statuses.append, seed=3)
        b = Client(second.base_url, transport="ws", token=bob.token)
        try:
            await a.connect(timeout=20)  # no pinned address: the gateway decides
            await b.connect(timeout=20)
            assert a.status.address == first.tcp_address
            for i in range(30):
                await b.send_text(to=alice.id, text=f"before {i}")
            assert len(await take(a.messages(), 30)) == 30  # across nodes

            await asyncio.to_thread(first.stop)  # SIGTERM: offline/shutdown to everyone
            await until(lambda: any(s.state == "offline" and s.reason == "shutdown"
                                    for s in statuses), what="offline/shutdown seen")
            for i in range(30):
                await b.send_text(to=alice.id, text=f"after {i}")
            balancer.retarget(second.http_address)
            got = await take(a.messages(), 30)
            assert [m.text for m in got] == [f"after {i}" for i in range(30)]
            assert [m.seq for m in got] == list(range(31, 61))
            assert a.status.address == second.tcp_address
        finally:
            await a.close()
            await b.close()
