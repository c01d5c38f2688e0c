"""Read positions from the wire (docs/protocol.md, Conversation state)."""

from __future__ import annotations

import pytest

from tests.support.clients import ahttp, connect, login_again, make_user

pytestmark = pytest.mark.mongo

TRANSPORTS = ["tcp", "ws"]


async def _channels(server, account) -> dict[str, dict]:
    status, body = await ahttp(server.base_url, "GET", "/api/channels/", token=account.token)
    assert status == 200
    return {c["channel"]: c for c in body}


async def _nothing_more(client) -> None:
    """Nothing is queued for `client`: a heartbeat's answer is the next frame."""
    await client.send({"type": "heartbeat"})
    assert (await client.recv())["type"] == "heartbeat"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_read_is_acked_told_to_my_devices_and_the_peer(server, transport):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender = await connect(server, "tcp")
    await sender.auth(alice.token, device="a")
    bob_phone = await connect(server, transport)
    await bob_phone.auth(bob.token, device="phone")
    bob_laptop = await connect(server, "tcp")
    await bob_laptop.auth(await login_again(server.base_url, bob), device="laptop")
    for n in range(3):
        await sender.send_text(to=bob.id, text=f"m{n}", client_id=f"c{n}")
    acks = await sender.acks(3)
    channel = acks[0]["channel"]
    for client in (bob_phone, bob_laptop):
        for _ in range(3):
            await client.expect("text")

    await bob_phone.send({"type": "read", "id": "r1", "channel": channel, "seq": 2})
    assert await bob_phone.expect("ack") == {"type": "ack", "id": "r1"}
    told = {"type": "read", "channel": channel, "user": bob.id, "seq": 2}
    assert await bob_laptop.expect("read") == told
    assert await sender.expect("read") == told
    await _nothing_more(bob_phone)  # the reading connection has the ack only

    listed = (await _channels(server, bob))[channel]
    assert (listed["last_seq"], listed["read_seq"], listed["unread"]) == (3, 2, 1)
    # Alice sent them all: she has read her channel up to her last message.
    listed = (await _channels(server, alice))[channel]
    assert (listed["read_seq"], listed["unread"]) == (3, 0)

    # Backwards: acked, nothing changes, nobody is told.
    await bob_phone.send({"type": "read", "id": "r2", "channel": channel, "seq": 1})
    assert await bob_phone.expect("ack") == {"type": "ack", "id": "r2"}
    await _nothing_more(bob_laptop)
    await _nothing_more(sender)
    assert (await _channels(server, bob))[channel]["read_seq"] == 2

    # Beyond last_seq: invalid; not a member: forbidden.
    await bob_phone.send({"type": "read", "id": "r3", "channel": channel, "seq": 4})
    error = await bob_phone.expect("error")
    assert (error["id"], error["code"]) == ("r3", "invalid")
    carol = await make_user(server.base_url)
    outsider = await connect(server, transport)
    await outsider.auth(carol.token)
    await outsider.send({"type": "read", "id": "r4", "channel": channel, "seq": 1})
    error = await outsider.expect("error")
    assert (error["id"], error["code"]) == ("r4", "forbidden")

    # The wire's channel list carries my read position too.
    await bob_laptop.send({"type": "sync", "id": "s"})
    reply = await bob_laptop.expect("sync")
    assert {"channel": channel, "last_seq": 3, "read_seq": 2} in reply["channels"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_group_read_is_told_to_my_devices_only(server, transport):
    alice, bob, carol = [await make_user(server.base_url) for _ in range(3)]
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "g", "members": [bob.id, carol.id]}, token=alice.token)
    assert status == 201
    channel = group["channel"]
    a, b, b2, c = [await connect(server, transport) for _ in range(4)]
    await a.auth(alice.token)
    await b.auth(bob.token, device="one")
    await b2.auth(await login_again(server.base_url, bob), device="two")
    await c.auth(carol.token)
    for n in range(2):
        await a.send_text(group=group["id"], text=f"g{n}", client_id=f"g{n}")
    await a.acks(2)
    for client in (b, b2, c):
        await client.expect("text")
        await client.expect("text")
    await b.send({"type": "read", "id": "r", "channel": channel, "seq": 2})
    assert await b.expect("ack") == {"type": "ack", "id": "r"}
    assert await b2.expect("read") == {"type": "read", "channel": channel, "user": bob.id,
                                       "seq": 2}
    await _nothing_more(a)
    await _nothing_more(c)
    listed = await _channels(server, carol)
    assert (listed[channel]["read_seq"], listed[channel]["unread"]) == (0, 2)
    listed = await _channels(server, bob)
    assert (listed[channel]["read_seq"], listed[channel]["unread"]) == (2, 0)


async def test_many_channels_listed_with_their_unread_counts(server):
    me = await make_user(server.base_url)
    peers = [await make_user(server.base_url) for _ in range(6)]
    expected = {}
    for n, peer in enumerate(peers):
        client = await connect(server, "tcp")
        await client.auth(peer.token)
        for k in range(n + 1):
            await client.send_text(to=me.id, text=f"{k}", client_id=f"k{k}")
        ack = (await client.acks(n + 1))[-1]
        expected[ack["channel"]] = n + 1
        await client.close()
    mine = await connect(server, "tcp")
    await mine.auth(me.token)
    first = next(iter(expected))
    await mine.send({"type": "read", "id": "r", "channel": first, "seq": 1})
    await mine.expect("ack")
    expected[first] -= 1
    listed = await _channels(server, me)
    assert {c: listed[c]["unread"] for c in expected} == expected
