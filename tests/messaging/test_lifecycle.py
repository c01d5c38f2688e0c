"""Connection lifecycle from the wire (docs/protocol.md, Lifecycle)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.admin import AdminSession
from tests.support.clients import ahttp, connect, login_again, make_user

pytestmark = pytest.mark.embedded

TRANSPORTS = ["tcp", "ws", "ws-msgpack"]


@pytest.fixture(scope="module")
def quick(deployment_factory_module):
    """A server with short auth and heartbeat timers."""
    dep = deployment_factory_module(IM_AUTH_TIMEOUT_S=1, IM_HEARTBEAT_S=1)
    return dep.start_server()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_auth_ok_names_user_device_and_heartbeat(server, transport):
    alice = await make_user(server.base_url)
    client = await connect(server, transport)
    before = int(time.time() * 1000)
    ok = await client.auth(alice.token, device="phone-1", frame_id="a1")
    assert ok["id"] == "a1" and ok["user"] == alice.id and ok["device"] == "phone-1"
    assert ok["heartbeat"] == 30
    _, ready = await ahttp(server.base_url, "GET", "/api/ready/")
    assert ok["node"] == ready["node"]  # the node serving this connection
    assert before - 1000 <= ok["ts"] <= int(time.time() * 1000) + 1000
    await client.send({"type": "heartbeat"})
    beat = await client.recv()
    assert beat["type"] == "heartbeat" and isinstance(beat["ts"], int)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_silent_connection_gets_auth_timeout_and_is_closed(quick, transport):
    client = await connect(quick, transport)
    frames = await client.closed(timeout=5)
    assert [f["code"] for f in frames] == ["auth_timeout"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_frame_before_auth_is_unauthenticated_and_closes(server, transport):
    client = await connect(server, transport)
    await client.send({"type": "text", "id": "t1", "to": 1, "body": {"text": "hi"}})
    frames = await client.closed()
    assert len(frames) == 1
    assert frames[0] == {**frames[0], "type": "error", "code": "unauthenticated", "id": "t1"}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_bad_token_closes(server, transport):
    client = await connect(server, transport)
    await client.send({"type": "auth", "id": "a", "token": "not-a-token", "device": "d"})
    frames = await client.closed()
    assert [(f["code"], f["id"]) for f in frames] == [("bad_token", "a")]


async def test_revoked_token_is_refused_and_logout_sends_offline(server):
    alice = await make_user(server.base_url)
    other_token = await login_again(server.base_url, alice)
    doomed = await connect(server, "tcp")
    await doomed.auth(alice.token, device="a")
    survivor = await connect(server, "ws")
    await survivor.auth(other_token, device="b")
    status, _ = await ahttp(server.base_url, "POST", "/api/auth/logout/", token=alice.token)
    assert status == 204
    frames = await doomed.closed()
    assert frames[-1] == {"type": "offline", "reason": "logout", "reconnect": None}
    # The token is dead for new connections; the other device's session lives on.
    again = await connect(server, "tcp")
    await again.send({"type": "auth", "id": "a", "token": alice.token, "device": "a"})
    assert [f["code"] for f in await again.closed()] == ["bad_token"]
    await survivor.send({"type": "heartbeat"})
    assert (await survivor.recv())["type"] == "heartbeat"


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_same_device_replaces_older_connection(server, transport):
    alice = await make_user(server.base_url)
    old = await connect(server, transport)
    await old.auth(alice.token, device="phone")
    new = await connect(server, "tcp")
    await new.auth(alice.token, device="phone")
    frames = await old.closed()
    assert frames == [{"type": "offline", "reason": "replaced", "reconnect": None}]
    await new.send({"type": "heartbeat"})
    assert (await new.recv())["type"] == "heartbeat"


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_silent_authenticated_connection_is_closed_after_three_heartbeats(
    quick, transport
):
    alice = await make_user(quick.base_url)
    client = await connect(quick, transport)
    ok = await client.auth(alice.token)
    assert ok["heartbeat"] == 1
    start = time.monotonic()
    await client.closed(timeout=10)
    assert time.monotonic() - start >= 2.5  # 3 x heartbeat, not sooner


async def test_heartbeats_keep_a_connection_and_presence_alive(quick):
    alice, bob = await make_user(quick.base_url), await make_user(quick.base_url)
    # Presence is shown only to people who share a channel (protocol 1.1).
    status, _ = await ahttp(quick.base_url, "POST", "/api/groups/",
                            {"name": "pair", "members": [bob.id]}, token=alice.token)
    assert status == 201
    client = await connect(quick, "tcp")
    await client.auth(alice.token)
    for _ in range(8):  # 4 s: past three heartbeat periods
        await client.send({"type": "heartbeat"})
        assert (await client.expect("heartbeat"))["ts"]
        await asyncio.sleep(0.5)
    status, presence = await ahttp(quick.base_url, "GET", f"/api/presence/?users={alice.id},"
                                   f"{bob.id}", token=bob.token)
    assert status == 200
    assert presence[str(alice.id)]["online"] is True
    assert presence[str(bob.id)] == {"online": False, "last_seen": None}
    await client.close()
    for _ in range(100):
        status, presence = await ahttp(quick.base_url, "GET", f"/api/presence/?users={alice.id}",
                                       token=bob.token)
        if not presence[str(alice.id)]["online"]:
            break
        await asyncio.sleep(0.05)
    assert presence[str(alice.id)]["online"] is False
    assert isinstance(presence[str(alice.id)]["last_seen"], int)


async def test_sigterm_tells_every_connection_offline_shutdown(deployment_factory_module):
    dep = deployment_factory_module()
    victim = dep.start_server()
    alice = await make_user(victim.base_url)
    clients = [await connect(victim, t) for t in TRANSPORTS]
    for i, client in enumerate(clients):
        await client.auth(alice.token, device=f"d{i}")
    await asyncio.to_thread(victim.stop)
    assert victim.proc.returncode == 0
    for client in clients:
        frames = await client.closed()
        assert frames[-1] == {"type": "offline", "reason": "shutdown", "reconnect": None}


async def test_second_auth_on_a_connection_is_invalid(server):
    alice = await make_user(server.base_url)
    client = await connect(server, "tcp")
    await client.auth(alice.token)
    await client.send({"type": "auth", "id": "again", "token": alice.token})
    error = await client.expect("error")
    assert (error["code"], error["id"]) == ("invalid", "again")
    await client.send({"type": "heartbeat"})
    assert (await client.recv())["type"] == "heartbeat"  # still open


async def test_ban_in_the_admin_kicks_every_connection(server):
    alice = await make_user(server.base_url)
    clients = [await connect(server, t) for t in ("tcp", "ws")]
    for i, client in enumerate(clients):
        await client.auth(await login_again(server.base_url, alice), device=f"d{i}")
    moderator = await asyncio.to_thread(AdminSession.create, server)
    await asyncio.to_thread(moderator.post, "/admin/accounts/user/",
                            {"action": "ban", "_selected_action": str(alice.id)})
    for client in clients:
        frames = await client.closed()
        assert frames[-1] == {"type": "offline", "reason": "kicked", "reconnect": None}
    status, _ = await ahttp(server.base_url, "GET", "/api/users/me/", token=alice.token)
    assert status == 401


async def test_auths_arriving_together_each_get_their_own_answer(server):
    """A storm's auth frames are checked together: every one still gets its own
    user, and a bad, revoked or forged token among them is refused alone."""
    users = [await make_user(server.base_url) for _ in range(4)]
    revoked = await login_again(server.base_url, users[0])
    status, _ = await ahttp(server.base_url, "POST", "/api/auth/logout/", token=revoked)
    assert status == 204
    # The right key (the token's first characters) with the wrong rest.
    forged = users[1].token[:15] + ("0" if users[1].token[15] != "0" else "1") + users[1].token[16:]
    tokens = [(u.token, u.id) for u in users] * 5 + [
        (revoked, None), (forged, None), ("not-a-token", None)]
    clients = await asyncio.gather(*(connect(server, "tcp") for _ in tokens))
    await asyncio.gather(*(
        c.send({"type": "auth", "id": f"a{i}", "token": token, "device": f"d{i}"})
        for i, (c, (token, _)) in enumerate(zip(clients, tokens, strict=True))))
    answers = await asyncio.gather(*(c.recv() for c in clients))
    for i, (answer, (_, user_id)) in enumerate(zip(answers, tokens, strict=True)):
        if user_id is None:
            assert (answer["type"], answer["code"], answer["id"]) == ("error", "bad_token", f"a{i}")
        else:
            assert (answer["type"], answer["user"], answer["id"]) == ("auth_ok", user_id, f"a{i}")
