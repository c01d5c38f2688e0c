"""Sync over the wire and history over REST (docs/protocol.md, Sync and REST)."""

from __future__ import annotations

import pytest

from tests.support.clients import ahttp, connect, make_user

pytestmark = [pytest.mark.embedded, pytest.mark.mongo]


async def send_many(client, count, **target):
    for i in range(count):
        await client.send_text(text=f"m{i}", client_id=f"id-{i}", **target)
    return [await client.expect("ack") for _ in range(count)]


@pytest.mark.parametrize("transport", ["tcp", "ws", "ws-msgpack"])
async def test_device_offline_comes_back_and_syncs_everything_once_in_order(server, transport):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    owner = await make_user(server.base_url)
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "s", "members": [bob.id]}, token=owner.token)
    assert status == 201
    sender = await connect(server, "tcp")
    await sender.auth(alice.token)
    p_acks = await send_many(sender, 12, to=bob.id)
    grouper = await connect(server, "ws")
    await grouper.auth(owner.token)
    g_acks = await send_many(grouper, 7, group=group["id"])

    # Bob was offline throughout; a new device asks the channel list first.
    device = await connect(server, transport)
    await device.auth(bob.token, device="tablet")
    await device.send({"type": "sync", "id": "s0"})
    listing = await device.expect("sync")
    assert listing["id"] == "s0"
    assert sorted((c["channel"], c["last_seq"]) for c in listing["channels"]) == sorted(
        [(p_acks[0]["channel"], 12), (g_acks[0]["channel"], 7)]
    )
    # Then each channel in pages.
    got = []
    after = 0
    while True:
        await device.send({"type": "sync", "id": "s1", "channel": p_acks[0]["channel"],
                           "after": after, "limit": 5})
        page = await device.expect("sync")
        assert page["last_seq"] == 12 and page["channel"] == p_acks[0]["channel"]
        if not page["messages"]:
            break
        got.extend(page["messages"])
        after = page["messages"][-1]["seq"]
    assert [m["seq"] for m in got] == list(range(1, 13))
    assert [m["body"]["text"] for m in got] == [f"m{i}" for i in range(12)]
    assert all(m["from"] == alice.id and m["to"] == bob.id for m in got)
    await device.send({"type": "sync", "id": "s2", "channel": g_acks[0]["channel"]})
    page = await device.expect("sync")
    assert [m["seq"] for m in page["messages"]] == list(range(1, 8))
    assert all(m["group"] == group["id"] for m in page["messages"])


async def test_sync_of_a_foreign_channel_is_forbidden(server):
    alice, bob, eve = [await make_user(server.base_url) for _ in range(3)]
    status, group = await ahttp(server.base_url, "POST", "/api/groups/", {"name": "x"},
                                token=alice.token)
    client = await connect(server, "tcp")
    await client.auth(eve.token)
    low, high = sorted((alice.id, bob.id))
    for channel in (f"p:{low}:{high}", f"g:{group['id']}", "g:999999999"):
        await client.send({"type": "sync", "id": channel, "channel": channel})
        error = await client.expect("error")
        assert (error["code"], error["id"]) == ("forbidden", channel)
        status, body = await ahttp(server.base_url, "GET", f"/api/channels/{channel}/messages/",
                                   token=eve.token)
        assert status == 403 and "detail" in body


async def test_sync_after_own_sends_on_the_same_connection_includes_them(server):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    client = await connect(server, "tcp")
    await client.auth(alice.token)
    for i in range(20):
        await client.send_text(to=bob.id, text=str(i), client_id=f"o{i}")
    low, high = sorted((alice.id, bob.id))
    await client.send({"type": "sync", "id": "now", "channel": f"p:{low}:{high}", "limit": 500})
    frames = [await client.recv() for _ in range(21)]
    assert [f["type"] for f in frames] == ["ack"] * 20 + ["sync"]
    assert len(frames[-1]["messages"]) == 20


async def test_history_rest_pages_by_seq(server):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    client = await connect(server, "ws")
    await client.auth(alice.token)
    acks = await send_many(client, 30, to=bob.id)
    channel = acks[0]["channel"]
    base = f"/api/channels/{channel}/messages/"
    status, page = await ahttp(server.base_url, "GET", base + "?after=10&limit=5",
                               token=bob.token)
    assert status == 200
    assert [m["seq"] for m in page["messages"]] == [11, 12, 13, 14, 15]
    assert page["last_seq"] == 30 and page["channel"] == channel
    status, page = await ahttp(server.base_url, "GET", base + "?before=11&limit=3",
                               token=bob.token)
    assert [m["seq"] for m in page["messages"]] == [8, 9, 10]
    status, page = await ahttp(server.base_url, "GET", base + "?after=25&before=28",
                               token=alice.token)
    assert [m["seq"] for m in page["messages"]] == [26, 27]
    # The same message objects as the wire.
    await client.send({"type": "sync", "id": "s", "channel": channel, "after": 25, "limit": 2})
    wire = await client.expect("sync")
    status, rest = await ahttp(server.base_url, "GET", base + "?after=25&limit=2",
                               token=alice.token)
    assert wire["messages"] == rest["messages"]
    for bad in ("?after=-1", "?limit=0", "?limit=501", "?after=x", f"?after={2**70}"):
        status, body = await ahttp(server.base_url, "GET", base + bad, token=bob.token)
        assert status == 400 and isinstance(body, dict), bad
    status, body = await ahttp(server.base_url, "GET", base)
    assert status == 401


