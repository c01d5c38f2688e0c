"""Retention from the wire (docs/protocol.md, Retention): old messages removed in small
steps, first_seq in the channel list, sync and history, unread counts without the
removed messages, and the write path never waiting for a run."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from tests.support.clients import ahttp, connect, make_user
from tests.support.servers import PYTHON, ROOT

pytestmark = [pytest.mark.mongo, pytest.mark.embedded]

TRANSPORTS = ["tcp", "ws"]


def _retention_command(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "manage.py", "im_retention", *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


async def _run_retention(env: dict, *args: str) -> str:
    proc = _retention_command(env, *args)
    out, err = await asyncio.to_thread(proc.communicate, timeout=120)
    assert proc.returncode == 0, err
    return out.strip()


async def _past(client, ts: int) -> None:
    """Wait until the server's clock is past `ts` (its heartbeat answers carry it), so
    what is stored from now on has a later ts."""
    while True:
        await client.send({"type": "heartbeat"})
        if (await client.expect("heartbeat"))["ts"] > ts:
            return


async def _sync(client, frame_id: str, **fields) -> dict:
    await client.send({"type": "sync", "id": frame_id, **fields})
    reply = await client.expect("sync")
    assert reply["id"] == frame_id
    return reply


async def _listed(client, channel: str) -> dict:
    reply = await _sync(client, f"l{time.monotonic_ns()}")
    return next(c for c in reply["channels"] if c["channel"] == channel)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_old_messages_are_removed_and_sync_and_history_say_so(server, transport):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender = await connect(server, transport)
    await sender.auth(alice.token, device="a")
    for n in range(5):
        await sender.send_text(to=bob.id, text=f"old {n}", client_id=f"o{n}")
    old = await sender.acks(5)
    channel = old[0]["channel"]
    await _past(sender, old[-1]["ts"])
    for n in range(3):
        await sender.send_text(to=bob.id, text=f"new {n}", client_id=f"n{n}")
    new = await sender.acks(3)
    assert [a["seq"] for a in new] == [6, 7, 8] and new[0]["ts"] > old[-1]["ts"]

    reader = await connect(server, transport)
    await reader.auth(bob.token, device="b")
    await reader.send({"type": "read", "id": "r", "channel": channel, "seq": 2})
    assert await reader.expect("ack") == {"type": "ack", "id": "r"}
    assert (await sender.expect("read"))["seq"] == 2  # the peer is told
    # Nothing removed yet: no first_seq anywhere (absent means 1).
    assert await _listed(reader, channel) == {"channel": channel, "last_seq": 8, "read_seq": 2}

    # Two messages per step: three steps, each raising first_seq then deleting.
    # (The module's server is shared: an earlier test's channel may go too.)
    out = await _run_retention(server.env, "--before-ms", str(old[-1]["ts"] + 1), "--batch", "2")
    assert " messages removed from " in out

    assert await _listed(reader, channel) == {
        "channel": channel, "last_seq": 8, "first_seq": 6, "read_seq": 2}
    page = await _sync(reader, "s0", channel=channel, after=0)
    assert [m["seq"] for m in page["messages"]] == [6, 7, 8]
    assert [m["body"]["text"] for m in page["messages"]] == ["new 0", "new 1", "new 2"]
    assert (page["first_seq"], page["last_seq"]) == (6, 8)
    page = await _sync(reader, "s1", channel=channel, after=3, limit=2)
    assert [m["seq"] for m in page["messages"]] == [6, 7] and page["first_seq"] == 6
    page = await _sync(reader, "s2", channel=channel, after=6)
    assert [m["seq"] for m in page["messages"]] == [7, 8] and page["first_seq"] == 6

    status, history = await ahttp(server.base_url, "GET",
                                  f"/api/channels/{channel}/messages/?after=0", token=bob.token)
    assert status == 200
    assert [m["seq"] for m in history["messages"]] == [6, 7, 8]
    assert (history["first_seq"], history["last_seq"]) == (6, 8)
    status, back = await ahttp(server.base_url, "GET",
                               f"/api/channels/{channel}/messages/?before=7", token=bob.token)
    assert [m["seq"] for m in back["messages"]] == [6] and back["first_seq"] == 6
    # Unread leaves the removed messages out: 3 to 5 can no longer be read.
    status, channels = await ahttp(server.base_url, "GET", "/api/channels/", token=bob.token)
    listed = next(c for c in channels if c["channel"] == channel)
    assert (listed["last_seq"], listed["first_seq"], listed["read_seq"], listed["unread"]) == (
        8, 6, 2, 3)

    # A removed message cannot be edited or recalled; a kept one can.
    await sender.send({"type": "edit", "id": "e1", "channel": channel, "target": 3,
                       "body": {"text": "too late"}})
    error = await sender.expect("error")
    assert (error["id"], error["code"]) == ("e1", "not_found")
    await sender.send({"type": "edit", "id": "e2", "channel": channel, "target": 6,
                       "body": {"text": "new 0, edited"}})
    assert (await sender.expect("ack"))["seq"] == 9
    assert (await reader.expect("edit"))["target"] == 6

    # A second run finds nothing more; seqs go on from last_seq, never reused.
    out = await _run_retention(server.env, "--before-ms", str(old[-1]["ts"] + 1))
    assert out.startswith("0 messages removed from 0 channels")
    await sender.send_text(to=bob.id, text="later", client_id="later")
    assert (await sender.expect("ack"))["seq"] == 10
    assert (await reader.expect("text"))["seq"] == 10
    page = await _sync(reader, "s3", channel=channel, after=0)
    assert [m["seq"] for m in page["messages"]][0] == 6
    assert page["messages"][0]["body"] == {"text": "new 0, edited"}


async def test_a_send_during_a_retention_run_is_not_kept_waiting(make_deployment):
    dep = make_deployment(IM_RATE_MSGS_PER_S=2000, IM_RATE_BURST=2000)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender = await connect(server, "tcp")
    await sender.auth(alice.token, device="a")
    backlog = 300
    for n in range(backlog):
        await sender.send_text(to=bob.id, text=f"old {n}", client_id=f"o{n}")
    acks = await sender.acks(backlog, timeout=60)
    channel = acks[0]["channel"]
    await _past(sender, acks[-1]["ts"])
    watcher = await connect(server, "tcp")
    await watcher.auth(bob.token, device="w")

    # One message per step: hundreds of short writes, the writer between any two.
    proc = _retention_command(server.env, "--before-ms", str(acks[-1]["ts"] + 1), "--batch", "1")
    try:
        while (await _listed(watcher, channel)).get("first_seq", 1) == 1:
            assert proc.poll() is None, proc.communicate()
            await asyncio.sleep(0.01)
        await sender.send_text(to=bob.id, text="during", client_id="during")
        ack = await sender.expect("ack")
        assert ack["seq"] == backlog + 1
        assert (await watcher.expect("text"))["seq"] == backlog + 1
        # The run was still going when the ack came: the send did not wait for it.
        during = await _listed(watcher, channel)
        assert 1 < during["first_seq"] <= backlog and proc.poll() is None
    finally:
        out, err = await asyncio.to_thread(proc.communicate, timeout=120)
    assert proc.returncode == 0, err
    assert out.startswith(f"{backlog} messages removed from 1 channels")
    page = await _sync(watcher, "s", channel=channel, after=0)
    assert [m["seq"] for m in page["messages"]] == [backlog + 1]
    assert (page["first_seq"], page["last_seq"]) == (backlog + 1, backlog + 1)


async def test_the_server_runs_retention_itself_without_a_broker(make_deployment):
    # Messages older than a second and a half go, checked every 0.3 s.
    dep = make_deployment(IM_RETENTION_DAYS=1.5 / 86400, IM_RETENTION_INTERVAL_S=0.3)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender = await connect(server, "ws")
    await sender.auth(alice.token, device="a")
    for n in range(3):
        await sender.send_text(to=bob.id, text=f"m{n}", client_id=f"m{n}")
    channel = (await sender.acks(3))[0]["channel"]
    reader = await connect(server, "tcp")
    await reader.auth(bob.token, device="b")
    deadline = time.monotonic() + 30
    while (listed := await _listed(reader, channel)).get("first_seq", 1) != 4:
        assert time.monotonic() < deadline, f"not removed: {listed}"
        await asyncio.sleep(0.1)
    assert (listed["last_seq"], listed["read_seq"]) == (3, 0)
    page = await _sync(reader, "s", channel=channel, after=0)
    assert (page["messages"], page["first_seq"], page["last_seq"]) == ([], 4, 3)
    status, channels = await ahttp(server.base_url, "GET", "/api/channels/", token=bob.token)
    assert next(c for c in channels if c["channel"] == channel)["unread"] == 0
