"""What operators use: GET /api/cluster/, imcluster status, the admin page, the gateway
while no node is active."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.support.admin import AdminSession, django_shell
from tests.support.clients import ahttp, connect, make_user
from tests.support.servers import PYTHON, ROOT

pytestmark = [pytest.mark.server, pytest.mark.timeout(120)]


def gateway_with_headers(server, token: str) -> tuple[int, bytes, str | None]:
    request = urllib.request.Request(server.base_url + "/api/gateway/",
                                     headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Retry-After")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Retry-After")


async def test_cluster_status_is_for_staff_and_lists_every_node(make_deployment):
    dep = make_deployment(redis=True, IM_NODE_HEARTBEAT_S=1, IM_NODE_TTL_S=3)
    a, b = dep.start_server(), dep.start_server()
    alice = await make_user(a.base_url)
    status, _ = await ahttp(a.base_url, "GET", "/api/cluster/", token=alice.token)
    assert status == 403
    django_shell(a, f"from accounts.models import User; "
                    f"User.objects.filter(pk={alice.id}).update(is_staff=True)")
    status, body = await ahttp(b.base_url, "GET", "/api/cluster/", token=alice.token)
    assert status == 200
    assert body["vnodes"] == 160 and body["ring"] == dep.wait_for_ring()
    by_tcp = {n["tcp"]: n for n in body["nodes"]}
    assert set(by_tcp) == {a.tcp_address, b.tcp_address}
    for server in (a, b):
        node = by_tcp[server.tcp_address]
        assert (node["ws"], node["state"]) == (server.ws_url, "active")
        assert isinstance(node["connections"], int) and node["since"] > 0

    printed = await asyncio.to_thread(
        subprocess.run, [PYTHON, "manage.py", "imcluster", "status"], cwd=ROOT, env=dep.env,
        capture_output=True, text=True, timeout=60, check=True)
    assert {n["node"] for n in json.loads(printed.stdout)["nodes"]} == {
        n["node"] for n in body["nodes"]}
    refused = await asyncio.to_thread(
        subprocess.run, [PYTHON, "manage.py", "imcluster", "drain", "nowhere:1"], cwd=ROOT,
        env=dep.env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "nowhere:1" in refused.stderr

    admin = AdminSession.create(a)
    page = admin.opener.open(a.base_url + "/admin/realtime/clusterring/1/change/",
                             timeout=10).read().decode()
    assert a.tcp_address in page and b.tcp_address in page


async def test_the_last_node_drains_with_nowhere_to_send_and_the_gateway_says_503(
        make_deployment):
    dep = make_deployment(IM_DRAIN_S=3)
    server = dep.start_server()
    alice = await make_user(server.base_url)
    status, answer = await ahttp(server.base_url, "GET", "/api/gateway/", token=alice.token)
    assert status == 200 and answer["tcp"] == server.tcp_address and answer["ring"] >= 1
    client = await connect(server, "tcp")
    await client.auth(alice.token)
    server.proc.send_signal(signal.SIGTERM)
    frame = await client.expect("offline")
    assert frame == {"type": "offline", "reason": "shutdown", "reconnect": None}
    # The client keeps its end open: the node waits for it (up to IM_DRAIN_S), out of
    # the ring, and the gateway names no node meanwhile.
    status, body, retry_after = await asyncio.to_thread(gateway_with_headers, server,
                                                        alice.token)
    assert status == 503 and "detail" in json.loads(body)
    assert retry_after is not None and int(retry_after) >= 1
    status, ready = await ahttp(server.base_url, "GET", "/api/ready/")
    assert status == 503 and ready["checks"]["node"] is False
    assert await asyncio.to_thread(server.proc.wait, 30) == 0
