"""The hot window is written after the acks: a late write never serves a stale body,
and a lagging window only sends readers to the database."""

from __future__ import annotations

import os
import tempfile

import pytest
import redis

from tests.support.clients import ahttp, connect, make_user
from tests.support.hot_window import window_key, window_reaches, window_seqs

pytestmark = [pytest.mark.embedded, pytest.mark.mongo]

HOT_DB = 8


@pytest.fixture
def hold():
    """A file whose presence holds a node's window writes (IM_TEST_HOT_WINDOW_HOLD)."""
    fd, path = tempfile.mkstemp(prefix="im-hot-hold-")
    os.close(fd)
    yield path
    if os.path.exists(path):
        os.unlink(path)


async def _sync_all(client, channel: str) -> list[dict]:
    """Page through a channel as the SDK does: until the page's last_seq."""
    got, after = [], 0
    while True:
        await client.send({"type": "sync", "id": "r", "channel": channel, "after": after,
                           "limit": 50})
        page = await client.expect("sync")
        got.extend(page["messages"])
        if not page["messages"] or page["messages"][-1]["seq"] >= page["last_seq"]:
            return got
        after = page["messages"][-1]["seq"]


async def test_a_revision_wins_against_a_later_write_of_its_original(make_deployment, hold):
    dep = make_deployment(redis=True, redis_db=HOT_DB)
    a = dep.start_server(IM_TEST_HOT_WINDOW_HOLD=hold)  # its window writes wait
    b = dep.start_server()
    alice, bob = await make_user(a.base_url), await make_user(a.base_url)
    phone = await connect(a, "tcp")
    await phone.auth(alice.token, device="phone")
    desktop = await connect(b, "ws")
    await desktop.auth(alice.token, device="desktop")

    await phone.send_text(to=bob.id, text="helo", client_id="m1")
    await phone.send_text(to=bob.id, text="oops", client_id="m2")
    first, second = await phone.acks(2)
    channel = first["channel"]
    r = redis.Redis.from_url(dep.env["IM_REDIS_URL"])
    key = window_key(dep, channel)
    assert window_seqs(r, key) == []  # acked, and their window write is still queued on a

    # Another node edits seq 1 while a's write of the original waits; a itself recalls
    # seq 2, whose write waits in its own queue ahead of the recall's.
    await desktop.send({"type": "edit", "id": "e1", "channel": channel, "target": 1,
                        "body": {"text": "hello"}})
    (edit_ack,) = await desktop.acks(1)
    await phone.send({"type": "recall", "id": "x1", "channel": channel, "target": 2})
    (recall_ack,) = await phone.acks(1)
    await phone.send_text(to=bob.id, text="after", client_id="m5")
    (last,) = await phone.acks(1)
    assert last["seq"] == 5

    # Released, a writes the originals, the recall and m5 in commit order.
    os.unlink(hold)
    await window_reaches(r, key, 5)
    expected = {1: ({"text": "hello"}, "edited", edit_ack["ts"]),
                2: ({}, "recalled", recall_ack["ts"])}

    reader = await connect(b, "tcp")  # after the sends: no pushes between its replies
    await reader.auth(bob.token)
    messages = await _sync_all(reader, channel)
    assert [m["seq"] for m in messages] == [1, 2, 3, 4, 5]
    for seq, (body, field, ts) in expected.items():
        assert messages[seq - 1]["body"] == body
        assert messages[seq - 1][field] == ts
    for server in (a, b):
        status, page = await ahttp(server.base_url, "GET", f"/api/channels/{channel}/messages/",
                                   token=bob.token)
        assert status == 200
        history = {m["seq"]: m for m in page["messages"]}
        for seq, (body, field, ts) in expected.items():
            assert history[seq]["body"] == body and history[seq][field] == ts
    assert window_seqs(r, key) == [3, 4, 5]  # the originals were skipped: tombstones


async def test_acked_messages_are_read_from_the_database_while_the_window_lags(
        make_deployment, hold):
    os.unlink(hold)  # writes flow at first
    dep = make_deployment(redis=True, redis_db=HOT_DB, IM_TEST_HOT_WINDOW_HOLD=hold)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender = await connect(server, "tcp")
    await sender.auth(alice.token)
    for i in range(3):
        await sender.send_text(to=bob.id, text=f"w{i}", client_id=f"w{i}")
    acks = await sender.acks(3)
    channel = acks[0]["channel"]
    r = redis.Redis.from_url(dep.env["IM_REDIS_URL"])
    key = window_key(dep, channel)
    await window_reaches(r, key, 3)

    open(hold, "w").close()  # the window stops at seq 3
    try:
        for i in range(3, 8):
            await sender.send_text(to=bob.id, text=f"w{i}", client_id=f"w{i}")
        assert [a["seq"] for a in await sender.acks(5)] == [4, 5, 6, 7, 8]
        # The acks did not wait for the window.
        assert window_seqs(r, key) == [1, 2, 3]

        reader = await connect(server, "ws")  # after the sends: no pushes between replies
        await reader.auth(bob.token)
        # Past the window's end: from the database, right after the acks.
        await reader.send({"type": "sync", "id": "s", "channel": channel, "after": 3})
        page = await reader.expect("sync")
        assert [m["body"]["text"] for m in page["messages"]] == [f"w{i}" for i in range(3, 8)]
        assert page["last_seq"] == 8
        # From the start, as a client pages: everything, in order.
        messages = await _sync_all(reader, channel)
        assert [m["body"]["text"] for m in messages] == [f"w{i}" for i in range(8)]
        status, history = await ahttp(server.base_url, "GET",
                                      f"/api/channels/{channel}/messages/", token=bob.token)
        assert status == 200
        assert [m["seq"] for m in history["messages"]] == list(range(1, 9))
    finally:
        if os.path.exists(hold):
            os.unlink(hold)
    await window_reaches(r, key, 8)
    assert window_seqs(r, key) == list(range(1, 9))
