"""Through a proxy that cuts the link at random moments and splits and delays
writes, nothing is lost, duplicated or reordered, on either transport."""

from __future__ import annotations

import asyncio

import pytest

from improto.channels import g_channel, p_channel
from tests.imclient.conftest import TRANSPORTS, WAIT, address_of, take, users
from tests.support.clients import ahttp
from tests.support.proxy import FaultProxy

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]

SEEDS = {"tcp": 11, "ws": 12}
MAX_CUTS = 8


def faulty(server, transport: str, cut_after_bytes: tuple[int, int]) -> FaultProxy:
    """Every connection is cut after a random number of bytes (both directions
    counted), mid-frame as often as not, for the first `MAX_CUTS` connections;
    writes are split into pieces of 1..512 bytes, some delayed up to 3 ms."""
    return FaultProxy(address_of(server, transport), seed=SEEDS[transport], max_piece=512,
                      max_delay=0.003, delay_probability=0.1,
                      cut_after_bytes=cut_after_bytes, max_cuts=MAX_CUTS)


async def full_history(client, channel: str) -> list:
    messages, after = [], 0
    while True:
        page = await client.history(channel, after=after, limit=500)
        if not page:
            return messages
        messages.extend(page)
        after = page[-1].seq


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_burst_arrives_exactly_once_in_order_through_a_faulty_link(
        sdk_server, clients, transport):
    alice, bob, carol = await users(sdk_server, 3)
    status, group = await ahttp(sdk_server.base_url, "POST", "/api/groups/",
                                {"name": "burst", "members": [alice.id, carol.id]},
                                token=bob.token)
    assert status == 201, group
    per_sender = 200  # two senders: 400 messages in one channel, each within its burst
    async with faulty(sdk_server, transport, (3_000, 15_000)) as proxy:
        a = await clients(sdk_server, alice, transport, address=proxy.url_for(transport),
                          backoff_initial=0.02, backoff_max=0.2, reorder_window=0.2)
        senders = [await clients(sdk_server, user) for user in (bob, carol)]

        async def burst(client, tag: str) -> list:
            return await asyncio.gather(*(
                client.send_text(group=group["id"], text=f"{tag}{i}")
                for i in range(per_sender)))

        sent = await asyncio.wait_for(
            asyncio.gather(burst(senders[0], "b"), burst(senders[1], "c")), 60)
        got = await take(a.messages(), 2 * per_sender, timeout=60)
    assert proxy.cuts >= 3, "the link was hardly cut"
    assert [m.seq for m in got] == list(range(1, 2 * per_sender + 1))
    assert {m.id for m in got} == {m.id for batch in sent for m in batch}
    assert all(m.channel == g_channel(group["id"]) for m in got)
    assert a.stats["connections"] >= 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_sends_through_a_faulty_link_are_stored_exactly_once(
        sdk_server, clients, transport):
    alice, bob = await users(sdk_server, 2)
    count = 300
    async with faulty(sdk_server, transport, (3_000, 15_000)) as proxy:
        a = await clients(sdk_server, alice, transport, address=proxy.url_for(transport),
                          backoff_initial=0.02, backoff_max=0.2)
        ids = [f"fault-{transport}-{i}" for i in range(count)]
        sent = await asyncio.wait_for(asyncio.gather(*(
            a.send_text(to=bob.id, text=f"s{i}", client_id=client_id)
            for i, client_id in enumerate(ids))), 90)
    assert proxy.cuts >= 3, "the link was hardly cut"
    stored = await full_history(a, p_channel(alice.id, bob.id))
    assert [m.seq for m in stored] == list(range(1, count + 1))
    assert sorted(m.id for m in stored) == sorted(ids)  # every client id exactly once
    assert sorted(m.seq for m in sent) == list(range(1, count + 1))
    assert {m.id: m.text for m in stored} == {m.id: m.text for m in sent}
    # And what was sent reaches the peer once each, in order.
    b = await clients(sdk_server, bob, replay_history=True)
    got = await take(b.messages(), count, timeout=WAIT)
    assert [m.seq for m in got] == list(range(1, count + 1))
