"""The private-address rule at delivery holds for the address actually dialled."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notifications.fake_push import wait_outbox
from tests.notifications.helpers import SECRET, register
from tests.support.clients import ahttp, connect, make_user

pytestmark = pytest.mark.timeout(120)

REBINDING = Path(__file__).parent / "rebinding"
NAME = "hooks.rebinding.example"
PUBLIC = "8.8.4.4"  # any public address: the rebinding resolver refuses connections to it


@pytest.fixture
def rebinding_server(make_deployment):
    def start(public_lookups: int):
        dep = make_deployment(IM_PUSH_RETRY_BASE_S=1, IM_PUSH_RETRY_MAX_S=1,
                              IM_PUSH_REDELIVER_S=1, IM_PUSH_TIMEOUT_S=2,
                              IM_PUSH_MAX_ATTEMPTS=5, IM_PUSH_BREAKER_FAILS=50)
        return dep.start_server(
            PYTHONPATH=str(REBINDING), IM_TEST_REBIND_NAME=NAME, IM_TEST_REBIND_PUBLIC=PUBLIC,
            IM_TEST_REBIND_PUBLIC_LOOKUPS=str(public_lookups))
    return start


async def _send(server, sender, to, text):
    client = await connect(server, "ws")
    await client.auth(sender.token, device="laptop")
    await client.send_text(text=text, to=to.id)
    await client.acks(1)
    await client.close()


async def test_a_name_rebound_to_loopback_after_the_checks_is_never_dialled(
        rebinding_server, push):
    # Public to the registration's lookup and to the next one (a separate check at
    # delivery would pass), loopback from then on: a client that resolved the name
    # again to dial it would reach the fake provider on 127.0.0.1.
    server = rebinding_server(public_lookups=2)
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    await register(server, bob, f"http://{NAME}:{push.port}/hook")
    await _send(server, alice, bob, "to an internal service?")
    # The first delivery dials the public answer it vetted (refused: retried); the
    # retry's lookup answers loopback, refused before any connection: failed.
    rows = wait_outbox(server.env, lambda rows: rows and rows[0]["state"] == "failed")
    assert rows[0]["attempts"] == 2
    assert push.received == []


async def test_a_name_that_resolves_to_loopback_is_refused_at_delivery(
        rebinding_server, push):
    server = rebinding_server(public_lookups=1)  # only the registration sees it public
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    await register(server, bob, f"http://{NAME}:{push.port}/hook")
    await _send(server, alice, bob, "hello")
    rows = wait_outbox(server.env, lambda rows: rows and rows[0]["state"] == "failed")
    assert rows[0]["attempts"] == 1
    assert push.received == []


async def test_registration_refuses_loopback_hidden_in_an_ipv6_address(make_deployment):
    server = make_deployment().start_server()
    bob = await make_user(server.base_url)
    for host in ("127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]",
                 "[::127.0.0.1]", "[2002:7f00:1::1]", "[2002:a00:1::1]", "localhost"):
        status, body = await ahttp(server.base_url, "POST", "/api/devices/", {
            "device": "phone", "kind": "webhook", "target": f"http://{host}:9/hook",
            "secret": SECRET}, token=bob.token)
        assert status == 400 and "target" in body, (host, status, body)
