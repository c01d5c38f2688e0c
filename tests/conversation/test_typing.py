"""Typing from the wire (docs/protocol.md, Conversation state): forwarded, never
stored, throttled."""

from __future__ import annotations

import pytest

from tests.support.clients import ahttp, connect, login_again, make_user

TRANSPORTS = ["tcp", "ws"]


async def _nothing_more(client) -> None:
    await client.send({"type": "heartbeat"})
    assert (await client.recv())["type"] == "heartbeat"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_typing_reaches_the_other_members_once_per_window(server, transport):
    alice, bob, carol = [await make_user(server.base_url) for _ in range(3)]
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "t", "members": [bob.id, carol.id]}, token=alice.token)
    channel = group["channel"]
    a, a2, b, c = [await connect(server, transport) for _ in range(4)]
    await a.auth(alice.token, device="one")
    await a2.auth(await login_again(server.base_url, alice), device="two")
    await b.auth(bob.token)
    await c.auth(carol.token)

    await a.send({"type": "typing", "channel": channel})
    expected = {"type": "typing", "channel": channel, "user": alice.id}
    assert await b.expect("typing") == expected
    assert await c.expect("typing") == expected
    # Within the window, more typing of the same user in the channel is dropped,
    # from any of the user's devices; then a message shows nothing came between.
    await a.send({"type": "typing", "channel": channel})
    await a2.send({"type": "typing", "channel": channel})
    await a.send_text(group=group["id"], text="done", client_id="d")
    await a.expect("ack")
    assert (await b.recv())["type"] == "text"
    assert (await c.recv())["type"] == "text"
    # Not to my own connections, no ack, nothing stored.
    assert (await a2.recv())["type"] == "text"
    await _nothing_more(a)
    status, page = await ahttp(server.base_url, "GET", f"/api/channels/{channel}/messages/",
                               token=bob.token)
    assert [m["type"] for m in page["messages"]] == ["text"]
    # Someone else typing in the same channel is not throttled by alice's window.
    await b.send({"type": "typing", "channel": channel})
    assert await a.expect("typing") == {"type": "typing", "channel": channel, "user": bob.id}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_typing_in_a_private_channel_and_outside_one(server, transport):
    alice, bob, carol = [await make_user(server.base_url) for _ in range(3)]
    low, high = sorted((alice.id, bob.id))
    channel = f"p:{low}:{high}"
    a, b, c = [await connect(server, transport) for _ in range(3)]
    await a.auth(alice.token)
    await b.auth(bob.token)
    await c.auth(carol.token)
    await a.send({"type": "typing", "channel": channel})
    assert await b.expect("typing") == {"type": "typing", "channel": channel, "user": alice.id}
    await c.send({"type": "typing", "id": "t1", "channel": channel})
    error = await c.expect("error")
    assert (error["id"], error["code"]) == ("t1", "forbidden")
    await c.send({"type": "typing", "id": "t2", "channel": "nonsense"})
    assert (await c.expect("error"))["code"] == "invalid"
    await _nothing_more(a)
    await _nothing_more(b)
