"""Sending from the wire: ack, delivery, idempotency, order (docs/protocol.md, Sending)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clients import ahttp, connect, login_again, make_user

pytestmark = [pytest.mark.embedded, pytest.mark.mongo]

TRANSPORTS = ["tcp", "ws", "ws-msgpack"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_private_message_acked_and_delivered_to_every_other_device(server, transport):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender = await connect(server, transport)
    await sender.auth(alice.token, device="laptop")
    alice_phone = await connect(server, "tcp")
    await alice_phone.auth(await login_again(server.base_url, alice), device="phone")
    receiver = await connect(server, "ws")
    await receiver.auth(bob.token)

    frame = await sender.send_text(to=bob.id, text="hello", client_id="c-1")
    ack = await sender.expect("ack")
    low, high = sorted((alice.id, bob.id))
    assert ack == {"type": "ack", "id": "c-1", "channel": f"p:{low}:{high}", "seq": 1,
                   "ts": ack["ts"]}
    expected = {"type": "text", "id": "c-1", "channel": ack["channel"], "seq": 1,
                "ts": ack["ts"], "from": alice.id, "to": bob.id, "body": frame["body"]}
    assert await receiver.expect("text") == expected
    assert await alice_phone.expect("text") == expected
    # The sending connection gets the ack only, not its own message.
    await sender.send({"type": "heartbeat"})
    assert (await sender.recv())["type"] == "heartbeat"


async def test_client_from_is_ignored_and_unknown_body_keys_dropped(server):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender, receiver = await connect(server, "tcp"), await connect(server, "tcp")
    await sender.auth(alice.token)
    await receiver.auth(bob.token)
    await sender.send({"type": "text", "id": "x", "to": bob.id, "from": bob.id,
                       "body": {"text": "hi", "url": "http://evil"}})
    await sender.expect("ack")
    got = await receiver.expect("text")
    assert got["from"] == alice.id
    assert got["body"] == {"text": "hi"}


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_retried_frame_is_stored_once_and_acked_as_dup(server, transport):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender, receiver = await connect(server, transport), await connect(server, "tcp")
    await sender.auth(alice.token)
    await receiver.auth(bob.token)
    await sender.send_text(to=bob.id, text="once", client_id="same")
    first = await sender.expect("ack")
    await sender.send_text(to=bob.id, text="once", client_id="same")
    second = await sender.expect("ack")
    assert second == {**first, "dup": True}
    # A new connection (after a reconnect) retrying the same id gets the same answer.
    await sender.close()
    again = await connect(server, transport)
    await again.auth(alice.token)
    await again.send_text(to=bob.id, text="once", client_id="same")
    assert await again.expect("ack") == {**first, "dup": True}
    # Bob got it exactly once: the next thing he sees is the next message.
    await again.send_text(to=bob.id, text="next", client_id="other")
    assert (await receiver.expect("text"))["seq"] == 1
    assert (await receiver.expect("text"))["seq"] == 2
    status, page = await ahttp(server.base_url, "GET",
                               f"/api/channels/{first['channel']}/messages/", token=bob.token)
    assert status == 200
    assert [(m["seq"], m["id"]) for m in page["messages"]] == [(1, "same"), (2, "other")]


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_pipelined_frames_keep_their_order(server, transport):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender, receiver = await connect(server, transport), await connect(server, "tcp")
    await sender.auth(alice.token)
    await receiver.auth(bob.token)
    count = 60
    for i in range(count):  # no waiting for acks
        await sender.send_text(to=bob.id, text=str(i), client_id=f"m{i}")
    acks = [await sender.expect("ack") for _ in range(count)]
    assert [a["id"] for a in acks] == [f"m{i}" for i in range(count)]
    assert [a["seq"] for a in acks] == list(range(1, count + 1))
    assert all(a["ts"] <= b["ts"] for a, b in zip(acks, acks[1:], strict=False))
    got = [await receiver.expect("text") for _ in range(count)]
    assert sorted(m["seq"] for m in got) == list(range(1, count + 1))
    assert {m["seq"]: m["body"]["text"] for m in got} == {i + 1: str(i) for i in range(count)}


async def test_a_pipelined_batch_with_new_channels_and_retries_is_stored_exactly(server):
    """Frames sent without waiting share batches: first messages to new peers (their
    channels created in the batch), retries of earlier frames and awkward text all
    come back, acked and in history, exactly as sent, each stored once."""
    alice = await make_user(server.base_url)
    peers = [await make_user(server.base_url) for _ in range(3)]
    sender = await connect(server, "tcp")
    await sender.auth(alice.token)
    text = "caf\u00e9 \U0001f600 'q' \"dq\" back\\slash 100% %s %(x)s"
    frames = []
    for i in range(30):
        peer = peers[i % 3]
        frames.append((peer.id, f"{text} {i}", f"k{i}"))
        if i % 4 == 3:  # a retry of an earlier frame, in the same pipeline
            frames.append(frames[-3])
    for to, body, client_id in frames:
        await sender.send_text(to=to, text=body, client_id=client_id)
    acks = [await sender.expect("ack") for _ in frames]
    first: dict[str, dict] = {}
    for (_, _, client_id), ack in zip(frames, acks, strict=True):
        assert ack["id"] == client_id
        if client_id in first:
            assert ack == {**first[client_id], "dup": True}
        else:
            assert "dup" not in ack
            first[client_id] = ack
    for peer in peers:
        low, high = sorted((alice.id, peer.id))
        status, page = await ahttp(server.base_url, "GET",
                                   f"/api/channels/p:{low}:{high}/messages/", token=peer.token)
        assert status == 200
        sent = [(c, b) for to, b, c in frames if to == peer.id]
        once = list(dict(sent).items())
        assert [(m["seq"], m["id"], m["body"]["text"]) for m in page["messages"]] == [
            (seq, c, b) for seq, (c, b) in enumerate(once, start=1)]
        assert [m["ts"] for m in page["messages"]] == sorted(m["ts"] for m in page["messages"])


async def test_concurrent_senders_get_unique_gap_free_seqs(server):
    owner = await make_user(server.base_url)
    members = [await make_user(server.base_url) for _ in range(4)]
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "race", "members": [m.id for m in members]},
                                token=owner.token)
    assert status == 201, group
    clients = []
    for i, member in enumerate(members):
        client = await connect(server, "tcp" if i % 2 else "ws")
        await client.auth(member.token)
        clients.append(client)
    per_sender = 25

    async def blast(client, tag):
        for i in range(per_sender):
            await client.send_text(group=group["id"], text=f"{tag}-{i}", client_id=f"{tag}-{i}")
        return await client.acks(per_sender)

    results = await asyncio.gather(*(blast(c, f"s{i}") for i, c in enumerate(clients)))
    seqs = sorted(a["seq"] for acks in results for a in acks)
    assert seqs == list(range(1, len(members) * per_sender + 1))
    for acks in results:  # each sender's own frames in its own order
        assert [a["seq"] for a in acks] == sorted(a["seq"] for a in acks)
    status, page = await ahttp(server.base_url, "GET",
                               f"/api/channels/g:{group['id']}/messages/?limit=500",
                               token=owner.token)
    assert [m["seq"] for m in page["messages"]] == seqs


async def test_group_message_reaches_every_member_device_but_not_outsiders(server):
    owner, member, outsider = [await make_user(server.base_url) for _ in range(3)]
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "g", "members": [member.id]}, token=owner.token)
    assert status == 201
    a, b, c = [await connect(server, t) for t in ("tcp", "ws", "tcp")]
    await a.auth(owner.token)
    await b.auth(member.token)
    await c.auth(outsider.token)
    await a.send_text(group=group["id"], text="to all", client_id="g1")
    ack = await a.expect("ack")
    got = await b.expect("text")
    assert got["group"] == group["id"] and "to" not in got and got["seq"] == ack["seq"]
    await c.send_text(group=group["id"], text="let me in", client_id="x")
    error = await c.expect("error")
    assert error["code"] == "forbidden" and error["id"] == "x"
    # the outsider saw nothing of the group
    await c.send({"type": "heartbeat"})
    assert (await c.recv())["type"] == "heartbeat"


async def test_send_to_unknown_user_or_group_is_not_found(server):
    alice = await make_user(server.base_url)
    client = await connect(server, "tcp")
    await client.auth(alice.token)
    await client.send_text(to=10**12, text="?", client_id="u")
    assert (await client.expect("error"))["code"] == "not_found"
    await client.send_text(group=10**12, text="?", client_id="g")
    error = await client.expect("error")
    assert error == {**error, "code": "not_found", "id": "g"}
    await client.send({"type": "image", "id": "i", "to": alice.id, "body": {"media": "nope"}})
    assert (await client.expect("error"))["code"] == "not_found"


async def test_the_documented_tcp_script_chats_with_a_websocket_user(server):
    import subprocess
    import sys
    from pathlib import Path

    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    browser = await connect(server, "ws")
    await browser.auth(bob.token)
    script = Path(__file__).resolve().parents[2] / "examples" / "tcp_chat.py"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), f"{server.tcp_host}:{server.tcp_port}", alice.token,
        str(bob.id), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        assert b"auth_ok" in await asyncio.wait_for(proc.stdout.readline(), 10)
        proc.stdin.write(b"hello from tcp\n")
        await proc.stdin.drain()
        got = await browser.expect("text")
        assert (got["from"], got["body"]) == (alice.id, {"text": "hello from tcp"})
        assert b"'ack'" in await asyncio.wait_for(proc.stdout.readline(), 10)
        await browser.send({"type": "text", "id": "back", "to": alice.id,
                            "body": {"text": "hello from ws"}})
        assert b"hello from ws" in await asyncio.wait_for(proc.stdout.readline(), 10)
    finally:
        proc.kill()
        await proc.wait()
