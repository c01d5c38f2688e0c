"""The SQL message store in-process: seq allocation, idempotency, ranges."""

from __future__ import annotations

import pytest

from improto.channels import g_channel, p_channel
from messaging.services.groups import group_create
from messaging.store import NewMessage, get_store
from tests.accounts.factories import make_user

pytestmark = [pytest.mark.embedded, pytest.mark.django_db(transaction=True)]


def message(channel: str, sender: int, client_id: str, **extra) -> NewMessage:
    return NewMessage(channel=channel, sender_id=sender, client_id=client_id, type="text",
                      body={"text": client_id}, **extra)


def test_each_channel_counts_its_own_seqs_and_a_batch_keeps_its_order():
    alice, bob = make_user(), make_user()
    group = group_create(owner=alice, name="g", member_ids=[bob.id])
    p, g = p_channel(alice.id, bob.id), g_channel(group.id)
    batch = [
        message(p, alice.id, "a1", recipient_id=bob.id),
        message(g, alice.id, "g1", group_id=group.id),
        message(p, bob.id, "b1", recipient_id=alice.id),
        message(g, bob.id, "g2", group_id=group.id),
        message(p, alice.id, "a2", recipient_id=bob.id),
    ]
    results = get_store().append(batch, now_ms=5000)
    assert [(r.message.channel, r.message.seq) for r in results] == [
        (p, 1), (g, 1), (p, 2), (g, 2), (p, 3)]
    assert not any(r.dup for r in results)
    assert get_store().last_seqs([p, g, "p:1:999999"]) == {p: 3, g: 2, "p:1:999999": 0}


def test_a_client_id_is_stored_once_per_sender_and_channel_even_within_a_batch():
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    store = get_store()
    (first,) = store.append([message(p, alice.id, "x", recipient_id=bob.id)], now_ms=1)
    again = store.append([
        message(p, alice.id, "x", recipient_id=bob.id),   # already stored
        message(p, bob.id, "x", recipient_id=alice.id),   # same id, other sender: new
        message(p, bob.id, "x", recipient_id=alice.id),   # earlier in this batch
    ], now_ms=2)
    assert (again[0].dup, again[0].message.seq) == (True, first.message.seq)
    assert (again[1].dup, again[1].message.seq) == (False, 2)
    assert (again[2].dup, again[2].message.seq) == (True, 2)
    assert store.last_seqs([p]) == {p: 2}


def test_ranges_are_ascending_and_before_gives_the_newest_below_it():
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    store = get_store()
    store.append([message(p, alice.id, f"m{i}", recipient_id=bob.id) for i in range(10)],
                 now_ms=10)
    assert [m.seq for m in store.range(p, after=3, limit=4)] == [4, 5, 6, 7]
    assert [m.seq for m in store.range(p, before=6, limit=3)] == [3, 4, 5]
    assert [m.seq for m in store.range(p, after=10)] == []
    frame = store.range(p, after=0, limit=1)[0].to_frame()
    assert (frame["from"], frame["to"], frame["id"]) == (alice.id, bob.id, "m0")
    assert dict(store.channels_of_user(bob.id)) == {p: 10}


def test_what_append_returns_is_what_is_stored_and_a_retry_gets_it_back_unchanged():
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    store = get_store()
    body = {"text": "caf\u00e9 \U0001f600 'quoted' \"double\" back\\slash 100% %s %(x)s",
            "nested": {"list": [1, 2.5, None, True], "empty": {}}}
    first = store.append([
        NewMessage(channel=p, sender_id=alice.id, client_id="u1", type="text", body=body,
                   recipient_id=bob.id),
        message(p, bob.id, "u2", recipient_id=alice.id),
    ], now_ms=9000)
    # The clock steps back: ts still never decreases along seq.
    retried = store.append([
        message(p, alice.id, "u3", recipient_id=bob.id),
        NewMessage(channel=p, sender_id=alice.id, client_id="u1", type="text",
                   body={"text": "not what was stored"}, recipient_id=bob.id),
    ], now_ms=1000)
    assert retried[1].dup and retried[1].message == first[0].message
    assert retried[0].message.ts == 9000 and retried[0].message.seq == 3
    assert store.range(p, after=0, limit=10) == [
        first[0].message, first[1].message, retried[0].message]
    assert store.range(p, after=0, limit=1)[0].body == body
