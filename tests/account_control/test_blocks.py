"""Blocking (docs/protocol.md, REST): from the block's commit on, on every node, the
blocked user's private messages get `forbidden`, they cannot add the blocker to a
group, and the blocker is left out of their presence answers; a shared group still
carries both people's messages."""

from __future__ import annotations

import pytest

from tests.support.clients import ahttp, connect, make_user


@pytest.fixture(scope="module")
def nodes(cluster):
    return cluster.servers


async def block(server, who, whom_id: int) -> tuple[int, object]:
    return await ahttp(server.base_url, "POST", "/api/blocks/", {"user_id": whom_id},
                       token=who.token)


@pytest.mark.parametrize("transport", ["tcp", "ws", "ws-msgpack"])
async def test_a_blocked_sender_is_refused_on_every_node_and_groups_still_carry(
    nodes, transport
):
    a, b = nodes
    alice, bob = await make_user(a.base_url), await make_user(b.base_url)
    status, group = await ahttp(a.base_url, "POST", "/api/groups/",
                                {"name": "shared", "members": [alice.id]}, token=bob.token)
    assert status == 201, group
    alice_ws = {}
    for node, name in ((a, "on-a"), (b, "on-b")):
        client = await connect(node, transport)
        await client.auth(alice.token, device=name)
        alice_ws[name] = client
    bob_conn = await connect(a, "tcp")
    await bob_conn.auth(bob.token)

    await alice_ws["on-a"].send_text(to=bob.id, text="before", client_id="p0")
    assert (await alice_ws["on-a"].expect("ack"))["seq"] == 1
    assert (await bob_conn.expect("text"))["body"] == {"text": "before"}
    # Her other device gets her message too.
    assert (await alice_ws["on-b"].expect("text"))["body"] == {"text": "before"}

    status, body = await block(b, bob, alice.id)
    assert status == 201, body
    assert body["user_id"] == alice.id and body["user"]["id"] == alice.id

    for name, client in alice_ws.items():
        await client.send_text(to=bob.id, text="after", client_id=f"p-{name}")
        error = await client.expect_any(("error", "ack"))
        assert error == {"type": "error", "id": f"p-{name}", "code": "forbidden",
                         "message": error["message"]}, error
        # No hint beyond the code: the word "block" is not said.
        assert "block" not in error["message"].lower()

    # The group carries her messages to him, and his to her.
    await alice_ws["on-b"].send_text(group=group["id"], text="in the group", client_id="g1")
    await alice_ws["on-b"].expect("ack")
    got = await bob_conn.expect("text")
    assert (got["from"], got["body"]) == (alice.id, {"text": "in the group"})
    # Blocking is one-way: he can still write to her (she sees it on both devices).
    await bob_conn.send_text(to=alice.id, text="still me", client_id="b1")
    assert (await bob_conn.expect("ack"))["seq"] == 2
    assert (await alice_ws["on-a"].expect("text"))["body"] == {"text": "in the group"}
    for client in alice_ws.values():
        got = await client.expect("text")
        assert got["body"] == {"text": "still me"}
    # Nothing of hers was stored after the block: the private channel holds 2 messages.
    status, history = await ahttp(a.base_url, "GET", f"/api/channels/{got['channel']}/messages/",
                                  token=bob.token)
    assert [m["body"]["text"] for m in history["messages"]] == ["before", "still me"]

    # Unblocked (on the other node): her messages go through again.
    status, _ = await ahttp(a.base_url, "DELETE", f"/api/blocks/{alice.id}/", token=bob.token)
    assert status == 204
    await alice_ws["on-b"].send_text(to=bob.id, text="again", client_id="p-again")
    assert (await alice_ws["on-b"].expect("ack"))["seq"] == 3
    for client in (*alice_ws.values(), bob_conn):
        await client.close()


async def test_a_blocked_user_cannot_add_the_blocker_to_a_group(nodes):
    a, b = nodes
    alice, bob, carol = [await make_user(a.base_url) for _ in range(3)]
    assert (await block(a, bob, alice.id))[0] == 201

    status, body = await ahttp(b.base_url, "POST", "/api/groups/",
                               {"name": "g", "members": [bob.id, carol.id]}, token=alice.token)
    assert status == 403, body
    assert "detail" in body and str(bob.id) not in body["detail"]

    status, group = await ahttp(b.base_url, "POST", "/api/groups/",
                                {"name": "g", "members": [carol.id]}, token=alice.token)
    assert status == 201
    path = f"/api/groups/{group['id']}/members/"
    status, body = await ahttp(a.base_url, "POST", path, {"user_ids": [bob.id]},
                               token=alice.token)
    assert status == 403, body
    status, members = await ahttp(a.base_url, "GET", path, token=alice.token)
    assert sorted(m["user"]["id"] for m in members) == sorted([alice.id, carol.id])
    # Carol, whom bob did not block, may add him; and he may add alice.
    status, other = await ahttp(a.base_url, "POST", "/api/groups/",
                                {"name": "h", "members": [bob.id]}, token=carol.token)
    assert status == 201, other
    status, body = await ahttp(a.base_url, "POST", f"/api/groups/{other['id']}/members/",
                               {"user_ids": [alice.id]}, token=carol.token)
    assert status == 200, body


