"""Notifications delivered by the server itself (no broker), against a fake webhook."""

from __future__ import annotations

import asyncio

import pytest

from tests.notifications.fake_push import wait_outbox
from tests.notifications.helpers import register, signed
from tests.support.admin import AdminSession
from tests.support.clients import ahttp, connect, make_user

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def embedded(deployment_factory_module):
    dep = deployment_factory_module(
        IM_PUSH_ALLOW_PRIVATE=1, IM_PUSH_RETRY_BASE_S=1, IM_PUSH_RETRY_MAX_S=1,
        IM_PUSH_REDELIVER_S=1, IM_PUSH_TIMEOUT_S=2, IM_PUSH_MAX_ATTEMPTS=3,
        IM_PUSH_BREAKER_FAILS=50,
    )
    return dep.start_server()


async def _send(server, sender, to, texts):
    client = await connect(server, "ws")
    await client.auth(sender.token, device="laptop")
    for text in texts:
        await client.send_text(text=text, to=to.id)
    acks = await client.acks(len(texts))
    await client.close()
    return acks


async def test_offline_device_is_told_once_per_message_signed(embedded, push):
    alice, bob = await make_user(embedded.base_url), await make_user(embedded.base_url)
    await register(embedded, bob, push.url(), device="phone")
    acks = await _send(embedded, alice, bob, ["hello bob", "x" * 150])
    got = push.wait_for(lambda r: len(r) >= 2)
    first, second = sorted((r.json for r in got), key=lambda p: p["seq"])
    assert first == {**first, "user": bob.id, "device": "phone", "from": alice.id,
                     "type": "text", "seq": acks[0]["seq"], "preview": "hello bob"}
    assert first["channel"] == acks[0]["channel"] and first["ts"] == acks[0]["ts"]
    assert len(second["preview"]) == 100 and second["preview"].endswith("…")
    assert all(signed(r) for r in got)
    assert all(r.headers["idempotency-key"] == r.json["id"] for r in got)
    rows = wait_outbox(embedded.env, lambda rows: sum(r["state"] == "sent" for r in rows
                                                      if r["channel"] == first["channel"]) == 2)
    assert len([r for r in rows if r["channel"] == first["channel"]]) == 2
    assert len(push.received) == 2


async def test_a_connected_device_is_not_told_but_another_one_is(embedded, push):
    alice, bob = await make_user(embedded.base_url), await make_user(embedded.base_url)
    await register(embedded, bob, push.url("/online"), device="phone")
    await register(embedded, bob, push.url("/offline"), device="tablet")
    phone = await connect(embedded, "ws")
    await phone.auth(bob.token, device="phone")
    await _send(embedded, alice, bob, ["one"])
    await phone.expect("text")
    got = push.wait_for(lambda r: len(r) >= 1)
    await _send(embedded, alice, bob, ["two"])  # the second proves the first settled
    got = push.wait_for(lambda r: len(r) >= 2)
    assert [r.path for r in got] == ["/offline", "/offline"]
    await phone.close()


async def test_a_muted_channel_tells_nobody(embedded, push):
    alice, bob = await make_user(embedded.base_url), await make_user(embedded.base_url)
    await register(embedded, bob, push.url(), device="phone")
    channel = f"p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
    status, body = await ahttp(embedded.base_url, "PATCH", f"/api/channels/{channel}/settings/",
                               {"muted": True}, token=bob.token)
    assert (status, body) == (200, {"channel": channel, "muted": True})
    carol = await make_user(embedded.base_url)
    await _send(embedded, alice, bob, ["muted"])
    await _send(embedded, carol, bob, ["not muted"])  # another channel: told
    got = push.wait_for(lambda r: len(r) >= 1)
    assert [r.json["from"] for r in got] == [carol.id]
    await _send(embedded, carol, bob, ["again"])
    got = push.wait_for(lambda r: len(r) >= 2)
    assert {r.json["from"] for r in got} == {carol.id}


async def test_server_errors_are_retried_and_delivered_once(embedded, push):
    calls = []

    def answer(request):
        calls.append(request)
        return (500, {}, 0) if len(calls) <= 2 else (200, {}, 0)

    push.answer = answer
    alice, bob = await make_user(embedded.base_url), await make_user(embedded.base_url)
    await register(embedded, bob, push.url(), device="phone")
    await _send(embedded, alice, bob, ["retry me"])
    rows = wait_outbox(embedded.env, lambda rows: any(
        r["state"] == "sent" and r["device"] == "phone" and str(bob.id) in r["channel"]
        for r in rows))
    row = next(r for r in rows if str(bob.id) in r["channel"].split(":")[1:])
    assert row["attempts"] == 3
    assert len(set(push.keys())) == 1 and len(push.keys()) == 3


