"""Edit and recall from the wire (docs/protocol.md, Conversation state)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clients import ahttp, connect, make_user

pytestmark = pytest.mark.mongo

TRANSPORTS = ["tcp", "ws"]


async def _pair(server, transport):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    a, b = await connect(server, transport), await connect(server, transport)
    await a.auth(alice.token)
    await b.auth(bob.token)
    return alice, bob, a, b


async def _history(server, account, channel):
    status, page = await ahttp(server.base_url, "GET", f"/api/channels/{channel}/messages/",
                               token=account.token)
    assert status == 200
    return {m["seq"]: m for m in page["messages"]}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_edit_and_recall_are_messages_and_change_their_targets(server, transport):
    alice, bob, a, b = await _pair(server, transport)
    await a.send_text(to=bob.id, text="helo", client_id="m1")
    await a.send_text(to=bob.id, text="oops", client_id="m2")
    first, second = await a.acks(2)
    channel = first["channel"]
    await b.expect("text")
    await b.expect("text")

    await a.send({"type": "edit", "id": "e1", "channel": channel, "target": 1,
                  "body": {"text": "hello"}})
    edit_ack = await a.expect("ack")
    assert (edit_ack["id"], edit_ack["seq"]) == ("e1", 3)
    pushed = await b.expect("edit")
    assert pushed == {"type": "edit", "id": "e1", "channel": channel, "seq": 3,
                      "ts": edit_ack["ts"], "from": alice.id, "to": bob.id, "target": 1,
                      "body": {"text": "hello"}}
    await a.send({"type": "recall", "id": "x1", "channel": channel, "target": 2})
    recall_ack = await a.expect("ack")
    assert recall_ack["seq"] == 4
    assert (await b.expect("recall"))["target"] == 2

    # A retry is acked again, not stored again.
    await a.send({"type": "recall", "id": "x1", "channel": channel, "target": 2})
    assert await a.expect("ack") == {**recall_ack, "dup": True}

    for account in (alice, bob):
        history = await _history(server, account, channel)
        assert history[1]["body"] == {"text": "hello"}
        assert history[1]["edited"] == edit_ack["ts"]
        assert "recalled" not in history[1]
        assert history[2]["body"] == {} and history[2]["recalled"] == recall_ack["ts"]
        assert [history[s]["type"] for s in (3, 4)] == ["edit", "recall"]
        assert sorted(history) == [1, 2, 3, 4]
    # Sync shows the same current state.
    await b.send({"type": "sync", "id": "s", "channel": channel, "after": 0})
    synced = {m["seq"]: m for m in (await b.expect("sync"))["messages"]}
    assert synced[1]["body"] == {"text": "hello"} and synced[2]["recalled"] == recall_ack["ts"]
    # Edits and recalls are not unread.
    status, listed = await ahttp(server.base_url, "GET", "/api/channels/", token=bob.token)
    assert [c["unread"] for c in listed if c["channel"] == channel] == [2]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_who_may_change_what(server, transport):
    alice, bob, a, b = await _pair(server, transport)
    await a.send_text(to=bob.id, text="mine", client_id="m1")
    channel = (await a.expect("ack"))["channel"]
    await b.expect("text")
    await a.send({"type": "emoji", "id": "m2", "to": bob.id, "body": {"emoji": "x"}})
    await a.expect("ack")
    await b.expect("emoji")

    async def refused(client, frame, code):
        await client.send(frame)
        error = await client.expect("error")
        assert (error["id"], error["code"]) == (frame["id"], code), error

    edit = {"type": "edit", "channel": channel, "body": {"text": "t"}}
    # Someone else's message, a missing one, an emoji, an edit itself.
    await refused(b, {**edit, "id": "e1", "target": 1}, "forbidden")
    await refused(a, {**edit, "id": "e2", "target": 99}, "not_found")
    await refused(a, {**edit, "id": "e3", "target": 2}, "forbidden")
    await a.send({**edit, "id": "e4", "target": 1})
    await a.expect("ack")  # seq 3
    await b.expect("edit")
    await refused(a, {**edit, "id": "e5", "target": 3}, "forbidden")
    await refused(a, {"type": "recall", "id": "r0", "channel": channel, "target": 3},
                  "forbidden")
    # Someone outside the channel.
    carol = await make_user(server.base_url)
    c = await connect(server, transport)
    await c.auth(carol.token)
    await refused(c, {"type": "recall", "id": "r1", "channel": channel, "target": 1},
                  "forbidden")
    # Recalled: no edit, no second recall.
    await a.send({"type": "recall", "id": "r2", "channel": channel, "target": 1})
    await a.expect("ack")
    await refused(a, {**edit, "id": "e6", "target": 1}, "forbidden")
    await refused(a, {"type": "recall", "id": "r3", "channel": channel, "target": 1},
                  "forbidden")
    # Bad frames.
    await refused(a, {"type": "edit", "id": "e7", "channel": channel, "target": 2}, "invalid")
    await refused(a, {"type": "recall", "id": "r4", "channel": channel, "target": "1"},
                  "invalid")


async def test_group_edit_reaches_every_member(server):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "e", "members": [bob.id]}, token=alice.token)
    a, b = await connect(server, "tcp"), await connect(server, "ws")
    await a.auth(alice.token)
    await b.auth(bob.token)
    await a.send_text(group=group["id"], text="x", client_id="g1")
    await a.expect("ack")
    await b.expect("text")
    await a.send({"type": "edit", "id": "g2", "channel": group["channel"], "target": 1,
                  "body": {"text": "y"}})
    await a.expect("ack")
    pushed = await b.expect("edit")
    assert (pushed["group"], pushed["target"], pushed["body"]) == (group["id"], 1, {"text": "y"})


@pytest.fixture(scope="module")
def short_windows(deployment_factory_module):
    dep = deployment_factory_module(IM_RECALL_WINDOW_S=1, IM_EDIT_WINDOW_S=1)
    dep.start_server()
    return dep.servers[0]


async def test_windows_from_settings(short_windows):
    server = short_windows
    alice, bob, a, b = await _pair(server, "tcp")
    await a.send_text(to=bob.id, text="one", client_id="m1")
    channel = (await a.expect("ack"))["channel"]
    await a.send({"type": "edit", "id": "e1", "channel": channel, "target": 1,
                  "body": {"text": "uno"}})
    await a.expect("ack")
    await asyncio.sleep(1.2)  # the windows are time itself: let one second pass
    for frame in ({"type": "edit", "id": "e2", "channel": channel, "target": 1,
                   "body": {"text": "eins"}},
                  {"type": "recall", "id": "r1", "channel": channel, "target": 1}):
        await a.send(frame)
        error = await a.expect("error")
        assert (error["id"], error["code"]) == (frame["id"], "forbidden")
