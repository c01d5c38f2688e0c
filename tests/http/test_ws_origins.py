"""IM_WS_ORIGINS: browsers of other origins are kept off /ws/; native clients (no
Origin) and the server's own pages are not (docs/protocol.md, Transports)."""

from __future__ import annotations

import pytest
import websockets

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def guarded(deployment_factory_module):
    dep = deployment_factory_module(IM_WS_ORIGINS="https://chat.example.org")
    return dep.start_server()


async def _opens(server, origin: str | None) -> bool:
    try:
        async with websockets.connect(server.ws_url, origin=origin, open_timeout=10) as ws:
            await ws.send('{"type":"heartbeat"}')
            return (await ws.recv()) is not None
    except websockets.InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False


async def test_only_listed_origins_native_clients_and_the_server_itself_get_in(guarded):
    assert await _opens(guarded, "https://chat.example.org")
    assert not await _opens(guarded, "https://evil.example.net")
    assert not await _opens(guarded, "null")
    assert await _opens(guarded, None)  # a native client sends no Origin
    assert await _opens(guarded, f"http://{guarded.http_address}")  # the web client at /


async def test_without_the_setting_any_origin_gets_in(server):
    assert await _opens(server, "https://evil.example.net")
