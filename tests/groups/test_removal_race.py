"""A member removed from a group stays out from the removal's commit on, with them
sending to the group flat out from two nodes at that moment: on each connection every
message is stored up to a point and refused after it, every message sent after the
removal's answer is refused, and what was stored is exactly what was acked."""

from __future__ import annotations

import pytest

from tests.support.clients import ahttp, make_user
from tests.support.storms import storm_across_a_change


@pytest.mark.parametrize("redis", [True], ids=["redis"])
async def test_a_removal_during_a_send_storm_cuts_each_connection_at_one_point(
    make_deployment, redis
):
    dep = make_deployment(redis=redis, IM_RATE_MSGS_PER_S=100000, IM_RATE_BURST=100000,
                          IM_RATE_USER_MSGS_PER_S=100000, IM_RATE_USER_BURST=100000,
                          IM_RATE_FRAMES_PER_S=100000, IM_RATE_FRAMES_BURST=100000)
    a, b = dep.start_server(), dep.start_server()
    alice, bob = await make_user(a.base_url), await make_user(b.base_url)
    status, group = await ahttp(b.base_url, "POST", "/api/groups/",
                                {"name": "storm", "members": [alice.id]}, token=bob.token)
    assert status == 201, group

    async def send(client, frame_id: str) -> None:
        await client.send_text(group=group["id"], text="x", client_id=frame_id)

    async def remove() -> None:
        status, _ = await ahttp(b.base_url, "DELETE",
                                f"/api/groups/{group['id']}/members/{alice.id}/",
                                token=bob.token)
        assert status == 204

    acked = await storm_across_a_change((a, b), alice.token, send, remove,
                                        refusal=f"not a member of g:{group['id']}")
    status, channels = await ahttp(a.base_url, "GET", "/api/channels/", token=bob.token)
    assert [(c["channel"], c["last_seq"]) for c in channels] == [(f"g:{group['id']}", acked)]
