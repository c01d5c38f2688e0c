"""The SDK and a user with more channels than one channel-list reply holds: the wire's
list is cut at the sync size bound (`truncated`), and the SDK takes the whole list
from REST, so no channel is left behind."""

from __future__ import annotations

import pytest

from tests.imclient.conftest import take, users
from tests.support.clients import ahttp

pytestmark = [pytest.mark.server]


async def test_every_channel_is_caught_up_past_a_truncated_channel_list(make_deployment,
                                                                        clients):
    dep = make_deployment(IM_SYNC_MAX_BYTES=1024)
    server = dep.start_server()
    alice, bob = await users(server, 2)
    a = await clients(server, alice)
    for i in range(60):
        status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                    {"name": f"g{i}", "members": [bob.id]}, token=alice.token)
        assert status == 201
        await a.send_text(group=group["id"], text=f"to g{i}")
    b = await clients(server, bob, replay_history=True)
    got = await take(b.messages(), 60)
    assert sorted(m.text for m in got) == sorted(f"to g{i}" for i in range(60))
    assert b.stats["channel_list_partial"] == 0