async def test_channel_list_rest(server):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    status, group = await ahttp(server.base_url, "POST", "/api/groups/", {"name": "l"},
                                token=alice.token)
    client = await connect(server, "tcp")
    await client.auth(alice.token)
    await client.send_text(to=bob.id, text="hi", client_id="1")
    ack = await client.expect("ack")
    status, channels = await ahttp(server.base_url, "GET", "/api/channels/", token=alice.token)
    assert status == 200
    assert sorted(channels, key=lambda c: c["channel"]) == sorted([
        # Sending reads the channel up to the message sent (docs/protocol.md, Conversation state).
        {"channel": ack["channel"], "kind": "private", "peer": bob.id, "last_seq": 1,
         "read_seq": 1, "unread": 0},
        {"channel": f"g:{group['id']}", "kind": "group", "group": group["id"], "last_seq": 0,
         "read_seq": 0, "unread": 0},
    ], key=lambda c: c["channel"])
    status, channels = await ahttp(server.base_url, "GET", "/api/channels/", token=bob.token)
    assert channels == [{"channel": ack["channel"], "kind": "private", "peer": alice.id,
                         "last_seq": 1, "read_seq": 0, "unread": 1}]


async def test_bad_channel_names_in_rest_are_4xx_json(server):
    alice = await make_user(server.base_url)
    for name in ("nonsense", "p:1", "g:-1", "p:2:1", "g:99999999999999999999999"):
        status, body = await ahttp(server.base_url, "GET", f"/api/channels/{name}/messages/",
                                   token=alice.token)
        assert 400 <= status < 500 and isinstance(body, dict), (name, status)


async def test_pages_stop_at_the_byte_cap_and_hold_at_least_one(make_deployment):
    dep = make_deployment(IM_SYNC_MAX_BYTES=10_000)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender = await connect(server, "tcp")
    await sender.auth(alice.token)
    # Eight texts of about 4 KB, then one of 16 KB (4000 four-byte characters).
    for i in range(8):
        await sender.send_text(to=bob.id, text="x" * 4000, client_id=f"m{i}")
    await sender.send_text(to=bob.id, text="\U0001f600" * 4000, client_id="big")
    acks = await sender.acks(9)
    channel = acks[0]["channel"]
    reader = await connect(server, "ws")
    await reader.auth(bob.token)
    seqs, after = [], 0
    while after < 9:
        await reader.send({"type": "sync", "id": f"s{after}", "channel": channel,
                           "after": after, "limit": 500})
        page = await reader.expect("sync")
        assert page["last_seq"] == 9
        got = [m["seq"] for m in page["messages"]]
        assert 1 <= len(got) <= 2, got  # 10,000 bytes hold two 4 KB texts, not three
        seqs += got
        after = got[-1]
    assert seqs == list(range(1, 10))
    # History pages have the same cap; paging back keeps the newest.
    status, back = await ahttp(server.base_url, "GET",
                               f"/api/channels/{channel}/messages/?before=9&limit=500",
                               token=bob.token)
    assert status == 200 and [m["seq"] for m in back["messages"]] == [7, 8]


@pytest.mark.parametrize("transport", ["ws", "ws-msgpack", "tcp"])
async def test_a_page_larger_than_the_client_frame_limit_arrives(server, transport):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender = await connect(server, "tcp")
    await sender.auth(alice.token)
    for i in range(40):  # 40 x 4 KB: a page of 160 KB, over the 64 KB frame limit
        await sender.send_text(to=bob.id, text="y" * 4000, client_id=f"b{i}")
    channel = (await sender.acks(40))[0]["channel"]
    reader = await connect(server, transport)
    await reader.auth(bob.token)
    await reader.send({"type": "sync", "id": "big", "channel": channel, "limit": 100})
    page = await reader.expect("sync")
    assert [m["seq"] for m in page["messages"]] == list(range(1, 41))


async def test_the_channel_list_stops_at_the_byte_cap_with_unread_channels_first(make_deployment):
    dep = make_deployment(IM_SYNC_MAX_BYTES=1024)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    groups = []
    for i in range(60):
        status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                    {"name": f"g{i}", "members": [bob.id]}, token=alice.token)
        assert status == 201
        groups.append(group)
    sender = await connect(server, "tcp")
    await sender.auth(alice.token)
    late = groups[-1]  # listed last by name order, unread for bob
    await sender.send_text(group=late["id"], text="news", client_id="n")
    await sender.expect("ack")
    reader = await connect(server, "tcp")
    await reader.auth(bob.token)
    await reader.send({"type": "sync", "id": "c"})
    reply = await reader.expect("sync")
    assert reply["truncated"] is True
    listed = [c["channel"] for c in reply["channels"]]
    assert listed[0] == late["channel"] and 10 < len(listed) < 60
    # REST lists them all.
    status, every = await ahttp(server.base_url, "GET", "/api/channels/", token=bob.token)
    assert status == 200 and len(every) == 60


async def test_a_short_channel_list_is_whole(server):
    alice = await make_user(server.base_url)
    reader = await connect(server, "tcp")
    await reader.auth(alice.token)
    await reader.send({"type": "sync", "id": "c"})
    reply = await reader.expect("sync")
    assert reply == {"type": "sync", "id": "c", "channels": []}
