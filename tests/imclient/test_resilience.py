"""The guarantees that matter when the link is bad: catch-up, gaps, reordering,
heartbeats, backoff, redirects, session ends, persistence and retried sends."""

from __future__ import annotations

import asyncio
import random

import pytest

from imclient import (
    Backoff,
    Client,
    Kicked,
    LoggedOut,
    Replaced,
    SendTimeout,
    Status,
    TokenExpired,
)
from improto.channels import p_channel
from improto.frames import auth_ok, offline
from tests.imclient.conftest import TRANSPORTS, WAIT, address_of, take, until, users
from tests.imclient.stub import StubConn, StubServer
from tests.support.admin import AdminSession
from tests.support.proxy import FaultProxy
from tests.support.servers import Deployment

pytestmark = pytest.mark.server


def is_content(frame: dict, seq: int) -> bool:
    return frame.get("type") == "text" and frame.get("seq") == seq and "from" in frame


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_messages_sent_while_offline_arrive_once_in_order_after_reconnect(
        sdk_server, clients, transport):
    alice, bob = await users(sdk_server, 2)
    async with FaultProxy(address_of(sdk_server, transport), seed=1) as proxy:
        a = await clients(sdk_server, alice, transport, address=proxy.url_for(transport),
                          backoff_initial=0.05, backoff_max=0.2)
        b = await clients(sdk_server, bob, transport)
        await b.send_text(to=alice.id, text="before")
        assert [m.text for m in await take(a.messages(), 1)] == ["before"]
        proxy.refuse()
        proxy.cut()
        await until(lambda: not a.online, what="alice offline")
        for i in range(20):
            await b.send_text(to=alice.id, text=f"offline {i}")
        proxy.refuse(False)
        got = await take(a.messages(), 20)
        assert [m.text for m in got] == [f"offline {i}" for i in range(20)]
        assert [m.seq for m in got] == list(range(2, 22))
        assert a.stats["sessions"] >= 2 and a.stats["pulled"] >= 20


async def test_a_gap_is_held_for_the_reorder_window_then_filled_by_sync(sdk_server, clients):
    alice, bob = await users(sdk_server, 2)
    dropped = []

    def drop_push_of_seq_3(frame: dict) -> list[dict]:
        if is_content(frame, 3) and not dropped:
            dropped.append(frame)
            return []
        return [frame]

    async with FaultProxy(sdk_server.tcp_address, server_frames=drop_push_of_seq_3) as proxy:
        a = await clients(sdk_server, alice, address=proxy.address, reorder_window=0.3,
                          resync_interval=600)
        b = await clients(sdk_server, bob)
        for i in range(1, 6):
            await b.send_text(to=alice.id, text=f"m{i}")
        got = await take(a.messages(), 5)
        assert [m.seq for m in got] == [1, 2, 3, 4, 5]
        assert dropped and a.stats["gap_syncs"] == 1 and a.stats["pulled"] >= 1
        assert a.stats["connections"] == 1  # filled by sync, not by a reconnect


async def test_out_of_order_pushes_are_put_back_in_order_without_a_sync(sdk_server, clients):
    alice, bob = await users(sdk_server, 2)
    held: list[dict] = []

    def swap_2_and_3(frame: dict) -> list[dict]:
        if is_content(frame, 2):
            held.append(frame)
            return []
        if is_content(frame, 3):
            return [frame, *held]
        return [frame]

    async with FaultProxy(sdk_server.tcp_address, server_frames=swap_2_and_3) as proxy:
        a = await clients(sdk_server, alice, address=proxy.address, reorder_window=30,
                          resync_interval=600)
        b = await clients(sdk_server, bob)
        for i in range(1, 5):
            await b.send_text(to=alice.id, text=f"m{i}")
        got = await take(a.messages(), 4)
        assert [m.seq for m in got] == [1, 2, 3, 4] and held
        assert a.stats["gap_syncs"] == 0 and a.stats["pulled"] == 0


