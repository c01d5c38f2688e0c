"""The Redis hot window serves recent ranges, and losing it loses nothing."""

from __future__ import annotations

import asyncio

import msgpack
import pytest
import redis

from tests.support.clients import connect, make_user
from tests.support.hot_window import window_key, window_reaches

pytestmark = pytest.mark.embedded

HOT_DB = 7  # a Redis database of its own: these tests flush it


async def test_recent_range_is_served_from_the_window_and_holes_fall_back(make_deployment):
    dep = make_deployment(redis=True, redis_db=HOT_DB, IM_HOT_WINDOW=20)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    client = await connect(server, "tcp")
    await client.auth(alice.token)
    for i in range(30):
        await client.send_text(to=bob.id, text=f"m{i}", client_id=f"h{i}")
    acks = [await client.expect("ack") for _ in range(30)]
    channel = acks[0]["channel"]
    r = redis.Redis.from_url(dep.env["IM_REDIS_URL"])
    key = window_key(dep, channel)
    await window_reaches(r, key, 30)  # written after the acks
    assert [int(s) for _, s in r.zrange(key, 0, -1, withscores=True)] == list(range(11, 31))

    # Mark seq 25 in the window: a read of a range inside it must show the mark.
    (raw,) = r.zrangebyscore(key, 25, 25)
    fields = msgpack.unpackb(raw, raw=False)
    fields[6] = {"text": "from-the-window"}
    r.zrem(key, raw)
    r.zadd(key, {msgpack.packb(fields, use_bin_type=True): 25})
    await client.send({"type": "sync", "id": "s", "channel": channel, "after": 20, "limit": 10})
    page = await client.expect("sync")
    assert [m["seq"] for m in page["messages"]] == list(range(21, 31))
    assert page["messages"][4]["body"] == {"text": "from-the-window"}

    # A range older than the window comes from the database.
    await client.send({"type": "sync", "id": "s", "channel": channel, "after": 0, "limit": 15})
    page = await client.expect("sync")
    assert [m["body"]["text"] for m in page["messages"]] == [f"m{i}" for i in range(15)]

    # A hole in the window (seq 27 gone): the range is read from the database instead.
    r.zremrangebyscore(key, 27, 27)
    await client.send({"type": "sync", "id": "s", "channel": channel, "after": 20, "limit": 10})
    page = await client.expect("sync")
    assert [m["body"]["text"] for m in page["messages"]] == [f"m{i}" for i in range(20, 30)]


async def test_flushing_redis_mid_run_loses_duplicates_and_reorders_nothing(make_deployment):
    dep = make_deployment(redis=True, redis_db=HOT_DB, IM_HOT_WINDOW=50,
                          IM_RATE_MSGS_PER_S=100000, IM_RATE_BURST=100000)
    a, b = dep.start_server(), dep.start_server()
    alice, bob = await make_user(a.base_url), await make_user(a.base_url)
    sender = await connect(a, "tcp")
    await sender.auth(alice.token)
    r = redis.Redis.from_url(dep.env["IM_REDIS_URL"])
    total, acked = 300, {}
    for i in range(total):
        await sender.send_text(to=bob.id, text=f"f{i}", client_id=f"f{i}")
        if i == total // 2:
            await asyncio.to_thread(r.flushdb)
        if i % 25 == 0:
            await asyncio.sleep(0)
    while len(acked) < total:
        frame = await sender.expect("ack")
        acked[frame["id"]] = frame["seq"]
    assert sorted(acked.values()) == list(range(1, total + 1))
    # Bob's device comes online on the other node after the flush and pulls everything.
    reader = await connect(b, "ws")
    await reader.auth(bob.token)
    await reader.send({"type": "sync", "id": "l"})
    listing = await reader.expect("sync")
    (entry,) = listing["channels"]
    channel = entry["channel"]
    assert entry["last_seq"] == total
    got, after = [], 0
    while after < total:
        await reader.send({"type": "sync", "id": "r", "channel": channel, "after": after,
                           "limit": 40})
        page = await reader.expect("sync")
        assert page["messages"], page
        got.extend(page["messages"])
        after = page["messages"][-1]["seq"]
    assert [m["seq"] for m in got] == list(range(1, total + 1))
    assert {m["id"]: m["seq"] for m in got} == acked
    assert [m["body"]["text"] for m in got] == [f"f{i}" for i in range(total)]
