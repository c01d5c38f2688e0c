"""A member removed from a group stays out from the removal's commit on, with them
sending to the group flat out from two nodes at that moment: on each connection every
message is stored up to a point and refused after it, every message sent after the
removal's answer is refused, and what was stored is exactly what was acked."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clients import ahttp, connect, make_user

CHUNK = 10


@pytest.mark.parametrize("redis", [True], ids=["redis"])
async def test_a_removal_during_a_send_storm_cuts_each_connection_at_one_point(
    make_deployment, redis
):
    dep = make_deployment(redis=redis, IM_RATE_MSGS_PER_S=100000, IM_RATE_BURST=100000,
                          IM_RATE_USER_MSGS_PER_S=100000, IM_RATE_USER_BURST=100000,
                          IM_RATE_FRAMES_PER_S=100000, IM_RATE_FRAMES_BURST=100000)
    a, b = dep.start_server(), dep.start_server()
    alice, bob = await make_user(a.base_url), await make_user(b.base_url)
    status, group = await ahttp(b.base_url, "POST", "/api/groups/",
                                {"name": "storm", "members": [alice.id]}, token=bob.token)
    assert status == 201, group
    warmed, removed = asyncio.Event(), asyncio.Event()
    chunks_before = {"t": 0, "w": 0}

    async def storm(server, transport: str, tag: str) -> list[tuple[bool, str]]:
        """Send in chunks, reading each chunk's answers; return (sent after the
        removal's answer, outcome) per message, in sending order."""
        client = await connect(server, transport)
        await client.auth(alice.token, device=tag)
        outcomes: list[tuple[bool, str]] = []
        after = 0
        i = 0
        while after < 3 * CHUNK:
            late = removed.is_set()
            ids = [f"{tag}-{i + k}" for k in range(CHUNK)]
            for frame_id in ids:
                await client.send_text(group=group["id"], text="x", client_id=frame_id)
            i += CHUNK
            answers = {}
            while len(answers) < CHUNK:
                frame = await client.recv()
                if frame["type"] == "ack":
                    answers[frame["id"]] = "ack"
                elif frame["type"] == "error":
                    assert (frame["code"], frame["message"]) == (
                        "forbidden", f"not a member of g:{group['id']}"), frame
                    answers[frame["id"]] = "forbidden"
            outcomes.extend((late, answers[frame_id]) for frame_id in ids)
            if late:
                after += CHUNK
            else:
                chunks_before[tag] += 1
            if min(chunks_before.values()) >= 10:
                warmed.set()
        await client.close()
        return outcomes

    runs = [asyncio.create_task(storm(a, "tcp", "t")), asyncio.create_task(storm(b, "ws", "w"))]
    await asyncio.wait_for(warmed.wait(), 30)
    status, _ = await ahttp(b.base_url, "DELETE",
                            f"/api/groups/{group['id']}/members/{alice.id}/", token=bob.token)
    assert status == 204
    removed.set()
    results = await asyncio.wait_for(asyncio.gather(*runs), 60)

    acked = 0
    for outcomes in results:
        kinds = [outcome for _, outcome in outcomes]
        cut = kinds.index("forbidden")
        assert set(kinds[:cut]) == {"ack"} and set(kinds[cut:]) == {"forbidden"}, kinds
        assert all(outcome == "forbidden" for late, outcome in outcomes if late)
        acked += cut
    status, channels = await ahttp(a.base_url, "GET", "/api/channels/", token=bob.token)
    assert [(c["channel"], c["last_seq"]) for c in channels] == [(f"g:{group['id']}", acked)]