async def test_heartbeats_keep_an_idle_link_alive(quick_server, clients):
    alice, bob = await users(quick_server, 2)
    a = await clients(quick_server, alice, "ws")
    # The server drops a link silent for 3 heartbeats (3 s): outlive that by far.
    await until(lambda: a.stats["heartbeats"] >= 4, timeout=15, what="4 heartbeats")
    assert a.stats["connections"] == 1 and a.online
    b = await clients(quick_server, bob)
    await b.send_text(to=alice.id, text="still there?")
    assert [m.text for m in await take(a.messages(), 1)] == ["still there?"]
    assert a.stats["connections"] == 1


async def test_a_silent_link_is_detected_and_replaced(quick_server, clients):
    alice, bob = await users(quick_server, 2)
    async with FaultProxy(quick_server.tcp_address) as proxy:
        a = await clients(quick_server, alice, address=proxy.address, backoff_initial=0.05)
        b = await clients(quick_server, bob)
        proxy.stall()  # a black hole: the socket stays open, nothing passes
        await b.send_text(to=alice.id, text="across the black hole")
        got = await take(a.messages(), 1, timeout=15)
        assert [m.text for m in got] == ["across the black hole"]
        assert a.stats["connections"] == 2


def test_backoff_is_exponential_with_jitter_and_capped():
    backoff = Backoff(0.1, 1.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not a fixed schedule
    backoff.reset()
    assert 0.05 <= backoff.next() <= 0.1


async def test_reconnect_attempts_back_off_while_the_server_is_unreachable(sdk_server, clients):
    (alice,) = await users(sdk_server, 1)
    statuses: list[Status] = []
    async with FaultProxy(sdk_server.tcp_address) as proxy:
        a = await clients(sdk_server, alice, address=proxy.address, backoff_initial=0.05,
                          backoff_max=0.4, on_status=statuses.append)
        proxy.refuse()
        proxy.cut()
        await proxy.wait_connections(1 + 6)
        proxy.refuse(False)
        await a.wait_online(WAIT)
    waits = [s.retry_in for s in statuses if s.state == "offline"][:6]
    ceilings = [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True)), waits
    gaps = [b - a for a, b in zip(proxy.accepted[1:], proxy.accepted[2:], strict=False)]
    assert gaps[-1] > gaps[0]  # the refused attempts really were spaced out


async def auth_then(conn: StubConn, user_id: int) -> None:
    hello = await conn.expect("auth")
    await conn.send(auth_ok(id=hello.get("id"), user=user_id, device=hello["device"],
                            heartbeat=30, ts=0))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_offline_with_a_reconnect_address_is_followed(sdk_server, clients, transport):
    alice, bob = await users(sdk_server, 2)
    real = address_of(sdk_server, transport)

    async def rebalance(conn: StubConn) -> None:
        await auth_then(conn, alice.id)
        await conn.send(offline(reason="rebalance", reconnect={
            "tcp": sdk_server.tcp_address, "ws": sdk_server.ws_url}))

    stub = await StubServer(transport, rebalance).start()
    try:
        a = await clients(sdk_server, alice, transport, address=stub.address)
        assert a.status.address == real and stub.connections == 1
        b = await clients(sdk_server, bob)
        await b.send_text(to=alice.id, text="found you")
        assert [m.text for m in await take(a.messages(), 1)] == ["found you"]
    finally:
        await stub.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_kicked_ends_the_session_with_a_clear_exception(sdk_server, clients, transport):
    (alice,) = await users(sdk_server, 1)
    a = await clients(sdk_server, alice, transport, backoff_initial=0.01)
    moderator = await asyncio.to_thread(AdminSession.create, sdk_server)
    await asyncio.to_thread(moderator.ban, alice.id)
    with pytest.raises(Kicked):
        await asyncio.wait_for(anext(a.messages()), WAIT)
    with pytest.raises(Kicked):
        await a.send_text(to=1, text="too late")
    assert a.status.state == "ended" and a.status.reason == "kicked"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_logout_ends_the_session_with_logged_out(sdk_server, clients, transport):
    alice, bob = await users(sdk_server, 2)
    a = await clients(sdk_server, alice, transport)
    b = await clients(sdk_server, bob)
    await b.send_text(to=alice.id, text="queued before the logout")
    stream = a.messages()
    await until(lambda: a._queue.qsize() == 1, what="the message queued")
    await a.logout()
    # What was already received is still handed out, then the end is explained.
    assert (await asyncio.wait_for(anext(stream), WAIT)).text == "queued before the logout"
    with pytest.raises(LoggedOut):
        await asyncio.wait_for(anext(stream), WAIT)
    with pytest.raises(LoggedOut):
        await a.send_text(to=bob.id, text="too late")
    assert a.status.state == "ended" and a.status.reason == "logout"