async def test_gone_disables_the_device_and_bad_request_does_not(embedded, push):
    push.answer = lambda r: (410, {}, 0) if r.path == "/gone" else (400, {}, 0)
    alice, bob = await make_user(embedded.base_url), await make_user(embedded.base_url)
    await register(embedded, bob, push.url("/gone"), device="phone")
    await register(embedded, bob, push.url("/bad"), device="tablet")
    await _send(embedded, alice, bob, ["one"])
    push.wait_for(lambda r: len(r) >= 2)
    mine = f"p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
    rows = wait_outbox(embedded.env, lambda rows: {
        (r["device"], r["state"]) for r in rows if r["channel"] == mine
    } == {("phone", "disabled"), ("tablet", "failed")})
    status, devices = await ahttp(embedded.base_url, "GET", "/api/devices/", token=bob.token)
    assert {d["device"]: d["enabled"] for d in devices} == {"phone": False, "tablet": True}
    await _send(embedded, alice, bob, ["two"])
    push.wait_for(lambda r: len(r) >= 3)
    await _send(embedded, alice, bob, ["three"])
    got = push.wait_for(lambda r: len(r) >= 4)
    assert [r.path for r in got].count("/gone") == 1
    assert len([r for r in rows if r["channel"] == mine]) == 2


async def test_a_hung_target_times_out_and_is_retried_with_the_same_key(embedded, push):
    push.answer = lambda r: (200, {}, 10) if len(push.received) == 1 else (200, {}, 0)
    alice, bob = await make_user(embedded.base_url), await make_user(embedded.base_url)
    await register(embedded, bob, push.url())
    await _send(embedded, alice, bob, ["slow"])
    got = push.wait_for(lambda r: len(r) >= 2)
    assert got[0].headers["idempotency-key"] == got[1].headers["idempotency-key"]
    # IM_PUSH_TIMEOUT_S=2, then a retry about IM_PUSH_RETRY_BASE_S later
    assert got[1].at - got[0].at >= 2.0
    rows = wait_outbox(embedded.env, lambda rows: any(
        r["key"] == got[0].json["id"] and r["state"] == "sent" for r in rows))
    assert next(r for r in rows if r["key"] == got[0].json["id"])["attempts"] == 2


async def test_retry_after_is_honoured(embedded, push):
    push.answer = lambda r: ((429, {"Retry-After": "3"}, 0) if len(push.received) == 1
                             else (200, {}, 0))
    alice, bob = await make_user(embedded.base_url), await make_user(embedded.base_url)
    await register(embedded, bob, push.url())
    await _send(embedded, alice, bob, ["later"])
    got = push.wait_for(lambda r: len(r) >= 2)
    # The backoff alone would retry after about 1 s (IM_PUSH_RETRY_MAX_S=1).
    assert got[1].at - got[0].at >= 2.9


async def test_dead_after_max_attempts_and_sent_again_from_the_admin(embedded, push):
    failing = [True]
    push.answer = lambda r: (503, {}, 0) if failing[0] else (200, {}, 0)
    alice, bob = await make_user(embedded.base_url), await make_user(embedded.base_url)
    await register(embedded, bob, push.url())
    await _send(embedded, alice, bob, ["doomed"])
    push.wait_for(lambda r: len(r) >= 3)
    key = push.received[0].json["id"]
    rows = wait_outbox(embedded.env, lambda rows: any(
        r["key"] == key and r["state"] == "dead" for r in rows))
    row = next(r for r in rows if r["key"] == key)
    assert row["attempts"] == 3 and len(push.received) == 3  # IM_PUSH_MAX_ATTEMPTS
    failing[0] = False
    admin = await asyncio.to_thread(AdminSession.create, embedded)
    status = await asyncio.to_thread(admin.post, "/admin/notifications/notification/",
                                     {"action": "resend", "_selected_action": str(row["id"])})
    assert status == 200
    got = push.wait_for(lambda r: len(r) >= 4)
    assert got[3].status == 200 and got[3].json["id"] == key
    wait_outbox(embedded.env, lambda rows: any(
        r["key"] == key and r["state"] == "sent" for r in rows))


async def test_a_server_killed_mid_delivery_delivers_after_its_restart(
        deployment_factory_module, push):
    dep = deployment_factory_module(IM_PUSH_ALLOW_PRIVATE=1, IM_PUSH_REDELIVER_S=1,
                                    IM_PUSH_TIMEOUT_S=2)
    server = dep.start_server()
    push.answer = lambda r: (200, {}, 30) if len(push.received) == 1 else (200, {}, 0)
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    await register(server, bob, push.url())
    await _send(server, alice, bob, ["in flight"])
    push.wait_for(lambda r: len(r) >= 1)
    server.kill()
    assert [r["state"] for r in wait_outbox(dep.env, lambda rows: True)] == ["sending"]
    dep.start_server()  # no new message: its sweep finds the row once the lease ends
    got = push.wait_for(lambda r: len(r) >= 2)
    assert got[0].headers["idempotency-key"] == got[1].headers["idempotency-key"]
    rows = wait_outbox(dep.env, lambda rows: rows[0]["state"] == "sent")
    assert rows[0]["attempts"] == 2
