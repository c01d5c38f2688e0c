"""A removal is obeyed from its commit on by servers whose cache holds the group's
members (docs/architecture.md, "Group members, cached by version"): the removed
member's next send is refused, the group's next message does not reach them, their
typing is refused, and once added again they send and receive again; on one server,
and on two nodes with the removal made through one and the sends through the other.
The node's metrics show the cache answered before the removal and was read past
after it."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import ahttp, connect, make_user

pytestmark = [pytest.mark.embedded, pytest.mark.mongo]


async def _nothing_more(client) -> None:
    await client.send({"type": "heartbeat"})
    assert (await client.recv())["type"] == "heartbeat"


def _scrape(server) -> dict[str, float]:
    with urllib.request.urlopen(server.base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {sample.labels["outcome"]: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "im_members_cache_lookups" for sample in family.samples
            if sample.name.endswith("_total")}


async def _lookups(server) -> tuple[float, float]:
    """(hits, misses) of the node's cache of group members so far."""
    counted = await asyncio.to_thread(_scrape, server)
    return counted["hit"], counted["miss"]


async def _remove_and_add_back(rest, owner_node, member_node) -> None:
    """The owner and a bystander on `owner_node`, the member on `member_node`, the
    group's membership changed through `rest`'s REST API."""
    owner, member, bystander = [await make_user(rest.base_url) for _ in range(3)]
    status, group = await ahttp(rest.base_url, "POST", "/api/groups/",
                                {"name": "cached", "members": [member.id, bystander.id]},
                                token=owner.token)
    assert status == 201, group
    gid, channel = group["id"], group["channel"]
    o, b = await connect(owner_node, "tcp"), await connect(owner_node, "ws")
    m = await connect(member_node, "ws")
    await o.auth(owner.token)
    await b.auth(bystander.token)
    await m.auth(member.token)

    # Both nodes' caches now hold the group: the member's send (its node's write
    # path), the owner's (the other's), the owner's typing (the read path).
    await m.send_text(group=gid, text="m1", client_id="m1")
    assert (await m.expect("ack"))["seq"] == 1
    assert (await o.expect("text"))["body"] == {"text": "m1"}
    assert (await b.expect("text"))["body"] == {"text": "m1"}
    await o.send_text(group=gid, text="o1", client_id="o1")
    assert (await o.expect("ack"))["seq"] == 2
    assert (await m.expect("text"))["body"] == {"text": "o1"}
    assert (await b.expect("text"))["body"] == {"text": "o1"}
    await o.send({"type": "typing", "channel": channel})
    assert (await m.expect("typing"))["user"] == owner.id
    assert (await b.expect("typing"))["user"] == owner.id
    # The member's next send is answered from its node's cache: one hit, no read.
    before = await _lookups(member_node)
    await m.send_text(group=gid, text="m1b", client_id="m1b")
    assert (await m.expect("ack"))["seq"] == 3
    assert (await o.expect("text"))["body"] == {"text": "m1b"}
    assert (await b.expect("text"))["body"] == {"text": "m1b"}
    hits, misses = await _lookups(member_node)
    assert (hits - before[0], misses - before[1]) == (1, 0)

    status, _ = await ahttp(rest.base_url, "DELETE", f"/api/groups/{gid}/members/{member.id}/",
                            token=owner.token)
    assert status == 204

    before = await _lookups(member_node)
    await m.send_text(group=gid, text="m2", client_id="m2")
    error = await m.expect("error")
    assert (error["id"], error["code"], error["message"]) == (
        "m2", "forbidden", f"not a member of {channel}")
    hits, misses = await _lookups(member_node)
    assert (hits - before[0], misses - before[1]) == (0, 1)  # the version moved: read again
    await m.send({"type": "typing", "id": "t1", "channel": channel})
    error = await m.expect("error")
    assert (error["id"], error["code"]) == ("t1", "forbidden")
    await o.send_text(group=gid, text="o2", client_id="o2")
    assert (await o.expect("ack"))["seq"] == 4
    assert (await b.expect("text"))["body"] == {"text": "o2"}
    await _nothing_more(m)  # a push of o2 to the member would have come first

    status, body = await ahttp(rest.base_url, "POST", f"/api/groups/{gid}/members/",
                               {"user_ids": [member.id]}, token=owner.token)
    assert (status, body["added"]) == (200, [member.id])

    await m.send_text(group=gid, text="m3", client_id="m3")
    assert (await m.expect("ack"))["seq"] == 5
    assert (await o.expect("text"))["body"] == {"text": "m3"}
    await o.send_text(group=gid, text="o3", client_id="o3")
    assert (await o.expect("ack"))["seq"] == 6
    assert (await m.expect("text"))["body"] == {"text": "o3"}
    status, page = await ahttp(rest.base_url, "GET", f"/api/channels/{channel}/messages/",
                               token=owner.token)
    assert [m["body"]["text"] for m in page["messages"]] == ["m1", "o1", "m1b", "o2", "m3", "o3"]
    for client in (o, b, m):
        await client.close()


async def test_a_removed_member_is_cut_off_by_a_server_with_a_warm_cache(server):
    await _remove_and_add_back(server, server, server)


async def test_a_removal_through_one_node_cuts_the_member_off_on_the_other(cluster):
    a, b = cluster.servers
    await _remove_and_add_back(a, a, b)