async def test_logout_fails_unfinished_sends_even_if_its_offline_frame_is_lost(
        sdk_server, clients):
    alice, bob = await users(sdk_server, 2)
    async with FaultProxy(sdk_server.tcp_address) as proxy:
        a = await clients(sdk_server, alice, address=proxy.address)
        proxy.stall()  # this send can never be acked
        stuck = asyncio.create_task(a.send_text(to=bob.id, text="never acked"))
        await until(lambda: a._pending and all(p.writes for p in a._pending.values()),
                    what="the send written")
        await a.logout()  # the offline/logout frame is stuck in the black hole
        proxy.cut()  # the reconnect meets bad_token
        with pytest.raises(LoggedOut):
            await asyncio.wait_for(anext(a.messages()), WAIT)
        with pytest.raises(LoggedOut):
            await asyncio.wait_for(stuck, WAIT)


async def test_a_second_client_on_the_same_device_replaces_the_first(sdk_server, clients):
    (alice,) = await users(sdk_server, 1)
    first = await clients(sdk_server, alice, device="desk")
    await clients(sdk_server, alice, "ws", device="desk")
    with pytest.raises(Replaced):
        await asyncio.wait_for(anext(first.messages()), WAIT)
    assert first.stats["connections"] == 1  # it did not fight back


async def test_the_state_file_resumes_without_rereading_history(sdk_server, clients, tmp_path):
    alice, bob = await users(sdk_server, 2)
    state = tmp_path / "alice.db"
    b = await clients(sdk_server, bob)
    await b.send_text(to=alice.id, text="old news")  # before alice's first start
    first = await clients(sdk_server, alice, state_path=state)
    for i in range(3):
        await b.send_text(to=alice.id, text=f"first run {i}")
    assert [m.text for m in await take(first.messages(), 3)] == [
        f"first run {i}" for i in range(3)]
    await first.close()
    for i in range(2):
        await b.send_text(to=alice.id, text=f"while stopped {i}")
    second = await clients(sdk_server, alice, state_path=state)
    assert second.device == first.device
    got = await take(second.messages(), 2)
    assert [m.text for m in got] == ["while stopped 0", "while stopped 1"]
    assert second.stats["pulled"] == 2  # only what it had not seen
    # Without a state file the first start begins at the present (history is for
    # history()); replay_history=True starts from the beginning instead.
    replay = await clients(sdk_server, alice, replay_history=True)
    assert [m.seq for m in await take(replay.messages(), 6)] == [1, 2, 3, 4, 5, 6]


async def test_an_unacked_send_is_retried_on_the_next_connection_and_stored_once(
        sdk_server, clients):
    alice, bob = await users(sdk_server, 2)
    proxies: list[FaultProxy] = []

    def lose_first_ack(frame: dict) -> list[dict]:
        if frame.get("type") == "ack" and not frame.get("dup") and not lost:
            lost.append(frame)
            asyncio.get_running_loop().call_soon(proxies[0].cut)
            return []
        return [frame]

    lost: list[dict] = []
    async with FaultProxy(sdk_server.tcp_address, server_frames=lose_first_ack) as proxy:
        proxies.append(proxy)
        a = await clients(sdk_server, alice, address=proxy.address, backoff_initial=0.05)
        sent = await asyncio.wait_for(a.send_text(to=bob.id, text="exactly once"), WAIT)
    assert lost and sent.dup and sent.seq == lost[0]["seq"] and sent.id == lost[0]["id"]
    assert a.stats["connections"] == 2 and a.stats["resent"] == 1
    history = await a.history(p_channel(alice.id, bob.id))
    assert [(m.id, m.text) for m in history] == [(sent.id, "exactly once")]


