"""Every frame counts against a budget (docs/protocol.md, Rate budgets and buffers):
over it a frame with an id is refused, a heartbeat dropped, and a connection that
stays over it is cut; sends are budgeted per user too, and a user has a bounded
number of connections."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.clients import Closed, ahttp, connect, login_again, make_user


async def test_a_heartbeat_flood_is_dropped_then_cut_and_others_are_served(make_deployment):
    dep = make_deployment(IM_RATE_FRAMES_PER_S=20, IM_RATE_FRAMES_BURST=40, IM_FLOOD_S=1)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    flooder = await connect(server, "tcp")
    await flooder.auth(alice.token)
    bystander = await connect(server, "ws")
    await bystander.auth(bob.token)
    started = time.monotonic()
    replies, last = 0, None

    async def read():
        nonlocal replies, last
        try:
            while True:
                frame = await flooder.recv()
                if frame["type"] == "heartbeat":
                    replies += 1
                last = frame
        except (Closed, ConnectionError):
            pass  # closed, or reset once the offline frame was read

    reader = asyncio.create_task(read())
    sent = 0
    try:
        while not reader.done() and time.monotonic() - started < 15:
            for _ in range(200):
                await flooder.send({"type": "heartbeat"})
                sent += 1
            await asyncio.sleep(0)  # let the reader and the bystander run
    except (ConnectionError, OSError):
        pass  # the server cut us mid-write
    await asyncio.wait_for(reader, 15)
    elapsed = time.monotonic() - started
    assert last == {"type": "offline", "reason": "flood", "reconnect": None}
    # Only the budget was answered: the burst plus the rate over the time it lasted.
    assert replies <= 40 + 20 * elapsed + 5 < sent, (replies, sent, elapsed)
    # Meanwhile the others were served.
    await bystander.send_text(to=alice.id, text="hi", client_id="b1")
    assert (await bystander.expect("ack"))["id"] == "b1"


async def test_frames_with_an_id_over_the_frame_budget_get_rate_limited(make_deployment):
    dep = make_deployment(IM_RATE_FRAMES_PER_S=1, IM_RATE_FRAMES_BURST=5)
    server = dep.start_server()
    alice = await make_user(server.base_url)
    client = await connect(server, "tcp")
    await client.auth(alice.token)  # the auth frame took one
    for i in range(8):
        await client.send({"type": "teleport", "id": f"t{i}"})  # unknown types count too
    answers = [await client.expect("error") for _ in range(8)]
    codes = [(a["id"], a["code"]) for a in answers]
    assert codes[:4] == [(f"t{i}", "unknown_type") for i in range(4)]
    assert all(code == "rate_limited" for _, code in codes[4:]), codes


async def test_sends_are_budgeted_per_user_across_connections(make_deployment):
    dep = make_deployment(IM_RATE_MSGS_PER_S=1000, IM_RATE_BURST=1000,
                          IM_RATE_USER_MSGS_PER_S=1, IM_RATE_USER_BURST=4)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    phones = []
    for device in ("one", "two"):
        phone = await connect(server, "tcp")
        await phone.auth(await login_again(server.base_url, alice), device=device)
        phones.append(phone)
    for i in range(4):
        for n, phone in enumerate(phones):
            await phone.send_text(to=bob.id, text="x", client_id=f"{n}-{i}")
    answers = []
    for phone in phones:
        for _ in range(4):
            frame = await phone.recv()
            while frame["type"] not in ("ack", "error"):
                frame = await phone.recv()  # the other phone's messages, synced
            answers.append(frame["type"] if frame["type"] == "ack" else frame["code"])
    assert sorted(answers) == ["ack"] * 4 + ["rate_limited"] * 4


@pytest.mark.parametrize("redis", [False, True], ids=["memory", "redis"])
async def test_a_user_beyond_the_connection_cap_replaces_the_oldest(make_deployment, redis):
    dep = make_deployment(redis=redis, IM_MAX_CONNS_PER_USER=3)
    server = dep.start_server()
    alice = await make_user(server.base_url)
    clients = []
    for n in range(4):
        client = await connect(server, "tcp" if n % 2 else "ws")
        await client.auth(alice.token, device=f"d{n}")
        clients.append(client)
    frames = await clients[0].closed()
    assert frames[-1] == {"type": "offline", "reason": "replaced", "reconnect": None}
    for client in clients[1:]:
        await client.send({"type": "heartbeat"})
        assert (await client.expect("heartbeat"))["type"] == "heartbeat"


@pytest.mark.parametrize("redis", [False, True], ids=["memory", "redis"])
async def test_device_names_outside_the_alphabet_are_invalid_and_odd_ones_still_reachable(
    make_deployment, redis
):
    dep = make_deployment(redis=redis)
    server = dep.start_server()
    alice = await make_user(server.base_url)
    client = await connect(server, "tcp")
    for bad in ("pho|ne", "a b", "ph\u043ene", "x" * 65):
        await client.send({"type": "auth", "id": "a", "token": alice.token, "device": bad})
        error = await client.expect("error")
        assert (error["code"], error["id"]) == ("invalid", "a")
    # Still unauthenticated, and an auth with every allowed punctuation works.
    ok = await client.auth(alice.token, device="a:b@c.d-e_f")
    assert ok["device"] == "a:b@c.d-e_f"
    # The locator finds it: a logout reaches it.
    status, _ = await ahttp(server.base_url, "POST", "/api/auth/logout/", token=alice.token)
    assert status == 204
    frames = await client.closed()
    assert frames[-1] == {"type": "offline", "reason": "logout", "reconnect": None}
