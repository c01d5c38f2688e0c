"""Session in-process: the protocol logic of one connection, under a fake host and a
fake transport, against the test database (tokens, channel lists)."""

from __future__ import annotations

import asyncio

import pytest

from improto.channels import p_channel
from improto.errors import BAD_TOKEN, INVALID, RATE_LIMITED, UNAUTHENTICATED
from messaging.services.message_send import SendOutcome, SendRefused
from messaging.store import AppendResult, StoredMessage
from realtime.db import run_write
from realtime.session import Session
from tests.accounts.factories import make_user, token_for
from tests.realtime.fakes import FakeAdapter, FakeHost

pytestmark = [pytest.mark.embedded, pytest.mark.django_db(transaction=True)]


@pytest.fixture
async def alice_and_bob():
    alice = await run_write(make_user)
    bob = await run_write(make_user)
    token = await run_write(token_for, alice)
    return alice, bob, token


def start(host: FakeHost | None = None) -> tuple[Session, FakeHost, FakeAdapter]:
    host = host or FakeHost()
    adapter = FakeAdapter()
    session = Session(host, adapter)
    session.start()
    return session, host, adapter


async def authed(token: str) -> tuple[Session, FakeHost, FakeAdapter]:
    session, host, adapter = start()
    await session.receive({"type": "auth", "id": "a1", "token": token, "device": "phone"})
    assert (await adapter.next())["type"] == "auth_ok"
    return session, host, adapter


def stored(request, seq: int, dup: bool = False) -> SendOutcome:
    channel = p_channel(request.sender_id, request.to)
    message = StoredMessage(channel=channel, seq=seq, ts=1000 + seq, sender_id=request.sender_id,
                            client_id=request.client_id, type=request.type, body=request.body,
                            recipient_id=request.to)
    return SendOutcome(result=AppendResult(message=message, dup=dup),
                       recipients=frozenset({request.sender_id, request.to}))


async def test_a_frame_before_auth_is_refused_and_the_connection_closed():
    session, host, adapter = start()
    await session.receive({"type": "text", "id": "c1", "to": 2, "body": {"text": "hi"}})
    error = await adapter.next()
    assert (error["type"], error["code"], error["id"]) == ("error", UNAUTHENTICATED, "c1")
    assert await asyncio.wait_for(adapter.closed, 5) == 1000
    assert host.registered == [] and host.submitted == []


async def test_auth_registers_the_session_and_answers_auth_ok(alice_and_bob):
    alice, _, token = alice_and_bob
    session, host, adapter = await authed(token)
    assert host.registered == [session]
    assert session.user_id == alice.id and session.device == "phone"
    record = session.record()
    assert (record.node, record.device) == (host.name, "phone")

    await session.transport_closed()
    assert host.unregistered == [session]


async def test_an_unknown_token_is_refused_and_nothing_registered():
    session, host, adapter = start()
    await session.receive({"type": "auth", "id": "a1", "token": "nope" * 10, "device": "d"})
    error = await adapter.next()
    assert (error["code"], error["id"]) == (BAD_TOKEN, "a1")
    await asyncio.wait_for(adapter.closed, 5)
    assert host.registered == [] and not session.authenticated


async def test_a_revoked_token_that_raced_the_registration_is_refused(alice_and_bob):
    alice, _, token = alice_and_bob
    await run_write(alice.auth_token_set.all().delete)
    host = FakeHost()
    host.recently_revoked = True  # the locator saw a revocation for this user
    session, host, adapter = start(host)
    await session.receive({"type": "auth", "id": "a1", "token": token, "device": "d"})
    assert (await adapter.next())["code"] == BAD_TOKEN
    assert host.unregistered == host.registered  # registered for a moment, then undone


async def test_over_the_admission_rate_auth_is_refused_with_a_retry_time(alice_and_bob):
    host = FakeHost()
    host.auth_wait_ms = 250
    session, host, adapter = start(host)
    await session.receive({"type": "auth", "id": "a1", "token": alice_and_bob[2], "device": "d"})
    error = await adapter.next()
    assert (error["code"], error["id"], error["retry_ms"]) == (RATE_LIMITED, "a1", 250)
    await asyncio.wait_for(adapter.closed, 5)
    assert host.registered == [] and not session.authenticated