async def test_rate_limited_sends_back_off_and_are_stored_once(quick_server, clients):
    alice, bob = await users(quick_server, 2)
    a = await clients(quick_server, alice, "ws")
    sent = await asyncio.wait_for(
        asyncio.gather(*(a.send_text(to=bob.id, text=f"r{i}") for i in range(60))), WAIT)
    assert a.stats["rate_limited"] > 0
    history = await a.history(p_channel(alice.id, bob.id), limit=500)
    assert [m.seq for m in history] == list(range(1, 61))
    assert sorted(m.id for m in history) == sorted(m.id for m in sent)


async def test_a_send_queued_offline_goes_out_on_reconnect_or_times_out(sdk_server, clients):
    alice, bob = await users(sdk_server, 2)
    async with FaultProxy(sdk_server.tcp_address) as proxy:
        a = await clients(sdk_server, alice, address=proxy.address, backoff_initial=0.05,
                          backoff_max=0.2)
        proxy.refuse()
        proxy.cut()
        await until(lambda: not a.online, what="offline")
        with pytest.raises(SendTimeout):
            await a.send_text(to=bob.id, text="gave up", timeout=0.3)
        queued = asyncio.create_task(a.send_text(to=bob.id, text="queued"))
        await until(lambda: len(a._pending) == 1, what="the send queued")
        assert not queued.done()
        proxy.refuse(False)
        stored = await asyncio.wait_for(queued, WAIT)
    history = await a.history(stored.channel)
    assert [m.text for m in history] == ["queued"]


async def test_connect_gives_up_after_its_timeout(sdk_server):
    (alice,) = await users(sdk_server, 1)
    async with FaultProxy(sdk_server.tcp_address) as proxy:
        proxy.refuse()
        client = Client(sdk_server.base_url, token=alice.token, backoff_initial=0.05)
        from imclient import ConnectTimeout

        with pytest.raises(ConnectTimeout):
            await client.connect(proxy.address, timeout=0.5)
        await client.close()


@pytest.fixture(scope="module")
def short_tokens_server():
    """Tokens that expire 3 seconds after login."""
    dep = Deployment.create(extra_env={"IM_TOKEN_TTL_S": "3"})
    server = dep.start_server()
    yield server
    dep.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_expired_token_is_renewed_with_stored_credentials(short_tokens_server, transport):
    server = short_tokens_server
    alice, bob = await users(server, 2)
    a = Client(server.base_url, transport=transport, seed=1)
    try:
        await a.login(alice.username, "correct horse battery staple")
        await a.connect(timeout=WAIT)
        first = a.stats["connections"]
        # The server closes the connection with offline/expired; the client logs in
        # again and carries on, losing nothing.
        await until(lambda: a.stats["connections"] > first, what="a new connection")
        b = Client(server.base_url, transport="tcp", seed=2)
        await b.login(bob.username, "correct horse battery staple")
        await b.connect(timeout=WAIT)
        await b.send_text(to=alice.id, text="after the expiry")
        assert [m.text for m in await take(a.messages(), 1)] == ["after the expiry"]
        await b.close()
    finally:
        await a.close()


async def test_an_expired_token_without_credentials_ends_the_session(short_tokens_server,
                                                                     clients):
    (alice,) = await users(short_tokens_server, 1)
    a = await clients(short_tokens_server, alice, "tcp")
    with pytest.raises(TokenExpired):
        await asyncio.wait_for(anext(a.messages()), WAIT)
    assert a.status.state == "ended" and a.status.reason == "expired"
