"""Bad input from the wire gets the error frames of docs/protocol.md (Errors), and
nothing more."""

from __future__ import annotations

import asyncio
import json
import random
import struct

import msgpack
import pytest

from improto.codec import pack_tcp
from tests.support.clients import TcpClient, WsClient, connect, make_user

pytestmark = pytest.mark.embedded


async def authed(server, transport):
    alice = await make_user(server.base_url)
    client = await connect(server, transport)
    await client.auth(alice.token)
    return alice, client


async def test_tcp_oversized_length_is_refused_without_reading_the_body(server):
    _, client = await authed(server, "tcp")
    # Only the header: the server must answer without waiting for 70000 bytes.
    await client.send_raw(struct.pack(">I", 70000))
    frames = await client.closed()
    assert [f["code"] for f in frames] == ["frame_too_large"]


async def test_tcp_zero_length_and_non_map_payloads_are_bad_frames(server):
    for raw in (struct.pack(">I", 0),
                struct.pack(">I", 3) + b"\xc1\xc1\xc1",
                struct.pack(">I", 4) + msgpack.packb([1, 2, 3])):
        _, client = await authed(server, "tcp")
        await client.send_raw(raw)
        assert [f["code"] for f in await client.closed()] == ["bad_frame"], raw


@pytest.mark.parametrize("payload", ["not json", "[1,2]", '"str"', "{bad", "NaN"])
async def test_ws_text_that_is_not_an_object_is_bad_frame(server, payload):
    _, client = await authed(server, "ws")
    await client.send_raw(payload)
    assert [f["code"] for f in await client.closed()] == ["bad_frame"]


@pytest.mark.parametrize("size", [70_000, 2 << 20])
@pytest.mark.parametrize("encoding", ["json", "msgpack"])
async def test_ws_oversized_message_is_frame_too_large_then_1009(server, size, encoding):
    _, client = await authed(server, "ws" if encoding == "json" else "ws-msgpack")
    frame = {"type": "heartbeat", "pad": "x" * size}
    await client.send_raw(json.dumps(frame) if encoding == "json" else msgpack.packb(frame))
    assert [f["code"] for f in await client.closed()] == ["frame_too_large"]
    assert client.ws.close_code == 1009


async def test_tcp_good_frames_before_a_bad_header_are_handled_first(server):
    _, client = await authed(server, "tcp")
    # One write: two good frames, then a header announcing too much.
    await client.send_raw(pack_tcp({"type": "heartbeat", "id": "h1"})
                          + pack_tcp({"type": "sync", "id": "s1"})
                          + struct.pack(">I", 70000))
    frames = await client.closed()
    assert [(f["type"], f.get("id")) for f in frames] == [
        ("heartbeat", "h1"), ("sync", "s1"), ("error", None)]
    assert frames[-1]["code"] == "frame_too_large"


@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_unknown_type_keeps_the_connection(server, transport):
    _, client = await authed(server, transport)
    await client.send({"type": "teleport", "id": "t"})
    error = await client.expect("error")
    assert (error["code"], error["id"]) == ("unknown_type", "t")
    await client.send({"type": "heartbeat"})
    assert (await client.recv())["type"] == "heartbeat"


@pytest.mark.parametrize("frame", [
    {"type": "text", "id": "i", "to": 1, "group": 1, "body": {"text": "x"}},
    {"type": "text", "id": "i", "body": {"text": "x"}},
    {"type": "text", "id": "i", "to": True, "body": {"text": "x"}},
    {"type": "text", "id": "i", "to": "7", "body": {"text": "x"}},
    {"type": "text", "id": "i", "to": 1, "body": {"text": ""}},
    {"type": "text", "id": "i", "to": 1, "body": {"text": "x" * 4001}},
    {"type": "text", "id": "i", "to": 1, "body": "text"},
    {"type": "emoji", "id": "i", "to": 1, "body": {"emoji": "x" * 65}},
    {"type": "text", "id": "", "to": 1, "body": {"text": "x"}},
    {"type": "text", "id": "i" * 65, "to": 1, "body": {"text": "x"}},
    {"type": "sync", "id": "i", "channel": "p:9:3"},
    {"type": "sync", "id": "i", "channel": "g:1", "limit": 501},
    {"type": "sync", "id": "i", "channel": "g:1", "after": -1},
])
async def test_invalid_frames_are_invalid_and_store_nothing(server, frame):
    alice, client = await authed(server, "tcp")
    await client.send(frame)
    error = await client.expect("error")
    assert error["code"] == "invalid", error
    await client.send({"type": "sync", "id": "s"})
    assert (await client.expect("sync"))["channels"] == []


async def test_rate_limit_answers_rate_limited_and_keeps_the_connection(make_deployment):
    dep = make_deployment(IM_RATE_MSGS_PER_S=1, IM_RATE_BURST=3)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    client = await connect(server, "tcp")
    await client.auth(alice.token)
    for i in range(6):
        await client.send_text(to=bob.id, text="x", client_id=f"r{i}")
    replies = [await client.recv() for _ in range(6)]
    acked = [r["id"] for r in replies if r["type"] == "ack"]
    limited = [r["id"] for r in replies if r["type"] == "error" and r["code"] == "rate_limited"]
    assert acked == ["r0", "r1", "r2"] and limited == ["r3", "r4", "r5"]
    await client.send({"type": "sync", "id": "s"})  # syncs have a budget of their own
    assert (await client.recv())["type"] == "sync"
    await client.send({"type": "heartbeat"})  # heartbeats count only in the frame budget
    assert (await client.recv())["type"] == "heartbeat"


async def test_garbage_storm_leaves_the_server_serving(server):
    rng = random.Random(1234)

    async def garbage_tcp():
        try:
            client = await TcpClient.connect(server.tcp_host, server.tcp_port)
            for _ in range(rng.randint(1, 5)):
                await client.send_raw(rng.randbytes(rng.randint(1, 3000)))
            await client.closed(timeout=10)
        except (ConnectionError, OSError):
            pass

    async def garbage_ws():
        try:
            client = await WsClient.connect(server.ws_url)
            for _ in range(rng.randint(1, 5)):
                blob = rng.randbytes(rng.randint(1, 3000))
                await client.send_raw(blob if rng.random() < 0.5 else blob.hex())
            await client.closed(timeout=10)
        except Exception:  # the server may close mid-send; that is the point
            pass

    async def bad_maps():
        client = await TcpClient.connect(server.tcp_host, server.tcp_port)
        alice = await make_user(server.base_url)
        await client.auth(alice.token)
        for _ in range(50):
            frame = {rng.choice(["type", "id", "to", "body", "group"]): rng.choice(
                [None, 1, -1, 2**64 - 1, "text", "", [1], {"text": 3}, b"\x00", 1.5])
                for _ in range(rng.randint(0, 5))}
            await client.send(frame)
        await client.send({"type": "heartbeat", "id": "end"})
        while (await client.recv()).get("id") != "end":
            pass

    await asyncio.gather(*(garbage_tcp() for _ in range(40)), *(garbage_ws() for _ in range(40)),
                         *(bad_maps() for _ in range(5)))
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    a, b = await connect(server, "tcp"), await connect(server, "ws")
    await a.auth(alice.token)
    await b.auth(bob.token)
    await a.send_text(to=bob.id, text="still here", client_id="ok")
    assert (await a.expect("ack"))["seq"] == 1
    assert (await b.expect("text"))["body"] == {"text": "still here"}
