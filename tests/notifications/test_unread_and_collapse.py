"""What a notification says beyond its message: the unread count, and several messages
of one channel told as one (IM_PUSH_COLLAPSE_S); and a server killed between the
messages' commit and its outbox write (the intent it replays on restart)."""

from __future__ import annotations

import pytest

from tests.notifications.fake_push import outbox_intents, wait_outbox
from tests.notifications.helpers import register
from tests.support.clients import ahttp, connect, make_user

# Also run with the MongoDB store (`make test-mongo`): unread reads its last seqs, a
# replay reads the messages back from it.
pytestmark = [pytest.mark.timeout(120), pytest.mark.mongo]

BASE = {"IM_PUSH_ALLOW_PRIVATE": 1, "IM_PUSH_REDELIVER_S": 1, "IM_PUSH_TIMEOUT_S": 2,
        "IM_PUSH_RETRY_BASE_S": 1, "IM_PUSH_RETRY_MAX_S": 1}


@pytest.fixture(scope="module")
def plain(deployment_factory_module):
    return deployment_factory_module(**BASE).start_server()


@pytest.fixture(scope="module")
def collapsing(deployment_factory_module):
    return deployment_factory_module(**BASE, IM_PUSH_COLLAPSE_S=1).start_server()


def private(a, b) -> str:
    return f"p:{min(a.id, b.id)}:{max(a.id, b.id)}"


async def _send(server, sender, to, texts):
    client = await connect(server, "ws")
    await client.auth(sender.token, device="laptop")
    for text in texts:
        await client.send_text(text=text, to=to.id)
    acks = await client.acks(len(texts))
    await client.close()
    return acks


def _sent(env, channel: str, count: int) -> list[dict]:
    return wait_outbox(env, lambda rows: sum(
        r["state"] == "sent" for r in rows if r["channel"] == channel) == count)


async def test_unread_counts_every_unmuted_channel_and_follows_the_read_position(plain, push):
    alice, bob, carol = [await make_user(plain.base_url) for _ in range(3)]
    await register(plain, bob, push.url(), device="phone")
    status, _ = await ahttp(plain.base_url, "PATCH",
                            f"/api/channels/{private(bob, carol)}/settings/",
                            {"muted": True}, token=bob.token)
    assert status == 200
    await _send(plain, carol, bob, ["in a muted channel"])
    acks = await _send(plain, alice, bob, ["one", "two"])
    got = push.wait_for(lambda r: len(r) >= 2)
    by_seq = {r.json["seq"]: r.json for r in got}
    # Told when both are stored: two unread; carol's muted channel does not count.
    assert by_seq[acks[1]["seq"]]["unread"] == 2
    assert by_seq[acks[0]["seq"]]["unread"] in (1, 2)
    assert all(r.json["collapse_key"] == private(alice, bob) for r in got)

    laptop = await connect(plain, "ws")
    await laptop.auth(bob.token, device="laptop")
    await laptop.send({"type": "read", "id": "r1", "channel": private(alice, bob),
                       "seq": acks[1]["seq"]})
    assert (await laptop.expect("ack"))["id"] == "r1"
    await laptop.close()
    await _send(plain, alice, bob, ["three"])
    got = push.wait_for(lambda r: len(r) >= 3)
    assert got[2].json["preview"] == "three" and got[2].json["unread"] == 1
    assert "collapsed" not in got[2].json  # collapsing is off by default
    _sent(plain.env, private(alice, bob), 3)
    assert len(push.received) == 3


async def test_messages_within_the_window_are_told_once_per_channel(collapsing, push):
    alice, bob, carol = [await make_user(collapsing.base_url) for _ in range(3)]
    await register(collapsing, bob, push.url(), device="phone")
    acks = await _send(collapsing, alice, bob, ["one", "two", "three"])
    carol_acks = await _send(collapsing, carol, bob, ["from carol"])
    got = push.wait_for(lambda r: len(r) >= 2)
    rows = _sent(collapsing.env, private(alice, bob), 3)
    _sent(collapsing.env, private(carol, bob), 1)
    assert len(push.received) == 2
    told = {r.json["channel"]: r for r in got}
    from_alice = told[private(alice, bob)]
    # The latest message, standing for all three, under its own row's key.
    assert from_alice.json["seq"] == acks[2]["seq"] and from_alice.json["preview"] == "three"
    # carol's message counts in bob's unread if it was stored before alice's was told.
    assert from_alice.json["collapsed"] == 3 and from_alice.json["unread"] in (3, 4)
    latest = next(r for r in rows if r["seq"] == acks[2]["seq"])
    assert from_alice.headers["idempotency-key"] == from_alice.json["id"] == latest["key"]
    from_carol = told[private(carol, bob)]
    assert from_carol.json["seq"] == carol_acks[0]["seq"] and "collapsed" not in from_carol.json

    # After the window, a new message is a notification of its own; nothing is re-sent.
    later = await _send(collapsing, alice, bob, ["four"])
    got = push.wait_for(lambda r: len(r) >= 3)
    assert got[2].json["seq"] == later[0]["seq"] and "collapsed" not in got[2].json
    _sent(collapsing.env, private(alice, bob), 4)
    assert len(push.received) == 3


async def test_a_collapsed_notification_that_fails_is_retried_whole(collapsing, push):
    alice, bob = await make_user(collapsing.base_url), await make_user(collapsing.base_url)
    await register(collapsing, bob, push.url("/flaky"), device="phone")
    push.answer = lambda r: (503, {}, 0) if r.path == "/flaky" and sum(
        x.path == "/flaky" for x in push.received) == 1 else (200, {}, 0)
    acks = await _send(collapsing, alice, bob, ["one", "two"])
    got = push.wait_for(lambda r: sum(x.path == "/flaky" for x in r) >= 2)
    first, retry = [r for r in got if r.path == "/flaky"][:2]
    assert first.status == 503 and retry.status == 200
    # The same notification again: the latest message, both counted, the same key.
    for told in (first, retry):
        assert told.json["seq"] == acks[1]["seq"] and told.json["collapsed"] == 2
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    _sent(collapsing.env, private(alice, bob), 2)
    assert sum(r.path == "/flaky" for r in push.received) == 2


async def test_a_server_killed_before_its_outbox_write_notifies_after_restart(
        deployment_factory_module, push):
    dep = deployment_factory_module(**BASE)
    server = dep.start_server(IM_TEST_PUSH_STALL_OUTBOX="1")
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    await register(server, bob, push.url(), device="phone")
    acks = await _send(server, alice, bob, ["acked, then the server died"])
    server.kill()
    # Stored and acked, but no outbox row: only the intent written with the message.
    assert wait_outbox(dep.env, lambda rows: True) == []
    assert outbox_intents(dep.env) == [[[acks[0]["channel"], acks[0]["seq"]]]]

    dep.start_server()  # its sweep replays the intent
    got = push.wait_for(lambda r: len(r) >= 1)
    assert got[0].json["seq"] == acks[0]["seq"]
    assert got[0].json["preview"] == "acked, then the server died"
    _sent(dep.env, acks[0]["channel"], 1)
    assert outbox_intents(dep.env) == []
    await _send(server := dep.servers[-1], alice, bob, ["after the restart"])
    push.wait_for(lambda r: len(r) >= 2)
    _sent(dep.env, acks[0]["channel"], 2)
    assert len(push.received) == 2 and server.proc.poll() is None
