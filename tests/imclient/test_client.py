"""The public API against a real server, on both transports."""

from __future__ import annotations

import asyncio

import pytest

from imclient import AuthError, Client, Message, SendFailed
from improto.channels import g_channel, p_channel
from tests.imclient.conftest import TRANSPORTS, WAIT, nothing_more, take, users
from tests.support.clients import ahttp

pytestmark = [pytest.mark.embedded, pytest.mark.server]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_login_connect_send_and_receive(sdk_server, transport):
    alice, bob = await users(sdk_server, 2)
    a = Client(sdk_server.base_url, transport=transport, device="laptop")
    user = await a.login(alice.username, "correct horse battery staple")
    assert user["id"] == alice.id and a.user_id == alice.id and a.token
    b = Client(sdk_server.base_url, transport=transport, token=bob.token)
    try:
        await asyncio.gather(a.connect(), b.connect())
        assert a.online and a.status.state == "online"
        sent = await a.send_text(to=bob.id, text="hi bob")
        assert (sent.channel, sent.seq, sent.sender, sent.to) == (
            p_channel(alice.id, bob.id), 1, alice.id, bob.id)
        assert sent.ts > 0 and not sent.dup
        emoji = await a.send(type="emoji", to=bob.id, body={"emoji": "🎉"})
        assert emoji.seq == 2
        received = await take(b.messages(), 2)
        assert [(m.type, m.seq, m.sender, m.body) for m in received] == [
            ("text", 1, alice.id, {"text": "hi bob"}), ("emoji", 2, alice.id, {"emoji": "🎉"})]
        assert received[0].id == sent.id and received[0].text == "hi bob"
        assert received[0].to_dict()["from"] == alice.id
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_own_messages_stay_out_but_other_devices_of_the_user_come_through(
        sdk_server, clients, transport):
    alice, bob = await users(sdk_server, 2)
    laptop = await clients(sdk_server, alice, transport, device="laptop")
    phone = await clients(sdk_server, alice, transport, device="phone")
    peer = await clients(sdk_server, bob, transport)
    await laptop.send_text(to=bob.id, text="from the laptop")
    await phone.send_text(to=bob.id, text="from the phone")
    await peer.send_text(to=alice.id, text="from bob")
    laptop_sees = await take(laptop.messages(), 2)
    assert [m.text for m in laptop_sees] == ["from the phone", "from bob"]
    phone_sees = await take(phone.messages(), 2)
    assert [m.text for m in phone_sees] == ["from the laptop", "from bob"]
    await nothing_more(laptop.messages())


async def test_include_own_yields_the_complete_sequence(sdk_server, clients):
    alice, bob = await users(sdk_server, 2)
    a = await clients(sdk_server, alice)
    b = await clients(sdk_server, bob)
    for i in range(3):
        await a.send_text(to=bob.id, text=f"a{i}")
        await b.send_text(to=alice.id, text=f"b{i}")
    got = await take(a.messages(include_own=True), 6)
    assert [m.seq for m in got] == [1, 2, 3, 4, 5, 6]
    assert [m.text for m in got] == ["a0", "b0", "a1", "b1", "a2", "b2"]


async def test_group_messages_history_and_channels(sdk_server, clients):
    alice, bob, carol = await users(sdk_server, 3)
    status, group = await ahttp(sdk_server.base_url, "POST", "/api/groups/",
                                {"name": "team", "members": [bob.id, carol.id]},
                                token=alice.token)
    assert status == 201, group
    a = await clients(sdk_server, alice, "ws")
    c = await clients(sdk_server, carol, "tcp")
    sent = [await a.send_text(group=group["id"], text=f"g{i}") for i in range(5)]
    assert [m.seq for m in sent] == [1, 2, 3, 4, 5]
    assert all(m.channel == g_channel(group["id"]) and m.group == group["id"] for m in sent)
    got = await take(c.messages(), 5)
    assert [m.text for m in got] == [f"g{i}" for i in range(5)]
    history = await c.history(g_channel(group["id"]), after=2, limit=2)
    assert [m.seq for m in history] == [3, 4] and all(isinstance(m, Message) for m in history)
    newest = await c.history(g_channel(group["id"]), before=6, limit=2)
    assert [m.seq for m in newest] == [4, 5]
    channels = {ch.channel: ch for ch in await c.channels()}
    assert channels[g_channel(group["id"])].last_seq == 5
    assert channels[g_channel(group["id"])].kind == "group"