async def test_the_blocker_is_left_out_of_the_blocked_users_presence(nodes):
    a, b = nodes
    alice, bob = await make_user(a.base_url), await make_user(a.base_url)
    status, _ = await ahttp(a.base_url, "POST", "/api/groups/",
                            {"name": "p", "members": [alice.id]}, token=bob.token)
    assert status == 201
    bob_conn = await connect(b, "ws")
    await bob_conn.auth(bob.token)
    query = f"/api/presence/?users={alice.id},{bob.id}"
    status, seen = await ahttp(a.base_url, "GET", query, token=alice.token)
    assert status == 200 and seen[str(bob.id)]["online"] is True

    assert (await block(b, bob, alice.id))[0] == 201
    status, seen = await ahttp(a.base_url, "GET", query, token=alice.token)
    assert status == 200 and set(seen) == {str(alice.id)}, seen
    # He still sees her.
    status, seen = await ahttp(b.base_url, "GET", query, token=bob.token)
    assert set(seen) == {str(alice.id), str(bob.id)}
    await bob_conn.close()


async def test_typing_and_read_receipts_do_not_cross_a_block(nodes):
    """Across a block, in either direction, typing and read receipts of the private
    channel are not told; the shared group still carries typing."""
    a, b = nodes
    alice, bob = await make_user(a.base_url), await make_user(b.base_url)
    status, group = await ahttp(a.base_url, "POST", "/api/groups/",
                                {"name": "both", "members": [bob.id]}, token=alice.token)
    assert status == 201, group
    alice_conn, bob_conn = await connect(a, "tcp"), await connect(b, "ws")
    await alice_conn.auth(alice.token)
    await bob_conn.auth(bob.token)
    await bob_conn.send_text(to=alice.id, text="hello", client_id="h1")
    private = (await bob_conn.expect("ack"))["channel"]
    assert (await alice_conn.expect("text"))["seq"] == 1
    assert (await block(a, alice, bob.id))[0] == 201
    group_channel = f"g:{group['id']}"

    # Bob types to Alice, then in the group: she hears only the group's.
    await bob_conn.send({"type": "typing", "channel": private})
    await bob_conn.send({"type": "typing", "channel": group_channel})
    assert await alice_conn.expect("typing") == {
        "type": "typing", "channel": group_channel, "user": bob.id}
    # Alice types to Bob, then in the group: he hears only the group's.
    await alice_conn.send({"type": "typing", "channel": private})
    await alice_conn.send({"type": "typing", "channel": group_channel})
    assert await bob_conn.expect("typing") == {
        "type": "typing", "channel": group_channel, "user": alice.id}

    # Alice reads Bob's message: acked, but Bob is not told; the group message she
    # sends next is the next thing he gets.
    await alice_conn.send({"type": "read", "id": "r1", "channel": private, "seq": 1})
    assert await alice_conn.expect("ack") == {"type": "ack", "id": "r1"}
    await alice_conn.send_text(group=group["id"], text="after reading", client_id="g1")
    pushed = await bob_conn.expect("text")
    assert pushed["body"] == {"text": "after reading"}
    status, channels = await ahttp(a.base_url, "GET", "/api/channels/", token=alice.token)
    assert status == 200
    assert {c["channel"]: c["read_seq"] for c in channels}[private] == 1


async def test_block_endpoints_answer_every_mistake_with_json(nodes):
    a, _ = nodes
    alice, bob, carol = [await make_user(a.base_url) for _ in range(3)]
    status, body = await block(a, alice, alice.id)
    assert status == 400 and "user_id" in body
    status, body = await block(a, alice, 2**62)
    assert status == 404 and "detail" in body
    for bad in ({}, {"user_id": "7"}, {"user_id": True}, {"user_id": 0}, [1]):
        status, body = await ahttp(a.base_url, "POST", "/api/blocks/", bad, token=alice.token)
        assert status == 400 and isinstance(body, dict), (bad, body)
    status, body = await ahttp(a.base_url, "POST", "/api/blocks/", raw=b"{not json",
                               token=alice.token)
    assert status == 400 and isinstance(body, dict)
    assert (await ahttp(a.base_url, "GET", "/api/blocks/"))[0] == 401

    assert (await block(a, alice, bob.id))[0] == 201
    assert (await block(a, alice, carol.id))[0] == 201
    status, again = await block(a, alice, bob.id)
    assert status == 200 and again["user_id"] == bob.id
    status, listed = await ahttp(a.base_url, "GET", "/api/blocks/", token=alice.token)
    assert [entry["user_id"] for entry in listed] == [carol.id, bob.id]
    assert listed[0]["user"]["username"] == carol.username
    # Someone else's list is their own.
    assert (await ahttp(a.base_url, "GET", "/api/blocks/", token=bob.token))[1] == []

    unblock = f"/api/blocks/{bob.id}/"
    assert (await ahttp(a.base_url, "DELETE", unblock, token=alice.token))[0] == 204
    status, body = await ahttp(a.base_url, "DELETE", unblock, token=alice.token)
    assert status == 404 and "detail" in body
    status, body = await ahttp(a.base_url, "DELETE", "/api/blocks/99999999999999999999999/",
                               token=alice.token)
    assert status == 404 and isinstance(body, dict)
