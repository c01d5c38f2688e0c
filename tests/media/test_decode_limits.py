"""Upload work bounded through a real server: decoding memory, the busy answer, the
per-user upload rate, the per-user storage quota.

A PNG of 5000 x 5000 pixels in one colour is 84 KB on the wire and 100 MB decoded
(Pillow keeps RGB at 4 bytes a pixel): memory follows the decodes that run at once.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.media import helpers
from tests.media.test_limits import leftover_files
from tests.support.clients import make_user

SIDE = 5000
DECODED = SIDE * SIDE * 4
CONCURRENT = 6
WORKERS = 2


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return helpers.png((SIDE, SIDE))


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux's clear_refs, value 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@pytest.fixture(scope="module")
def decoding(deployment_factory_module):
    dep = deployment_factory_module(IM_MEDIA_DECODE_WORKERS=WORKERS, IM_UPLOAD_RATE="1000/min")
    return dep.start_server()


async def test_concurrent_pixel_bombs_decode_within_the_pool_memory(decoding, bomb):
    alice = await make_user(decoding.base_url)
    await helpers.uploaded(decoding.base_url, alice.token, helpers.png(), "warm.png")
    pid = decoding.proc.pid
    before_kb = memory_kb(pid, "VmRSS")
    reset_peak(pid)
    # Two bursts: the second must not build on what the first left.
    for burst in (1, 2):
        replies = await asyncio.gather(*(
            helpers.aupload(decoding.base_url, alice.token, bomb, f"bomb{i}.png")
            for i in range(CONCURRENT)))
        assert [r.status for r in replies] == [201] * CONCURRENT, [r.body for r in replies]
        assert {(r.json()["width"], r.json()["height"]) for r in replies} == {(SIDE, SIDE)}
        growth = (memory_kb(pid, "VmHWM") - before_kb) * 1024
        print(f"\nburst {burst}: {CONCURRENT} concurrent {SIDE}x{SIDE} PNGs ({len(bomb)} bytes "
              f"each): RSS {before_kb // 1024} MB before, peak +{growth // 2**20} MB "
              f"({growth / DECODED:.1f} decoded images), "
              f"{memory_kb(pid, 'VmRSS') // 1024} MB after")
        # The workers' decodes and some slack; all six at once would be six.
        assert growth < (WORKERS + 1) * DECODED


@pytest.fixture(scope="module")
def one_worker_no_queue(deployment_factory_module):
    dep = deployment_factory_module(IM_MEDIA_DECODE_WORKERS=1, IM_MEDIA_DECODE_QUEUE=0,
                                    IM_UPLOAD_RATE="1000/min")
    return dep.start_server()


@pytest.fixture(scope="module")
def one_worker_short_wait(deployment_factory_module):
    dep = deployment_factory_module(IM_MEDIA_DECODE_WORKERS=1, IM_MEDIA_DECODE_QUEUE=40,
                                    IM_MEDIA_DECODE_WAIT_S=1, IM_UPLOAD_RATE="1000/min")
    return dep.start_server()


def assert_busy(reply) -> None:
    assert reply.status == 503, reply.body
    assert reply.headers["retry-after"] == "5"
    assert reply.json() == {"detail": "The server is busy reading other uploads; try again "
                                      "shortly."}


# With no queue, a few at once; with a queue and a 1 s wait, enough that the last of
# them waits past the second even where a decode is fast (24 x 42 ms).
@pytest.mark.parametrize("server_name, count", [("one_worker_no_queue", CONCURRENT),
                                                ("one_worker_short_wait", 24)])
async def test_uploads_beyond_the_decode_queue_or_its_wait_are_told_to_retry(
        request, server_name, count, bomb):
    server = request.getfixturevalue(server_name)
    alice = await make_user(server.base_url)
    # A thread per upload: asyncio's default pool (cores + 4 threads) would let only a
    # few be in flight at once, and those few may all fit in the wait.
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=count) as pool:
        replies = await asyncio.gather(*(
            loop.run_in_executor(pool, helpers.upload, server.base_url, alice.token, bomb,
                                 f"bomb{i}.png")
            for i in range(count)))
    statuses = sorted(r.status for r in replies)
    # One decodes at a time; with no queue the others are refused at once, with a
    # 1 s wait those still queued after it.
    assert statuses[0] == 201 and statuses[-1] == 503, statuses
    for reply in replies:
        if reply.status == 503:
            assert_busy(reply)
    # Refused uploads left nothing behind, and the server takes uploads again.
    ok = await helpers.aupload(server.base_url, alice.token, helpers.png(), "after.png")
    assert ok.status == 201, ok.body


# --- the per-user upload rate ------------------------------------------------------------


@pytest.fixture(scope="module")
def rate_limited(deployment_factory_module):
    # Per day: a test never straddles a window boundary.
    dep = deployment_factory_module(IM_UPLOAD_RATE="3/day")
    return dep.start_server()


async def test_upload_rate_per_user_answers_429_with_retry_after(rate_limited):
    base = rate_limited.base_url
    alice, bob = await make_user(base), await make_user(base)
    for i in range(3):
        await helpers.uploaded(base, alice.token, helpers.PDF, f"{i}.pdf")
    over = await helpers.aupload(base, alice.token, helpers.PDF, "4.pdf")
    assert over.status == 429, over.body
    assert 0 < int(over.headers["retry-after"]) <= 86400
    assert over.json()["detail"].startswith("Request was throttled.")
    # Per user: Bob has his own budget.
    await helpers.uploaded(base, bob.token, helpers.PDF, "b.pdf")


async def test_concurrent_uploads_cannot_share_one_rate_slot(rate_limited):
    carol = await make_user(rate_limited.base_url)
    replies = await asyncio.gather(*(
        helpers.aupload(rate_limited.base_url, carol.token, helpers.PDF, f"{i}.pdf")
        for i in range(10)))
    assert sorted(r.status for r in replies) == [201] * 3 + [429] * 7


# --- the per-user storage quota ------------------------------------------------------------

QUOTA = 100_000


@pytest.fixture(scope="module")
def quota(deployment_factory_module):
    dep = deployment_factory_module(IM_UPLOAD_QUOTA_BYTES=QUOTA, IM_UPLOAD_RATE="1000/min")
    dep.start_server()
    return dep


def full_detail(stored: int) -> str:
    return (f"This file would take your stored files past your quota of {QUOTA} bytes "
            f"({stored} bytes used).")


def quota_full(reply, stored: int) -> None:
    assert reply.status == 413, reply.body
    assert reply.json() == {"detail": full_detail(stored)}


async def test_quota_is_per_user_exact_and_race_free(quota):
    server = quota.servers[0]
    base = server.base_url
    alice, bob = await make_user(base), await make_user(base)
    await helpers.uploaded(base, alice.token, os.urandom(60_000), "a.bin")
    # 40,000 bytes left; eight uploads of 30,000 at once: exactly one fits.
    replies = await asyncio.gather(*(
        helpers.aupload(base, alice.token, os.urandom(30_000), f"{i}.bin") for i in range(8)))
    assert sorted(r.status for r in replies) == [201] + [413] * 7
    # Refused before the winner's row was in (the early check) or after.
    assert {r.json()["detail"] for r in replies if r.status == 413} <= {
        full_detail(60_000), full_detail(90_000)}
    await helpers.uploaded(base, alice.token, os.urandom(10_000), "last.bin")  # exactly full
    quota_full(await helpers.aupload(base, alice.token, b"x", "x.bin"), QUOTA)
    # An image is refused before it is decoded, and Bob's quota is his own.
    quota_full(await helpers.aupload(base, alice.token, helpers.png(), "p.png"), QUOTA)
    await helpers.uploaded(base, bob.token, os.urandom(99_000), "b.bin")
    # Only the four stored files are on disk: refused ones left nothing.
    assert len(leftover_files(quota)) == 4
