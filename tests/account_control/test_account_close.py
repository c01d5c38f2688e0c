"""Closing one's account (DELETE /api/users/me/, docs/protocol.md, Lifecycle and REST): at
once and on every node it can no longer log in or send, even from a connection that
was open; its sessions get `offline`/`logout`; its files are served to nobody; its
messages stay under a "deleted user" name; its username is held, then freed."""

from __future__ import annotations

import pytest
import websockets

from tests.account_control.helpers import PASSWORD, device_token, login, online, told_to_go
from tests.media import helpers as media_helpers
from tests.support.clients import Closed, ahttp, make_user


@pytest.fixture(scope="module")
def nodes(cluster):
    return cluster.servers


async def close_account(server, token: str, password: str = PASSWORD):
    return await ahttp(server.base_url, "DELETE", "/api/users/me/", {"password": password},
                       token=token)


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_a_closed_account_cannot_send_from_an_open_connection_or_log_in(
    nodes, transport
):
    a, b = nodes
    alice, bob = await make_user(a.base_url), await make_user(b.base_url)
    status, group = await ahttp(a.base_url, "POST", "/api/groups/",
                                {"name": "g", "members": [bob.id]}, token=alice.token)
    assert status == 201
    other = await device_token(b.base_url, alice, "other")
    open_conn = await online(b, other, "other", transport)
    await open_conn.send_text(to=bob.id, text="hello", client_id="h1")
    await open_conn.expect("ack")
    media = await media_helpers.uploaded(a.base_url, alice.token, media_helpers.PDF, "a.pdf")
    await open_conn.send({"type": "file", "id": "f1", "to": bob.id,
                          "body": {"media": media["id"]}})
    await open_conn.expect("ack")
    fetched = await media_helpers.arequest(b.base_url, "GET", media["url"], token=bob.token)
    assert fetched.status == 200
    link_status, link = await ahttp(b.base_url, "GET", media["url"] + "link/", token=bob.token)
    assert link_status == 200, link
    assert (await media_helpers.arequest(b.base_url, "GET", link["url"])).status == 200

    status, body = await close_account(a, alice.token, "not my password")
    assert status == 400 and "password" in body, body
    status, body = await ahttp(a.base_url, "DELETE", "/api/users/me/", {}, token=alice.token)
    assert status == 400 and "password" in body, body

    status, _ = await close_account(a, alice.token)
    assert status == 204
    # Sent right after the commit, before the node was told: refused all the same.
    try:
        await open_conn.send_text(to=bob.id, text="after", client_id="late")
    except (ConnectionError, websockets.ConnectionClosed):
        pass  # already cut: what it was told is still read below
    frames = []
    try:
        while True:
            frame = await open_conn.recv(timeout=5)
            if frame["type"] == "heartbeat":
                continue
            frames.append(frame)
            if frame["type"] == "offline":
                break
    except (Closed, ConnectionError):
        pass  # cut: what arrived before is in `frames`
    assert not [f for f in frames if f["type"] == "ack"], frames
    assert frames and frames[-1] == {"type": "offline", "reason": "logout", "reconnect": None}

    assert (await login(a.base_url, alice))[0] == 400
    for token in (alice.token, other):
        assert (await ahttp(b.base_url, "GET", "/api/users/me/", token=token))[0] == 401
    status, channel = await ahttp(b.base_url, "GET", "/api/channels/", token=bob.token)
    private = next(c["channel"] for c in channel if c["channel"].startswith("p:"))
    status, history = await ahttp(b.base_url, "GET", f"/api/channels/{private}/messages/",
                                  token=bob.token)
    # Her messages stay; nothing after the close was stored.
    assert [(m["from"], m["type"]) for m in history["messages"]] == [
        (alice.id, "text"), (alice.id, "file")]
    status, profile = await ahttp(b.base_url, "GET", f"/api/users/{alice.id}/", token=bob.token)
    assert status == 200
    assert profile["display_name"] == "Deleted user"
    assert profile["username"] == f"deleted#{alice.id}"
    assert (profile["bio"], profile["avatar"]) == ("", "")
    # Her file is served to nobody, by token or by signed link.
    assert (await media_helpers.arequest(b.base_url, "GET", media["url"],
                                         token=bob.token)).status == 404
    assert (await media_helpers.arequest(b.base_url, "GET", link["url"])).status == 404
    # She left the group: bob owns it now.
    status, mine = await ahttp(a.base_url, "GET", f"/api/groups/{group['id']}/", token=bob.token)
    assert (mine["owner"], mine["member_count"]) == (bob.id, 1)
    # Her name is held.
    status, body = await ahttp(a.base_url, "POST", "/api/auth/register/",
                               {"username": alice.username, "password": PASSWORD})
    assert status == 400 and "username" in body
    # And she is no one to send to.
    bob_conn = await online(a, bob.token, "bob", transport)
    await bob_conn.send_text(to=alice.id, text="are you there", client_id="q")
    assert (await bob_conn.expect("error"))["code"] == "not_found"
    await bob_conn.close()


async def test_the_username_is_free_again_after_the_hold(make_deployment):
    server = make_deployment(IM_USERNAME_HOLD_DAYS=0).start_server()
    alice = await make_user(server.base_url)
    assert (await close_account(server, alice.token))[0] == 204
    status, body = await ahttp(server.base_url, "POST", "/api/auth/register/",
                               {"username": alice.username, "password": PASSWORD,
                                "display_name": "New Alice"})
    assert status == 201, body
    assert body["id"] != alice.id and body["username"] == alice.username
    status, old = await ahttp(server.base_url, "GET", f"/api/users/{alice.id}/",
                              token=(await login(server.base_url, alice))[1]["token"])
    assert old["username"] == f"deleted#{alice.id}"


async def test_a_closed_account_is_cut_on_every_node_and_told_logout(nodes):
    a, b = nodes
    alice = await make_user(a.base_url)
    conns = [await online(node, await device_token(node.base_url, alice, f"d{i}"), f"d{i}",
                          transport)
             for i, (node, transport) in enumerate(((a, "tcp"), (b, "ws"), (b, "tcp")))]
    assert (await close_account(b, alice.token))[0] == 204
    for conn in conns:
        await told_to_go(conn, "logout")