async def test_a_retried_client_id_is_stored_once_and_counts_as_success(sdk_server, clients):
    alice, bob = await users(sdk_server, 2)
    a = await clients(sdk_server, alice)
    first = await a.send_text(to=bob.id, text="once", client_id="my-id-1")
    again = await a.send_text(to=bob.id, text="once", client_id="my-id-1")
    assert again.dup and not first.dup and (again.seq, again.channel) == (first.seq, first.channel)
    history = await a.history(first.channel)
    assert [m.id for m in history] == ["my-id-1"]
    # An application-chosen id is still recognised as this client's own message.
    b = await clients(sdk_server, bob)
    await b.send_text(to=alice.id, text="reply")
    assert [m.text for m in await take(a.messages(), 1)] == ["reply"]


async def test_refusals_raise_send_failed(sdk_server, clients):
    (alice,) = await users(sdk_server, 1)
    a = await clients(sdk_server, alice)
    with pytest.raises(SendFailed) as refused:
        await a.send_text(to=2**62, text="nobody")
    assert refused.value.code == "not_found"
    with pytest.raises(SendFailed) as forbidden:
        await a.send_text(group=2**62, text="no group")
    assert forbidden.value.code in ("not_found", "forbidden")
    with pytest.raises(SendFailed) as invalid:
        await a.send_text(to=1, text="")
    assert invalid.value.code == "invalid"
    with pytest.raises(ValueError):
        await a.send_text(text="both", to=1, group=1)
    # The client is still usable.
    assert a.online


async def test_bad_credentials_and_bad_tokens_raise_auth_error(sdk_server, clients):
    (alice,) = await users(sdk_server, 1)
    client = Client(sdk_server.base_url)
    with pytest.raises(AuthError):
        await client.login(alice.username, "wrong password")
    with pytest.raises(AuthError):
        await client.connect()  # no token at all
    bad = Client(sdk_server.base_url, token="not-a-token")
    with pytest.raises(AuthError):
        await bad.connect(sdk_server.tcp_address, timeout=WAIT)
    await bad.close()
    await client.close()


async def test_messages_ends_when_the_client_is_closed(sdk_server, clients):
    (alice,) = await users(sdk_server, 1)
    a = await clients(sdk_server, alice)

    async def drain() -> list:
        return [m async for m in a.messages()]

    task = asyncio.create_task(drain())
    await a.close()
    assert await asyncio.wait_for(task, WAIT) == []
    assert a.status.state == "closed"


async def test_a_channel_that_appears_later_is_delivered_from_its_first_message(
        sdk_server, clients):
    alice, bob = await users(sdk_server, 2)
    a = await clients(sdk_server, alice)
    b = await clients(sdk_server, bob, "ws")
    status, group = await ahttp(sdk_server.base_url, "POST", "/api/groups/",
                                {"name": "later", "members": []}, token=bob.token)
    assert status == 201
    for i in range(3):
        await b.send_text(group=group["id"], text=f"before alice {i}")
    status, _ = await ahttp(sdk_server.base_url, "POST", f"/api/groups/{group['id']}/members/",
                            {"user_ids": [alice.id]}, token=bob.token)
    assert status in (200, 201)
    await b.send_text(group=group["id"], text="welcome alice")
    got = await take(a.messages(), 4)
    assert [(m.seq, m.text) for m in got] == [
        (1, "before alice 0"), (2, "before alice 1"), (3, "before alice 2"),
        (4, "welcome alice")]


async def test_websocket_with_json_frames(sdk_server, clients):
    alice, bob = await users(sdk_server, 2)
    a = await clients(sdk_server, alice, "ws", ws_encoding="json")
    b = await clients(sdk_server, bob, "ws", ws_encoding="json")
    sent = await a.send(type="emoji", to=bob.id, body={"emoji": "👋"})
    got = await take(b.messages(), 1)
    assert got[0].id == sent.id and got[0].body == {"emoji": "👋"}
