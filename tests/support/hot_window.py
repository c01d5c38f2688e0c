"""Reading a deployment's hot window (Redis) from a test."""

from __future__ import annotations

import asyncio
import time

import redis

from tests.support.clients import TIMEOUT


def window_key(dep, channel: str) -> str:
    return f"{dep.env['IM_REDIS_PREFIX']}:hot:{channel}"


async def window_reaches(r: redis.Redis, key: str, seq: int, timeout: float = TIMEOUT) -> None:
    """Wait until the window's write of `seq` has been made (it comes after the ack, from
    the window's own thread). Writes are made in commit order, so every write queued
    before it on that node has been made (or skipped) too."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(r.zrangebyscore, key, seq, seq):
        assert time.monotonic() < deadline, f"seq {seq} never reached the window {key}"
        await asyncio.sleep(0.02)


def window_seqs(r: redis.Redis, key: str) -> list[int]:
    """The seqs the window holds messages for (not its markers)."""
    return [int(score) for member, score in r.zrange(key, 0, -1, withscores=True)
            if not member.startswith(b"~")]
