"""IM_MAX_CONNS_PER_IP through a real server: HTTP, WebSocket and TCP share one count
per client address, refused politely over the cap, released on every close path.

Every client here comes from 127.0.0.1; behind a proxy (IM_NUM_PROXIES=1) the
X-Forwarded-For address counts instead, per request and per WebSocket.
"""

from __future__ import annotations

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.http.raw import RawHttp, eventually, request_head, reset
from tests.support.clients import Closed, TcpClient, WsClient, make_user

CAP = 6
TOO_MANY = {"detail": "Too many connections from your address."}


@pytest.fixture(scope="module")
def capped(deployment_factory_module):
    dep = deployment_factory_module(IM_MAX_CONNS_PER_IP=CAP)
    return dep.start_server()


@pytest.fixture(scope="module")
def proxied(deployment_factory_module):
    dep = deployment_factory_module(IM_MAX_CONNS_PER_IP=2, IM_NUM_PROXIES=1)
    return dep.start_server()


# --- opening connections, each counted by the server once this returns -----------------


async def tcp(server, token: str) -> TcpClient:
    client = await TcpClient.connect(server.tcp_host, server.tcp_port)
    await client.auth(token, device=f"tcp-{id(client)}")
    return client


async def ws(server, token: str, forwarded_for: str | None = None) -> WsClient:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    raw = await websockets.connect(server.ws_url, max_size=None, additional_headers=headers)
    client = WsClient(raw, "json")
    await client.auth(token, device=f"ws-{id(client)}")
    return client


async def http(server) -> RawHttp:
    conn = await RawHttp.connect(server)
    assert (await conn.get("/api/health/")).status == 200
    return conn  # kept alive


