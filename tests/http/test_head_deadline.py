"""Slow HTTP clients: the request-head deadline and the idle timeout, through a real server.

The server runs with IM_HTTP_HEAD_TIMEOUT_S=1 and IM_HTTP_IDLE_TIMEOUT_S=2. Twisted's
own timeout is reset by every byte, so before the head deadline a client sending one
header line every few seconds (slowloris) held its connection for good.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.http.raw import RawHttp, parse_answer, request_head
from tests.support.clients import WsClient, make_user

HEAD_S = 1
IDLE_S = 2


@pytest.fixture(scope="module")
def server(deployment_factory_module):
    dep = deployment_factory_module(IM_HTTP_HEAD_TIMEOUT_S=HEAD_S, IM_HTTP_IDLE_TIMEOUT_S=IDLE_S)
    return dep.start_server()


def assert_head_timeout(data: bytes) -> None:
    answer = parse_answer(data)
    assert answer.status == 408, data[:300]
    assert answer.headers["connection"] == "close"
    assert answer.json() == {"detail": f"The request head did not arrive within {HEAD_S} s."}


async def test_slowloris_head_is_cut_at_the_deadline(server):
    conn = await RawHttp.connect(server)
    started = time.monotonic()
    await conn.send(b"GET /api/health/ HTTP/1.1\r\nHost: test\r\n")
    received, lines = b"", 0
    # One header line every 0.25 s, never finishing the head: each resets an idle
    # timeout, none completes the head. At most 40 lines (10 s).
    while lines < 40:
        try:
            received = await asyncio.wait_for(conn.reader.read(65536), 0.25)
            break
        except TimeoutError:
            await conn.send(b"X-Slow-%d: still here\r\n" % lines)
            lines += 1
    assert received, "still connected after 40 header lines over 10 s"
    received += await conn.closed_by_server()
    assert time.monotonic() - started < HEAD_S + 2
    assert_head_timeout(received)


async def test_silent_connection_is_cut_at_the_deadline(server):
    conn = await RawHttp.connect(server)
    started = time.monotonic()
    received = await conn.closed_by_server(timeout=HEAD_S + 5)
    assert time.monotonic() - started < HEAD_S + 2
    assert_head_timeout(received)


async def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(server):
    conn = await RawHttp.connect(server)
    assert (await conn.get("/api/health/")).status == 200
    answered = time.monotonic()
    # Kept alive and silent: no head has started, so no 408, only a close.
    assert await conn.closed_by_server(timeout=IDLE_S + 6) == b""
    waited = time.monotonic() - answered
    assert IDLE_S - 0.5 < waited < IDLE_S + 4


async def test_next_head_on_a_kept_alive_connection_has_its_own_deadline(server):
    conn = await RawHttp.connect(server)
    assert (await conn.get("/api/health/")).status == 200
    assert (await conn.get("/api/health/")).status == 200
    await conn.send(b"GET /api/health/ HTTP/1.1\r\n")
    started = time.monotonic()
    received = await conn.closed_by_server(timeout=HEAD_S + 5)
    assert time.monotonic() - started < HEAD_S + 1.5
    assert_head_timeout(received)


async def test_pipelined_requests_are_answered_and_a_partial_next_head_gets_the_deadline(server):
    conn = await RawHttp.connect(server)
    both = request_head("GET", "/api/health/") * 2
    await conn.send(both + b"GET /api/health/ HTTP/1.1\r\nHost: te")
    started = time.monotonic()
    assert (await conn.answer()).status == 200
    assert (await conn.answer()).status == 200
    received = await conn.closed_by_server(timeout=HEAD_S + 5)
    assert time.monotonic() - started < HEAD_S + 1.5
    assert_head_timeout(received)


async def test_a_slow_body_is_not_cut_by_the_head_deadline(server):
    """The deadline is on the head; a body arriving within the idle timeout is fine."""
    body = json.dumps({"username": f"slow{time.time_ns() % 10**9}",
                       "password": "correct horse battery staple"}).encode()
    conn = await RawHttp.connect(server)
    await conn.send(request_head("POST", "/api/auth/register/", {
        "Content-Type": "application/json", "Content-Length": str(len(body))}))
    pieces = [body[i:i + len(body) // 4 + 1] for i in range(0, len(body), len(body) // 4 + 1)]
    for piece in pieces:  # 4 pieces, 0.5 s apart: well past the head deadline in all
        await asyncio.sleep(0.5)
        await conn.send(piece)
    answer = await conn.answer()
    assert answer.status == 201, answer.body


async def test_open_websocket_outlives_the_head_deadline_and_the_idle_timeout(server):
    alice = await make_user(server.base_url)
    ws = await WsClient.connect(server.ws_url)
    try:
        await ws.auth(alice.token)
        # Silent for longer than both HTTP timeouts together: nothing may arrive, and
        # above all no close.
        with pytest.raises(TimeoutError):
            await ws.recv(timeout=HEAD_S + IDLE_S + 0.5)
        await ws.send({"type": "heartbeat"})
        assert (await ws.expect("heartbeat"))["ts"]
    finally:
        await ws.close()
