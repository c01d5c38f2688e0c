"""Accounts with several devices, and waiting for a connection to be told to go."""

from __future__ import annotations

import time

from tests.support.clients import Account, ahttp, connect

PASSWORD = "correct horse battery staple"


async def login(base_url: str, account: Account, device: str = "",
                password: str = PASSWORD) -> tuple[int, object]:
    body = {"username": account.username, "password": password}
    if device:
        body["device"] = device
    return await ahttp(base_url, "POST", "/api/auth/login/", body)


async def device_token(base_url: str, account: Account, device: str) -> str:
    status, body = await login(base_url, account, device)
    assert status == 200, body
    return body["token"]


async def online(server, token: str, device: str, transport: str = "tcp"):
    client = await connect(server, transport)
    await client.auth(token, device=device)
    return client


async def told_to_go(client, reason: str, within: float = 1.0) -> float:
    """Wait for `offline`/`reason` then the close; return the seconds it took for the
    `offline` frame to arrive (it must be within `within`)."""
    started = time.monotonic()
    frame = await client.expect("offline", timeout=within + 5)
    took = time.monotonic() - started
    assert frame == {"type": "offline", "reason": reason, "reconnect": None}, frame
    await client.closed(timeout=5)
    assert took <= within, f"told after {took:.2f} s"
    return took
