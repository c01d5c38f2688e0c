"""A connection's outbound buffer is bounded in bytes, on both transports; a client
that never reads is cut with `offline`/`slow`, and what it held is released."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clients import ahttp, connect, make_user
from tests.support.raw import RawClient, rss_bytes

BIG_TEXT = "x" * 4000
MESSAGES = 300
SYNCS = 40
MB = 1 << 20


@pytest.fixture(scope="module")
def loaded(deployment_factory_module):
    """A server and a user whose notes-to-self channel holds 300 texts of 4000 chars."""
    dep = deployment_factory_module(IM_RATE_MSGS_PER_S=100000, IM_RATE_BURST=100000)
    server = dep.start_server()

    async def fill():
        alice = await make_user(server.base_url)
        client = await connect(server, "tcp")
        await client.auth(alice.token)
        for i in range(MESSAGES):
            await client.send_text(to=alice.id, text=BIG_TEXT, client_id=f"m{i}")
        await client.acks(MESSAGES)
        await client.close()
        return alice

    alice = asyncio.run(fill())
    return server, alice


def abandon(server, alice, transport: str, device: str) -> RawClient:
    """Authenticate, ask for 40 pages of 500 big messages, and never read."""
    client = RawClient.open(server, transport)
    client.send({"type": "auth", "id": "a", "token": alice.token, "device": device, "v": 1})
    for i in range(SYNCS):
        client.send({"type": "sync", "id": f"s{i}", "channel": f"p:{alice.id}:{alice.id}",
                     "after": 0, "limit": 500})
    return client


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_a_client_that_never_reads_is_cut_and_memory_returns(loaded, transport):
    server, alice = loaded
    pid = server.proc.pid
    rounds, per_round = 6, 3
    samples = []
    for r in range(rounds):
        clients = await asyncio.gather(*(
            asyncio.to_thread(abandon, server, alice, transport, f"{transport}-{r}-{i}")
            for i in range(per_round)
        ))
        cut = await asyncio.gather(*(asyncio.to_thread(c.cut_by_server, 30) for c in clients))
        assert all(cut), f"round {r}: a connection that reads nothing was never cut"
        for client in clients:
            client.close()
        samples.append(rss_bytes(pid))
    # 40 pages of up to 1 MiB per connection never pile up: after the first rounds the
    # server's memory stays flat round after round (allocators keep what they freed,
    # so it need not fall back, but it must not grow).
    assert samples[-1] - samples[1] < 40 * MB, [s // MB for s in samples]
    # The server still serves.
    status, _ = await ahttp(server.base_url, "GET", "/api/health/")
    assert status == 200