async def test_a_second_auth_is_invalid(alice_and_bob):
    session, _, adapter = await authed(alice_and_bob[2])
    await session.receive({"type": "auth", "id": "a2", "token": alice_and_bob[2], "device": "d"})
    error = await adapter.next()
    assert (error["code"], error["id"]) == (INVALID, "a2")
    assert session.authenticated and not session.closing


async def test_sends_are_submitted_in_order_and_each_answered_when_its_outcome_comes(
    alice_and_bob,
):
    alice, bob, token = alice_and_bob
    session, host, adapter = await authed(token)
    for i in range(3):
        await session.receive({"type": "text", "id": f"c{i}", "to": bob.id,
                               "body": {"text": f"m{i}"}})
    assert [r.client_id for r, _, _ in host.submitted] == ["c0", "c1", "c2"]
    assert {origin for _, origin, _ in host.submitted} == {session.conn_id}
    assert all(r.sender_id == alice.id and r.to == bob.id for r, _, _ in host.submitted)

    (r0, _, f0), (r1, _, f1), (r2, _, f2) = host.submitted
    f0.set_result(stored(r0, 1))
    f1.set_result(SendOutcome(refused=SendRefused("forbidden", "no")))
    f2.set_result(stored(r2, 2, dup=True))
    ack0, error1, ack2 = await adapter.next(), await adapter.next(), await adapter.next()
    assert (ack0["type"], ack0["id"], ack0["seq"]) == ("ack", "c0", 1)
    assert ack0["channel"] == p_channel(alice.id, bob.id)
    assert (error1["type"], error1["id"], error1["code"]) == ("error", "c1", "forbidden")
    assert (ack2["id"], ack2["seq"], ack2.get("dup")) == ("c2", 2, True)


async def test_a_sync_answers_after_the_sends_before_it(alice_and_bob):
    _, bob, token = alice_and_bob
    session, host, adapter = await authed(token)
    await session.receive({"type": "text", "id": "c0", "to": bob.id, "body": {"text": "x"}})
    sync = asyncio.create_task(session.receive({"type": "sync", "id": "s0"}))
    await asyncio.sleep(0)  # let the sync start; it must now wait on the send
    done, _ = await asyncio.wait([sync], timeout=0.2)
    assert not done and adapter.frames.empty()

    request, _, future = host.submitted[0]
    future.set_result(stored(request, 1))
    await sync
    assert (await adapter.next())["type"] == "ack"
    reply = await adapter.next()
    assert (reply["type"], reply["id"]) == ("sync", "s0")
    assert isinstance(reply["channels"], list)


async def test_heartbeats_are_answered_and_reported_to_the_host(alice_and_bob):
    session, host, adapter = await authed(alice_and_bob[2])
    await session.receive({"type": "heartbeat", "id": "h1"})
    reply = await adapter.next()
    assert (reply["type"], reply["id"]) == ("heartbeat", "h1") and reply["ts"] > 0
    assert host.heartbeats == 1


async def test_frames_over_the_budget_are_refused_by_id(alice_and_bob, settings):
    settings.IM_RATE_FRAMES_PER_S, settings.IM_RATE_FRAMES_BURST = 1, 3
    session, host, adapter = await authed(alice_and_bob[2])  # the auth took one
    for i in range(4):
        await session.receive({"type": "heartbeat", "id": f"h{i}"})
    replies = [await adapter.next() for _ in range(4)]
    assert [r["type"] for r in replies[:2]] == ["heartbeat", "heartbeat"]
    assert [(r["type"], r["code"]) for r in replies[2:]] == [("error", RATE_LIMITED)] * 2
    assert host.heartbeats == 2


async def test_a_reader_that_stops_reading_is_cut_and_its_queue_released(
    alice_and_bob, settings
):
    settings.IM_OUTBOUND_BYTES = 64 * 1024
    session, host, adapter = await authed(alice_and_bob[2])
    adapter.stalled = True
    big = {"type": "text", "id": "x", "channel": "p:1:2", "seq": 1, "ts": 1, "from": 1,
           "to": 2, "body": {"text": "y" * 4000}}
    session.push(big)
    await asyncio.sleep(0)  # the drainer takes it and blocks on the socket
    for _ in range(100):
        session.push(big)
        if session.closing:
            break
    assert session.closing
    # The frames that piled up are dropped at once; only the offline frame remains.
    assert session.queued_bytes < 1024
