"""Sessions (docs/protocol.md, REST): my tokens with their device, created, last used
and current; revoking one or all cuts their live connections within a second, on
whichever node they are; a password change cuts every other device."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.account_control.helpers import PASSWORD, device_token, login, online, told_to_go
from tests.support.clients import ahttp, make_user


@pytest.fixture(scope="module")
def nodes(cluster):
    return cluster.servers


async def sessions(server, token: str) -> list[dict]:
    status, body = await ahttp(server.base_url, "GET", "/api/auth/sessions/", token=token)
    assert status == 200, body
    return body


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_signing_out_one_device_cuts_it_on_the_other_node_within_a_second(
    nodes, transport
):
    a, b = nodes
    bob = await make_user(a.base_url)
    phone = await device_token(a.base_url, bob, "phone-1")
    laptop = await device_token(b.base_url, bob, "laptop")
    laptop_conn = await online(b, laptop, "laptop", transport)
    phone_conn = await online(a, phone, "phone-1", transport)

    listed = await sessions(a, phone)
    by_device = {s["device"]: s for s in listed}
    assert set(by_device) >= {"phone-1", "laptop", ""}  # "" : make_user's own login
    assert [s["current"] for s in listed].count(True) == 1 and by_device["phone-1"]["current"]
    for entry in listed:
        assert set(entry) >= {"id", "device", "created", "last_used", "current"}
        datetime.fromisoformat(entry["created"])
        # A connection's auth counts as a use.
        assert entry["last_used"] is not None
    assert [s["created"] for s in listed] == sorted((s["created"] for s in listed), reverse=True)

    status, _ = await ahttp(a.base_url, "DELETE",
                            f"/api/auth/sessions/{by_device['laptop']['id']}/", token=phone)
    assert status == 204
    await told_to_go(laptop_conn, "logout")
    assert (await ahttp(b.base_url, "GET", "/api/users/me/", token=laptop))[0] == 401
    # The phone stays.
    await phone_conn.send_text(to=bob.id, text="still here", client_id="s1")
    assert (await phone_conn.expect("ack"))["seq"] == 1
    assert "laptop" not in {s["device"] for s in await sessions(b, phone)}
    await phone_conn.close()


async def test_sessions_of_others_are_unknown_and_errors_are_json(nodes):
    a, _ = nodes
    alice, bob = await make_user(a.base_url), await make_user(a.base_url)
    alices = await sessions(a, alice.token)
    status, body = await ahttp(a.base_url, "DELETE", f"/api/auth/sessions/{alices[0]['id']}/",
                               token=bob.token)
    assert status == 404 and "detail" in body
    assert (await ahttp(a.base_url, "GET", "/api/users/me/", token=alice.token))[0] == 200
    for path in ("/api/auth/sessions/0/", "/api/auth/sessions/x/",
                 "/api/auth/sessions/99999999999999999999999/"):
        status, body = await ahttp(a.base_url, "DELETE", path, token=bob.token)
        assert status == 404 and isinstance(body, dict), (path, body)
    assert (await ahttp(a.base_url, "GET", "/api/auth/sessions/"))[0] == 401
    for device in ("", "has space", "x" * 65, 7):
        status, body = await ahttp(a.base_url, "POST", "/api/auth/login/",
                                   {"username": bob.username, "password": PASSWORD,
                                    "device": device})
        assert status == 400 and "device" in body, (device, body)


async def test_logout_all_cuts_every_device_on_every_node(nodes):
    a, b = nodes
    bob = await make_user(a.base_url)
    tokens = [await device_token(node.base_url, bob, f"d{i}")
              for i, node in enumerate((a, b, a, b))]
    conns = [await online(node, token, f"d{i}", "tcp" if i % 2 else "ws")
             for i, (node, token) in enumerate(zip((a, b, a, b), tokens, strict=True))]
    status, _ = await ahttp(b.base_url, "POST", "/api/auth/logout-all/", token=tokens[0])
    assert status == 204
    for conn in conns:
        await told_to_go(conn, "logout")
    for token in (*tokens, bob.token):
        assert (await ahttp(a.base_url, "GET", "/api/users/me/", token=token))[0] == 401
    # The password still works: signing out is not locking out.
    assert (await login(a.base_url, bob, "d9"))[0] == 200


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_a_password_change_cuts_every_other_device_and_keeps_this_one(nodes, transport):
    a, b = nodes
    bob = await make_user(a.base_url)
    here = await device_token(a.base_url, bob, "here")
    there = await device_token(b.base_url, bob, "there")
    here_conn = await online(a, here, "here", transport)
    there_conn = await online(b, there, "there", transport)
    path = "/api/auth/password/"

    status, body = await ahttp(a.base_url, "POST", path,
                               {"old_password": "wrong one", "new_password": "a new secret 42"},
                               token=here)
    assert status == 400 and "old_password" in body, body
    status, body = await ahttp(a.base_url, "POST", path,
                               {"old_password": PASSWORD, "new_password": "123"}, token=here)
    assert status == 400 and "new_password" in body, body
    # The registration's validators: too similar to the username.
    status, body = await ahttp(a.base_url, "POST", path,
                               {"old_password": PASSWORD, "new_password": bob.username},
                               token=here)
    assert status == 400 and "new_password" in body, body
    status, body = await ahttp(a.base_url, "POST", path, {"old_password": PASSWORD}, token=here)
    assert status == 400 and "new_password" in body, body
    # Nothing was cut by the refusals.
    await there_conn.send({"type": "heartbeat"})
    assert (await there_conn.expect("heartbeat"))["type"] == "heartbeat"

    status, body = await ahttp(a.base_url, "POST", path,
                               {"old_password": PASSWORD, "new_password": "a new secret 42"},
                               token=here)
    assert status == 204, body
    await told_to_go(there_conn, "logout")
    for token in (there, bob.token):
        assert (await ahttp(b.base_url, "GET", "/api/users/me/", token=token))[0] == 401
    assert (await ahttp(b.base_url, "GET", "/api/users/me/", token=here))[0] == 200
    await here_conn.send_text(to=bob.id, text="kept", client_id="k1")
    assert (await here_conn.expect("ack"))["type"] == "ack"
    assert (await login(a.base_url, bob))[0] == 400
    assert (await login(a.base_url, bob, password="a new secret 42"))[0] == 200
    await here_conn.close()
