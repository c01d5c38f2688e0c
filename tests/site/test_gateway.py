"""GET /api/gateway/ names addresses from configuration, never from the request."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket

import pytest

from tests.site.processes import OperatorServer, manage
from tests.support.clients import connect, make_user

pytestmark = pytest.mark.server


def _gateway(server, token: str, host_header: str | None = None) -> tuple[int, dict]:
    host, port = server.http_address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Authorization": f"Token {token}"}
    if host_header is not None:
        headers["Host"] = host_header
    conn.request("GET", "/api/gateway/", headers=headers)
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    return response.status, body


async def gateway(server, token: str, host_header: str | None = None) -> tuple[int, dict]:
    return await asyncio.to_thread(_gateway, server, token, host_header)


async def test_the_host_header_does_not_choose_the_address(make_deployment):
    dep = make_deployment()
    server = dep.start_server()
    alice = await make_user(server.base_url)
    status, plain = await gateway(server, alice.token)
    assert status == 200
    assert plain["ws"] == f"ws://{server.http_address}/ws/"
    assert plain["tcp"] == server.tcp_address
    assert set(plain) >= {"node", "ws", "tcp"}

    status, spoofed = await gateway(server, alice.token, host_header="evil.example:8000")
    assert status == 200
    assert spoofed == plain
    assert "evil" not in json.dumps(spoofed)

    # The answer is one clients can use: both addresses reach this node.
    for transport in ("tcp", "ws"):
        client = await connect(server, transport)
        assert (await client.auth(alice.token))["type"] == "auth_ok"
        await client.close()


async def test_public_host_names_both_ports(make_deployment):
    dep = make_deployment(IM_PUBLIC_HOST="chat.example.org")
    server = dep.start_server()
    alice = await make_user(server.base_url)
    _, answer = await gateway(server, alice.token, host_header="evil.example")
    http_port, tcp_port = server.http_address.rsplit(":")[1], server.tcp_port
    assert answer["ws"] == f"ws://chat.example.org:{http_port}/ws/"
    assert answer["tcp"] == f"chat.example.org:{tcp_port}"


async def test_whole_public_addresses_for_a_proxy_in_front(make_deployment):
    dep = make_deployment(IM_PUBLIC_HOST="ignored.example",
                          IM_PUBLIC_WS_URL="wss://chat.example.org/ws/",
                          IM_PUBLIC_TCP="tcp.example.org:443")
    server = dep.start_server()
    alice = await make_user(server.base_url)
    _, answer = await gateway(server, alice.token, host_header="evil.example")
    assert (answer["ws"], answer["tcp"]) == ("wss://chat.example.org/ws/", "tcp.example.org:443")


async def test_a_wildcard_bind_names_the_host_name_and_warns(make_deployment):
    dep = make_deployment()
    server = OperatorServer.launch(dep.env, host="0.0.0.0")
    dep.servers.append(server)
    alice = await make_user(server.base_url)
    _, answer = await gateway(server, alice.token, host_header="evil.example")
    name = socket.gethostname()
    assert answer["ws"] == f"ws://{name}:{server.http_address.rsplit(':')[1]}/ws/"
    assert answer["tcp"] == f"{name}:{server.tcp_port}"
    warning = [line for line in server.stderr().splitlines() if "IM_PUBLIC_HOST" in line]
    assert len(warning) == 1 and repr(name) in warning[0]

    # Nothing to warn of once the public name is configured.
    named = OperatorServer.launch(dep.env | {"IM_PUBLIC_HOST": "chat.example.org"},
                                  host="0.0.0.0")
    dep.servers.append(named)
    assert "IM_PUBLIC_HOST" not in named.stderr()


@pytest.mark.parametrize(("name", "value"), [
    ("IM_PUBLIC_WS_URL", "http://chat.example.org/ws/"),
    ("IM_PUBLIC_WS_URL", "wss://chat.example.org:99999/ws/"),
    ("IM_PUBLIC_TCP", "chat.example.org"),
    ("IM_PUBLIC_TCP", "tcp://chat.example.org:9000"),
    ("IM_PUBLIC_HOST", "chat.example.org:8000"),
    ("IM_PUBLIC_HOST", "https://chat.example.org"),
])
def test_a_bad_public_address_stops_start_up(tmp_path, name, value):
    result = manage({"IM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", name: value},
                    "check", timeout=60)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert name in last and repr(value) in last
