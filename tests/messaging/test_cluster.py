"""Two imserver processes sharing Redis and the database behave as one server."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clients import Closed, ahttp, connect, login_again, make_user

pytestmark = pytest.mark.mongo


@pytest.fixture(scope="module")
def nodes(cluster):
    return cluster.servers


@pytest.mark.parametrize("transports", [("tcp", "ws"), ("ws", "tcp")])
async def test_message_crosses_nodes_to_every_device(nodes, transports):
    a, b = nodes
    alice, bob = await make_user(a.base_url), await make_user(b.base_url)
    sender = await connect(a, transports[0])
    await sender.auth(alice.token, device="one")
    receiver = await connect(b, transports[1])
    await receiver.auth(bob.token)
    alice_elsewhere = await connect(b, "tcp")
    await alice_elsewhere.auth(await login_again(b.base_url, alice), device="two")
    await sender.send_text(to=bob.id, text="across", client_id="x1")
    ack = await sender.expect("ack")
    for client in (receiver, alice_elsewhere):
        got = await client.expect("text")
        assert (got["seq"], got["channel"], got["body"]) == (1, ack["channel"],
                                                             {"text": "across"})


async def test_concurrent_senders_on_both_nodes_get_unique_gap_free_seqs(nodes):
    a, b = nodes
    owner = await make_user(a.base_url)
    members = [await make_user(a.base_url) for _ in range(4)]
    status, group = await ahttp(a.base_url, "POST", "/api/groups/",
                                {"name": "c", "members": [m.id for m in members]},
                                token=owner.token)
    assert status == 201
    clients = []
    for i, member in enumerate(members):
        client = await connect(nodes[i % 2], "tcp" if i < 2 else "ws")
        await client.auth(member.token)
        clients.append(client)
    watcher = await connect(b, "tcp")
    await watcher.auth(owner.token)
    per_sender = 30

    async def blast(client, tag):
        for i in range(per_sender):
            await client.send_text(group=group["id"], text=tag, client_id=f"{tag}{i}")
        return await client.acks(per_sender)

    results = await asyncio.gather(*(blast(c, f"s{i}-") for i, c in enumerate(clients)))
    total = len(members) * per_sender
    assert sorted(a["seq"] for acks in results for a in acks) == list(range(1, total + 1))
    seen = set()
    while len(seen) < total:
        frame = await watcher.expect("text")
        assert frame["seq"] not in seen
        seen.add(frame["seq"])
    status, page = await ahttp(b.base_url, "GET", f"/api/channels/g:{group['id']}/messages/"
                               "?limit=500", token=owner.token)
    assert [m["seq"] for m in page["messages"]] == list(range(1, total + 1))


async def test_presence_and_replacement_span_nodes(nodes):
    a, b = nodes
    alice, bob = await make_user(a.base_url), await make_user(a.base_url)
    # Presence is shown only to people who share a channel (protocol 1.1).
    status, _ = await ahttp(a.base_url, "POST", "/api/groups/",
                            {"name": "pair", "members": [bob.id]}, token=alice.token)
    assert status == 201
    first = await connect(a, "tcp")
    await first.auth(alice.token, device="phone")
    status, presence = await ahttp(b.base_url, "GET", f"/api/presence/?users={alice.id}",
                                   token=bob.token)
    assert presence[str(alice.id)]["online"] is True
    second = await connect(b, "ws")
    await second.auth(alice.token, device="phone")
    assert await first.closed() == [{"type": "offline", "reason": "replaced", "reconnect": None}]
    # The replaced connection's departure does not take the new one's presence with it.
    status, presence = await ahttp(a.base_url, "GET", f"/api/presence/?users={alice.id}",
                                   token=bob.token)
    assert presence[str(alice.id)]["online"] is True
    await second.send({"type": "heartbeat"})
    assert (await second.recv())["type"] == "heartbeat"


async def test_logout_on_one_node_closes_the_connection_on_the_other(nodes):
    a, b = nodes
    alice = await make_user(a.base_url)
    client = await connect(a, "ws")
    await client.auth(alice.token)
    status, _ = await ahttp(b.base_url, "POST", "/api/auth/logout/", token=alice.token)
    assert status == 204
    frames = await client.closed()
    assert frames[-1] == {"type": "offline", "reason": "logout", "reconnect": None}


async def test_sigkill_loses_no_acknowledged_message(make_deployment):
    dep = make_deployment(redis=True, IM_RATE_MSGS_PER_S=100000, IM_RATE_BURST=100000)
    doomed, survivor = dep.start_server(), dep.start_server()
    alice, bob = await make_user(survivor.base_url), await make_user(survivor.base_url)
    sender = await connect(doomed, "tcp")
    await sender.auth(alice.token)
    other = await connect(survivor, "tcp")
    await other.auth(bob.token)
    acked: dict[str, int] = {}
    window, sent = 20, 0
    try:
        while True:  # keep a window of unacked sends in flight, as a client would
            while sent - len(acked) < window:
                await sender.send_text(to=bob.id, text=str(sent), client_id=f"k{sent}")
                sent += 1
            frame = await sender.recv()
            assert frame["type"] == "ack", frame
            acked[frame["id"]] = frame["seq"]
            if len(acked) == 150:
                doomed.kill()  # SIGKILL with sends in flight
    except (Closed, ConnectionError, OSError):
        pass
    assert len(acked) >= 150
    # Bob sends through the survivor: seqs continue with no gap and no reuse.
    await other.send_text(to=alice.id, text="after", client_id="after")
    after = (await other.acks(1))[0]
    status, page = await ahttp(survivor.base_url, "GET",
                               f"/api/channels/{after['channel']}/messages/?limit=500",
                               token=bob.token)
    stored = {m["id"]: m["seq"] for m in page["messages"]}
    seqs = [m["seq"] for m in page["messages"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(stored) == len(seqs)  # no duplicate client id
    for client_id, seq in acked.items():
        assert stored.get(client_id) == seq
    assert after["seq"] == seqs[-1]


async def test_readers_never_see_a_hole_while_both_nodes_write(nodes):
    """seq N is never returned before every lower seq of its channel is stored."""
    a, b = nodes
    owner = await make_user(a.base_url)
    writers = [await make_user(a.base_url) for _ in range(4)]
    status, group = await ahttp(a.base_url, "POST", "/api/groups/",
                                {"name": "holes", "members": [w.id for w in writers]},
                                token=owner.token)
    channel = f"g:{group['id']}"
    clients = []
    for i, writer in enumerate(writers):
        client = await connect(nodes[i % 2], "tcp")
        await client.auth(writer.token, device="w")
        clients.append(client)
    reader = await connect(b, "ws")
    await reader.auth(owner.token, device="reader")
    per_writer = 40
    total = per_writer * len(writers)

    async def write(client, tag):
        for i in range(per_writer):
            await client.send_text(group=group["id"], text=tag, client_id=f"{tag}{i}")
            await asyncio.sleep(0)
        await client.acks(per_writer)

    async def read():
        held, pages = 0, 0
        while held < total:
            await reader.send({"type": "sync", "id": "h", "channel": channel, "after": held,
                               "limit": 500})
            frame = await reader.recv()
            while frame["type"] != "sync":
                frame = await reader.recv()
            seqs = [m["seq"] for m in frame["messages"]]
            assert seqs == list(range(held + 1, held + 1 + len(seqs))), seqs
            held += len(seqs)
            pages += 1
        return pages

    results = await asyncio.gather(*(write(c, f"w{i}-") for i, c in enumerate(clients)), read())
    assert results[-1] > 1  # the reader really read while the writers wrote
