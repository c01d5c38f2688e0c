"""A banned user stays out (docs/protocol.md, Lifecycle), and a token that stops
working closes its connections at that moment, not at the next `auth`."""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets

from tests.support.admin import AdminSession, django_shell
from tests.support.clients import Closed, ahttp, connect, make_user

pytestmark = pytest.mark.embedded

CLIENTS = 40


@pytest.mark.parametrize("redis", [False, True], ids=["memory", "redis"])
async def test_a_ban_during_a_connect_storm_leaves_nothing_up_and_stores_nothing_after(
    make_deployment, redis
):
    # The periodic token check is pushed out of the way: the ban alone must hold.
    dep = make_deployment(redis=redis, IM_TOKEN_RECHECK_S=3600, IM_MAX_CONNS_PER_USER=1000,
                          IM_RATE_MSGS_PER_S=100000, IM_RATE_BURST=100000)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    moderator = await asyncio.to_thread(AdminSession.create, server)
    storming, ban_started, ban_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    churned, held = 0, []

    async def worker(n: int) -> None:
        """Connect and auth (same token, a new device each time) over and over, until
        the token is refused. A connection that authenticates while the ban is under
        way is kept (and the worker goes on): after the ban it must be told `kicked`
        and closed, and what it sends then must not be stored."""
        nonlocal churned
        for attempt in range(100_000):
            client = await connect(server, "tcp" if n % 2 else "ws")
            keep = False
            try:
                await client.send({"type": "auth", "id": "a", "token": alice.token,
                                   "device": f"w{n}-{attempt}", "v": 1})
                frame = await client.expect_any(("auth_ok", "error", "offline"))
                if frame["type"] == "error":
                    assert frame["code"] == "bad_token", frame
                    return  # refused: the ban has committed
                if frame["type"] == "offline":
                    assert frame["reason"] == "kicked", frame
                    continue
                if ban_started.is_set():
                    keep = True
                    held.append(asyncio.create_task(after_the_ban(client, f"{n}-{attempt}")))
                else:
                    churned += 1
                    if churned >= 4 * CLIENTS:
                        storming.set()
            except (Closed, ConnectionError, websockets.ConnectionClosed):
                continue  # cut without a word (replaced, or reset while closing): again
            finally:
                if not keep:
                    await client.close()

    async def after_the_ban(client, name: str) -> None:
        try:
            await ban_done.wait()
            await client.send_text(to=bob.id, text="after the ban", client_id=f"late-{name}")
            frames = await client.closed(timeout=20)
        except (ConnectionError, websockets.ConnectionClosed):
            return  # already closed by the server
        except TimeoutError:
            raise AssertionError("a connection stayed up 20 s after the ban") from None
        finally:
            await client.close()
        assert not [f for f in frames if f["type"] == "ack"], frames
        if frames:  # the offline frame may have gone with a connection reset
            assert frames[-1] == {"type": "offline", "reason": "kicked", "reconnect": None}

    workers = [asyncio.create_task(worker(i)) for i in range(CLIENTS)]
    await asyncio.wait_for(storming.wait(), 30)
    ban_started.set()
    status = await asyncio.to_thread(moderator.ban, alice.id)
    assert status == 200
    banned_at = int(time.time() * 1000)
    ban_done.set()
    # Every socket of the user is told and closed within a bound, none stays up.
    done, pending = await asyncio.wait(workers, timeout=30)
    assert not pending, "some clients were still let in after the ban"
    for task in done:
        task.result()
    done, pending = await asyncio.wait(held, timeout=30)
    assert not pending, f"{len(pending)} of {len(held)} connections outlived the ban"
    for task in done:
        task.result()
    # Nothing of the user was stored after the ban committed.
    status, page = await ahttp(server.base_url, "GET",
                               f"/api/channels/p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
                               "/messages/?limit=500", token=bob.token)
    assert status == 200
    late = [m for m in page["messages"] if m["ts"] > banned_at]
    assert late == [], f"{len(late)} messages stored after the ban"


async def test_the_write_path_refuses_a_disabled_sender(make_deployment):
    """Even on a connection that no event reached, a disabled user's send is refused."""
    dep = make_deployment(IM_TOKEN_RECHECK_S=3600)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    client = await connect(server, "tcp")
    await client.auth(alice.token)
    await asyncio.to_thread(
        django_shell, server,
        f"from accounts.models import User; User.objects.filter(pk={alice.id})"
        ".update(is_active=False)",
    )
    await client.send_text(to=bob.id, text="after the ban", client_id="late")
    error = await client.expect("error")
    assert (error["code"], error["id"]) == ("forbidden", "late")
    status, page = await ahttp(server.base_url, "GET",
                               f"/api/channels/p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
                               "/messages/", token=bob.token)
    assert status == 200 and page["messages"] == []


async def test_a_disabled_user_typing_reaches_no_one(make_deployment):
    """Typing is never stored, so it never meets the write path's check: a disabled
    user's typing is dropped where it is forwarded, on a connection no event reached."""
    dep = make_deployment(IM_TOKEN_RECHECK_S=3600)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    channel = f"p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
    a, b = await connect(server, "tcp"), await connect(server, "ws")
    await a.auth(alice.token)
    await b.auth(bob.token)
    await a.send({"type": "typing", "channel": channel})
    assert await b.expect("typing") == {"type": "typing", "channel": channel, "user": alice.id}
    await asyncio.to_thread(
        django_shell, server,
        f"from accounts.models import User; User.objects.filter(pk={alice.id})"
        ".update(is_active=False)",
    )
    # Another channel (the throttle holds the first): a group made before the change.
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "g", "members": [bob.id]}, token=bob.token)
    assert status == 201
    await asyncio.to_thread(
        django_shell, server,
        f"from messaging.models import Membership; "
        f"Membership.objects.get_or_create(group_id={group['id']}, user_id={alice.id})",
    )
    await a.send({"type": "typing", "channel": group["channel"]})
    await a.send({"type": "heartbeat"})
    assert (await a.recv())["type"] == "heartbeat"  # the typing frame was handled first
    await b.send({"type": "heartbeat"})
    assert (await b.recv())["type"] == "heartbeat"  # and nothing reached bob


@pytest.mark.parametrize("change, reason", [
    ("from knox.models import AuthToken; from knox.settings import CONSTANTS; "
     "AuthToken.objects.filter(token_key='{token}'[:CONSTANTS.TOKEN_KEY_LENGTH]).delete()",
     "logout"),
    ("from accounts.models import User; User.objects.filter(pk={uid}).update(is_active=False)",
     "kicked"),
])
async def test_a_token_that_stops_working_without_an_event_closes_its_connections(
    make_deployment, change, reason
):
    dep = make_deployment(IM_TOKEN_RECHECK_S=1)
    server = dep.start_server()
    alice = await make_user(server.base_url)
    client = await connect(server, "ws")
    await client.auth(alice.token)
    await asyncio.to_thread(django_shell, server,
                            change.format(token=alice.token, uid=alice.id))
    frames = await client.closed(timeout=10)
    assert frames[-1] == {"type": "offline", "reason": reason, "reconnect": None}


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_a_token_that_expires_closes_its_connection_with_expired(make_deployment, transport):
    dep = make_deployment(IM_TOKEN_TTL_S=3, IM_TOKEN_RECHECK_S=3600)
    server = dep.start_server()
    alice = await make_user(server.base_url)
    client = await connect(server, transport)
    ok = await client.auth(alice.token)
    frames = await client.closed(timeout=10)
    assert frames[-1] == {"type": "offline", "reason": "expired", "reconnect": None}
    assert int(time.time() * 1000) - ok["ts"] >= 2000
