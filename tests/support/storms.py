"""A user sending flat out from two nodes while something stops them (a block, a
removal from a group): the rule "from the change's commit on" checked from the wire."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tests.support.clients import connect

CHUNK = 10


async def storm_across_a_change(
    servers, token: str, send: Callable[[object, str], Awaitable[None]],
    change: Callable[[], Awaitable[None]], *, refusal: str | None = None,
) -> int:
    """Over TCP on the first server and WebSocket on the second, send in chunks
    (`send(client, frame_id)`), reading each chunk's answers; once both connections
    are in full flow, `change()` (awaited: its answer received). Asserts that each
    connection was cut at one point (acked up to it, `forbidden` after, with the
    message `refusal` if given) and that everything sent after the change's answer was
    refused. Answers how many messages were acked in all."""
    warmed, changed = asyncio.Event(), asyncio.Event()
    chunks_before = {"t": 0, "w": 0}  # chunks each connection got answered before

    async def storm(server, transport: str, tag: str) -> list[tuple[bool, str]]:
        client = await connect(server, transport)
        await client.auth(token, device=tag)
        outcomes: list[tuple[bool, str]] = []  # (sent after the change, outcome)
        after = i = 0
        while after < 3 * CHUNK:
            late = changed.is_set()
            ids = [f"{tag}-{i + k}" for k in range(CHUNK)]
            for frame_id in ids:
                await send(client, frame_id)
            i += CHUNK
            answers = {}
            while len(answers) < CHUNK:
                frame = await client.recv()
                if frame["type"] == "ack":
                    answers[frame["id"]] = "ack"
                elif frame["type"] == "error":
                    assert frame["code"] == "forbidden", frame
                    assert refusal is None or frame["message"] == refusal, frame
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

    first, second = servers
    runs = [asyncio.create_task(storm(first, "tcp", "t")),
            asyncio.create_task(storm(second, "ws", "w"))]
    await asyncio.wait_for(warmed.wait(), 30)
    await change()
    changed.set()
    results = await asyncio.wait_for(asyncio.gather(*runs), 60)
    acked = 0
    for outcomes in results:
        kinds = [outcome for _, outcome in outcomes]
        cut = kinds.index("forbidden")
        assert set(kinds[:cut]) == {"ack"} and set(kinds[cut:]) == {"forbidden"}, kinds
        assert all(outcome == "forbidden" for late, outcome in outcomes if late)
        acked += cut
    return acked
