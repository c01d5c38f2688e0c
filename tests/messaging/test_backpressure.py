"""A connection that cannot keep up is told offline and closed; no one else waits for it."""

from __future__ import annotations

import asyncio
import socket

from tests.support.clients import TcpClient, ahttp, connect, make_user


async def test_slow_reader_is_cut_and_others_are_served(make_deployment):
    dep = make_deployment(IM_OUTBOUND_BYTES=1_000_000, IM_SYNC_MAX_BYTES=65536,
                          IM_RATE_MSGS_PER_S=100000,
                          IM_RATE_BURST=100000)
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    owner = await make_user(server.base_url)
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "bp", "members": [alice.id, bob.id]}, token=owner.token)
    # Bob's device reads nothing, through a small receive buffer.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.tcp_host, server.tcp_port))
    reader, writer = await asyncio.open_connection(sock=sock)
    stalled = TcpClient(reader, writer)
    await stalled.auth(bob.token, device="stalled")
    healthy = await connect(server, "tcp")
    await healthy.auth(owner.token)
    sender = await connect(server, "tcp")
    await sender.auth(alice.token)

    total, text = 1500, "x" * 4000

    async def read_all():
        return [(await healthy.expect("text"))["seq"] for _ in range(total)]

    healthy_reader = asyncio.create_task(read_all())
    for i in range(total):
        await sender.send_text(group=group["id"], text=text, client_id=f"b{i}")
        if i % 50 == 0:
            await asyncio.sleep(0)
    acks = 0
    while acks < total:
        acks += (await sender.recv())["type"] == "ack"
    # The healthy member got every message, in spite of the stalled one.
    seqs = await healthy_reader
    assert sorted(seqs) == list(range(1, total + 1))
    # The stalled one, once it reads, finds the frames it had room for, then offline.
    frames = await stalled.closed(timeout=20)
    assert frames[-1] == {"type": "offline", "reason": "slow", "reconnect": None}
    assert len(frames) < total
    # It reconnects and resyncs from where it was.
    again = await connect(server, "tcp")
    await again.auth(bob.token, device="stalled")
    await again.send({"type": "sync", "id": "s", "channel": f"g:{group['id']}",
                      "after": total - 5})
    page = await again.expect("sync")
    assert [m["seq"] for m in page["messages"]] == list(range(total - 4, total + 1))
