"""GET /api/presence/ answers only for users who share a channel with the caller
(protocol 1.1): themself, the peer of a private channel that exists, a fellow member
of one of their groups. Anyone else is left out, online or not."""

from __future__ import annotations

import pytest

from tests.support.clients import ahttp, connect, make_user


async def presence(server, account, *ids) -> dict:
    status, body = await ahttp(server.base_url, "GET",
                               "/api/presence/?users=" + ",".join(map(str, ids)),
                               token=account.token)
    assert status == 200, body
    return body


async def test_only_people_sharing_a_channel_are_answered(server):
    alice, bob, carol, dave, erin = [await make_user(server.base_url, p)
                                     for p in ("alice", "bob", "carol", "dave", "erin")]
    # bob: a private channel with a message; carol: a group with alice; dave: nothing.
    sender = await connect(server, "ws")
    await sender.auth(alice.token)
    await sender.send_text(text="hi", to=bob.id)
    assert (await sender.acks(1))[0]["channel"]
    status, _ = await ahttp(server.base_url, "POST", "/api/groups/",
                            {"name": "pair", "members": [carol.id]}, token=alice.token)
    assert status == 201
    # erin and dave are in a group of their own; dave is online.
    status, _ = await ahttp(server.base_url, "POST", "/api/groups/",
                            {"name": "other", "members": [erin.id]}, token=dave.token)
    assert status == 201
    online = await connect(server, "tcp")
    await online.auth(dave.token)

    answer = await presence(server, alice, alice.id, bob.id, carol.id, dave.id, erin.id,
                            10**12)

    assert set(answer) == {str(alice.id), str(bob.id), str(carol.id)}
    assert answer[str(alice.id)]["online"] is True
    assert answer[str(bob.id)] == {"online": False, "last_seen": None}
    assert set(await presence(server, dave, alice.id, erin.id, dave.id)) == {
        str(erin.id), str(dave.id)}
    assert set(await presence(server, bob, alice.id, carol.id)) == {str(alice.id)}
    await sender.close()
    await online.close()


async def test_a_stranger_learns_nothing(server):
    alice, mallory = await make_user(server.base_url), await make_user(server.base_url)
    client = await connect(server, "ws")
    await client.auth(alice.token)

    assert await presence(server, mallory, alice.id) == {}
    await client.close()


async def test_leaving_the_group_hides_presence_again(server):
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    status, group = await ahttp(server.base_url, "POST", "/api/groups/",
                                {"name": "brief", "members": [bob.id]}, token=alice.token)
    assert status == 201
    assert set(await presence(server, bob, alice.id)) == {str(alice.id)}

    status, _ = await ahttp(server.base_url, "POST", f"/api/groups/{group['id']}/leave/",
                            token=bob.token)

    assert status == 204
    assert await presence(server, bob, alice.id) == {}


@pytest.mark.django_db
def test_two_hundred_ids_cost_one_query(django_assert_max_num_queries):
    from messaging.models import ChannelState
    from messaging.selectors.presence import users_sharing_a_channel
    from messaging.services.groups import group_create
    from tests.accounts.factories import make_user as make_db_user

    me, fellow, peer, stranger = (make_db_user() for _ in range(4))
    group_create(owner=me, name="g", public=False, member_ids=[fellow.pk])
    a, b = sorted((me.pk, peer.pk))
    ChannelState.objects.create(channel=f"p:{a}:{b}", user_a=a, user_b=b)
    top = max(u.pk for u in (me, fellow, peer, stranger))
    candidates = [me.pk, fellow.pk, peer.pk, stranger.pk, *range(top + 1, top + 197)]

    with django_assert_max_num_queries(1):
        visible = users_sharing_a_channel(user_id=peer.pk, candidate_ids=candidates)
    assert visible == {peer.pk, me.pk}
    with django_assert_max_num_queries(1):
        visible = users_sharing_a_channel(user_id=me.pk, candidate_ids=candidates)
    assert visible == {me.pk, fellow.pk, peer.pk}