async def one_of_each(server, token: str) -> list:
    """CAP connections: two of each transport (none left open if one is refused)."""
    opened = []
    try:
        for _ in range(CAP // 3):
            opened.append(await tcp(server, token))
            opened.append(await ws(server, token))
            opened.append(await http(server))
    except BaseException:
        await close_all(opened)
        raise
    return opened


async def close_all(opened: list) -> None:
    for conn in opened:
        if isinstance(conn, RawHttp):
            conn.close()
        else:
            await conn.close()


async def reopened(server, token: str) -> list:
    """CAP connections again, once the server has noticed the old ones closing."""
    async def attempt():
        try:
            return await one_of_each(server, token)
        except (InvalidStatus, AssertionError, Closed, ConnectionError):
            return None  # a slot is still held: the server has not seen every close yet

    return await eventually(attempt)


# --- refusals ------------------------------------------------------------------------------


async def assert_tcp_refused(server, token: str) -> None:
    client = await TcpClient.connect(server.tcp_host, server.tcp_port)
    await client.send({"type": "auth", "id": "a1", "token": token, "device": "over", "v": 1})
    frames = await client.closed()
    assert frames == [{"type": "error", "id": None, "code": "rate_limited",
                       "message": "too many connections from your address"}]
    await client.close()


async def assert_ws_refused(server, forwarded_for: str | None = None) -> None:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(server.ws_url, additional_headers=headers)
    response = refused.value.response
    assert response.status_code == 429
    assert response.headers["Content-Type"] == "application/json"


async def assert_http_refused(server, headers: dict | None = None) -> None:
    conn = await RawHttp.connect(server)
    await conn.send(request_head("GET", "/api/health/", headers))
    answer = await conn.answer()
    assert answer.status == 429
    assert answer.headers["connection"] == "close"
    assert answer.json() == TOO_MANY
    assert await conn.closed_by_server() == b""


async def assert_full(server, token: str) -> None:
    await assert_tcp_refused(server, token)
    await assert_ws_refused(server)
    await assert_http_refused(server)


# --- without a proxy: the peer address, counted from accept to close ----------------------


async def test_http_websocket_and_tcp_share_one_cap_and_closing_frees_it(capped):
    alice = await make_user(capped.base_url)
    opened = await one_of_each(capped, alice.token)
    await assert_full(capped, alice.token)
    # The refusals took nothing: the six still work.
    await opened[0].send({"type": "heartbeat"})
    assert (await opened[0].expect("heartbeat"))["ts"]
    assert (await opened[2].get("/api/health/")).status == 200

    await close_all(opened)
    again = await reopened(capped, alice.token)
    await assert_full(capped, alice.token)
    await close_all(again)
    await close_all(await reopened(capped, alice.token))


async def test_resets_at_every_stage_free_their_slots(capped):
    alice = await make_user(capped.base_url)
    # Clients held in a list: a StreamWriter that is collected closes its socket.
    clients = []
    for _ in range(CAP // 3):
        clients.append(await tcp(capped, alice.token))  # an authenticated TCP connection
        clients.append(await WsClient.connect(capped.ws_url))  # a WebSocket, no auth yet
        half = await http(capped)  # answered once, then a request cut in its head
        await half.send(b"POST /api/auth/login/ HTTP/1.1\r\nHost: te")
        clients.append(half)
    # All six are counted now: each had an answer from the server.
    await assert_full(capped, alice.token)
    for client in clients:
        reset(client.ws.transport if isinstance(client, WsClient) else client.writer.transport)
    opened = await reopened(capped, alice.token)
    await assert_full(capped, alice.token)
    await close_all(opened)
    await close_all(await reopened(capped, alice.token))


async def test_connections_that_the_server_closes_free_their_slots(capped):
    """Server-side closes: a request with Connection: close, an auth timeout on
    TCP, a bad frame on a WebSocket."""
    alice = await make_user(capped.base_url)
    for _ in range(2):
        conns = [await RawHttp.connect(capped) for _ in range(2)]
        for conn in conns:
            await conn.send(request_head("GET", "/api/health/", {"Connection": "close"}))
            assert (await conn.answer()).status == 200
            assert await conn.closed_by_server() == b""
        bad_tcp = await TcpClient.connect(capped.tcp_host, capped.tcp_port)
        await bad_tcp.send_raw(b"\x00\x00\x00\x01\xc1")  # one byte that is no MessagePack
        assert [f["code"] for f in await bad_tcp.closed()] == ["bad_frame"]
        bad_ws = await WsClient.connect(capped.ws_url)
        await bad_ws.send_raw("[]")
        assert [f["code"] for f in await bad_ws.closed()] == ["bad_frame"]
    await close_all(await reopened(capped, alice.token))


# --- behind a proxy: the forwarded address, per request and per WebSocket ------------------


async def test_behind_a_proxy_the_forwarded_address_counts(proxied):
    alice = await make_user(proxied.base_url)
    first = [await ws(proxied, alice.token, "10.0.0.1") for _ in range(2)]
    await assert_ws_refused(proxied, "10.0.0.1")
    await assert_http_refused(proxied, {"X-Forwarded-For": "10.0.0.1"})
    # Only the entry our one proxy appended counts; the client's own entries do not.
    await assert_http_refused(proxied, {"X-Forwarded-For": "10.0.0.2, 10.0.0.1"})
    conn = await RawHttp.connect(proxied)
    assert (await conn.get("/api/health/", {"X-Forwarded-For": "10.0.0.1, 10.0.0.2"})).status \
        == 200
    conn.close()

    # Everything arrives from 127.0.0.1, the proxy, which is not what is counted: other
    # clients behind it connect, and idle kept-alive connections hold nothing.
    others = [await ws(proxied, alice.token, "10.0.0.2") for _ in range(2)]
    idle = []
    for _ in range(5):
        keep = await RawHttp.connect(proxied)
        assert (await keep.get("/api/health/", {"X-Forwarded-For": "10.0.0.3"})).status == 200
        idle.append(keep)
    third = [await ws(proxied, alice.token, "10.0.0.3") for _ in range(2)]
    await assert_ws_refused(proxied, "10.0.0.3")

    # Raw TCP has no forwarded address: its peer (the proxy's) counts.
    tcps = [await tcp(proxied, alice.token) for _ in range(2)]
    await assert_tcp_refused(proxied, alice.token)

    # A WebSocket closed cleanly and one reset both give their slot back.
    await first[0].close()
    reset(first[1].ws.transport)

    async def two_more():
        try:
            return [await ws(proxied, alice.token, "10.0.0.1") for _ in range(2)]
        except InvalidStatus:
            return None

    again = await eventually(two_more)
    await assert_ws_refused(proxied, "10.0.0.1")
    await close_all(again + others + third + tcps)
    for keep in idle:
        keep.close()
