"""BatchWriter in-process: group commit through the real write path and store."""

from __future__ import annotations

import asyncio

import pytest

from messaging.services.message_send import SendRequest
from realtime.db import run_write
from realtime.writer import BatchWriter
from tests.accounts.factories import make_user

pytestmark = [pytest.mark.embedded, pytest.mark.django_db(transaction=True)]


def text(sender, to, client_id: str, text: str = "hi") -> SendRequest:
    return SendRequest(sender_id=sender, client_id=client_id, type="text",
                       body={"text": text}, to=to)


@pytest.fixture
async def users():
    return [await run_write(make_user) for _ in range(3)]


@pytest.fixture
async def writer():
    stored: list[tuple] = []
    writer = BatchWriter(after_store=stored.extend, max_batch=16)
    writer.start()
    writer.stored = stored
    yield writer
    await writer.stop()


async def test_a_burst_is_stored_in_submission_order_without_holes(users, writer):
    alice, bob, _ = users
    futures = [writer.submit(text(alice.id, bob.id, f"c{i}"), origin=f"conn{i % 2}")
               for i in range(50)]
    outcomes = await asyncio.gather(*futures)
    assert [o.result.message.seq for o in outcomes] == list(range(1, 51))
    assert [o.result.message.client_id for o in outcomes] == [f"c{i}" for i in range(50)]
    assert all(o.recipients == {alice.id, bob.id} for o in outcomes)
    ts = [o.result.message.ts for o in outcomes]
    assert ts == sorted(ts)
    # The fan-out hears of every stored message once, with the connection it came from.
    assert [(o.result.message.seq, origin) for o, origin in writer.stored] == [
        (i + 1, f"conn{i % 2}") for i in range(50)
    ]


async def test_a_resend_is_a_duplicate_of_the_first(users, writer):
    alice, bob, _ = users
    first = await writer.submit(text(alice.id, bob.id, "same"), origin="c")
    again, other = await asyncio.gather(
        writer.submit(text(alice.id, bob.id, "same", "changed"), origin="c"),
        writer.submit(text(alice.id, bob.id, "other"), origin="c"),
    )
    assert (first.result.dup, again.result.dup) == (False, True)
    assert again.result.message.seq == first.result.message.seq
    assert again.result.message.body == {"text": "hi"}  # the stored one, not the resend
    assert other.result.message.seq == first.result.message.seq + 1


async def test_one_refused_send_does_not_fail_its_batch(users, writer):
    alice, bob, carol = users
    await run_write(type(carol).objects.filter(pk=carol.pk).update, is_active=False)
    outcomes = await asyncio.gather(
        writer.submit(text(alice.id, bob.id, "a"), origin="c"),
        writer.submit(text(carol.id, bob.id, "b"), origin="c"),  # a disabled sender
        writer.submit(text(alice.id, 10**9, "c"), origin="c"),  # nobody
        writer.submit(text(alice.id, bob.id, "d"), origin="c"),
    )
    assert outcomes[0].result.message.seq == 1 and outcomes[3].result.message.seq == 2
    assert outcomes[1].refused is not None and outcomes[2].refused is not None
    assert outcomes[2].refused.code == "not_found"


async def test_stop_finishes_what_was_submitted(users):
    alice, bob, _ = users
    writer = BatchWriter(after_store=lambda _: None)
    writer.start()
    futures = [writer.submit(text(alice.id, bob.id, f"s{i}"), origin="c") for i in range(20)]
    await writer.stop()
    assert all(f.done() for f in futures)
    assert [f.result().result.message.seq for f in futures] == list(range(1, 21))
