"""One batch of the write path in-process, on the real database: each request is
judged on its own pair (sender active, recipient active, no block from that
recipient to that sender), whatever else the batch holds."""

from __future__ import annotations

import pytest

from accounts.blocking import block_create
from improto.channels import p_channel
from messaging.services.message_send import SendRequest, messages_send
from tests.accounts.factories import make_user

pytestmark = [pytest.mark.embedded, pytest.mark.django_db(transaction=True)]


def text(sender, to: int, client_id: str) -> SendRequest:
    return SendRequest(sender_id=sender.pk, client_id=client_id, type="text",
                       body={"text": client_id}, to=to)


def test_blocks_and_disabled_users_refuse_their_own_pairs_only():
    alice, bob, carol, dave = make_user(), make_user(), make_user(), make_user()
    closed, gone = make_user(is_active=False), make_user(is_active=False)
    block_create(blocker=bob, blocked_id=alice.pk)   # bob blocked alice
    block_create(blocker=carol, blocked_id=dave.pk)  # carol blocked dave
    batch = [
        text(alice, bob.pk, "a-b"),        # blocked
        text(alice, carol.pk, "a-c"),      # fine: carol blocked dave, not alice
        text(dave, bob.pk, "d-b"),         # fine: bob blocked alice, not dave
        text(bob, alice.pk, "b-a"),        # fine: a block holds one way
        text(dave, carol.pk, "d-c"),       # blocked
        text(closed, carol.pk, "x-c"),     # a disabled sender
        text(alice, gone.pk, "a-g"),       # a disabled recipient
        text(alice, 10**9, "a-none"),      # no such user
        text(alice, carol.pk, "a-c"),      # a retry within the batch
    ]
    outcomes = messages_send(batch)
    refused = [(o.refused.code, o.refused.message) if o.refused else None for o in outcomes]
    assert refused == [
        ("forbidden", "you cannot send to this user"),
        None,
        None,
        None,
        ("forbidden", "you cannot send to this user"),
        ("forbidden", "this account is disabled"),
        ("not_found", f"no such user: {gone.pk}"),
        ("not_found", f"no such user: {10**9}"),
        None,
    ]
    stored = [(o.result.message.channel, o.result.message.seq, o.result.dup)
              for o in outcomes if o.result is not None]
    ac, db, ab = p_channel(alice.pk, carol.pk), p_channel(dave.pk, bob.pk), p_channel(
        alice.pk, bob.pk)
    assert stored == [(ac, 1, False), (db, 1, False), (ab, 1, False), (ac, 1, True)]
