"""Servers and helpers shared by the SDK tests.

The servers are package-scoped: every module of tests/imclient shares them, which
keeps the whole SDK run short on a small machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from imclient import Client, Message
from tests.support.clients import Account, make_user
from tests.support.servers import Deployment, ImServer

TRANSPORTS = ["tcp", "ws"]
WAIT = 20.0  # the longest any single awaited event may take


@pytest.fixture(scope="package")
def sdk_server() -> ImServer:
    """A server on the default settings."""
    dep = Deployment.create()
    server = dep.start_server()
    yield server
    dep.close()


@pytest.fixture(scope="package")
def quick_server() -> ImServer:
    """Heartbeat every second (a silent link dies after 3 s) and a tight rate limit."""
    dep = Deployment.create(extra_env={
        "IM_HEARTBEAT_S": "1", "IM_RATE_MSGS_PER_S": "40", "IM_RATE_BURST": "10",
    })
    server = dep.start_server()
    yield server
    dep.close()


def address_of(server: ImServer, transport: str) -> str:
    return server.tcp_address if transport == "tcp" else server.ws_url


@pytest.fixture
async def clients():
    """`await clients(server, account, transport, **options)`: a connected Client,
    closed after the test."""
    made: list[Client] = []

    async def factory(server: ImServer, account: Account, transport: str = "tcp", *,
                      connect: bool = True, address: str | None = None, **options) -> Client:
        options.setdefault("seed", len(made))
        client = Client(server.base_url, transport=transport, token=account.token, **options)
        made.append(client)
        if connect:
            await client.connect(address, timeout=WAIT)
        return client

    yield factory
    for client in made:
        await client.close()


async def users(server: ImServer, count: int) -> list[Account]:
    return list(await asyncio.gather(*(make_user(server.base_url) for _ in range(count))))


async def take(stream: AsyncIterator[Message], count: int, timeout: float = WAIT
               ) -> list[Message]:
    """The next `count` messages of an iterator, failing after `timeout` seconds."""
    out: list[Message] = []

    async def run() -> None:
        while len(out) < count:
            out.append(await anext(stream))

    try:
        await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        raise AssertionError(f"got {len(out)} of {count} messages in {timeout}s") from None
    return out


async def nothing_more(stream: AsyncIterator[Message], within: float = 0.5) -> None:
    """Assert that the iterator yields nothing for `within` seconds."""
    try:
        extra = await asyncio.wait_for(anext(stream), within)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected message {extra}")


async def until(predicate, timeout: float = WAIT, what: str = "condition") -> None:
    """Poll `predicate` (a cheap check of client state) until true."""
    async def run() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        raise AssertionError(f"{what} not reached in {timeout}s") from None
