"""The batch reads a notification's unread count is made of answer what the one-user
reads of GET /api/channels/ answer (in-process, against the test database)."""

from __future__ import annotations

import pytest

from improto.channels import g_channel, p_channel
from messaging.selectors.channels import channels_of_users
from messaging.selectors.read_marks import unread_state, unread_states
from messaging.services.groups import group_create
from messaging.services.message_send import SendRequest, messages_send
from messaging.services.read_marks import ReadRequest
from messaging.store import get_store
from notifications.models import ChannelSetting
from notifications.selectors import unread_counts
from tests.accounts.factories import make_user

pytestmark = [pytest.mark.embedded, pytest.mark.django_db(transaction=True)]


def _text(sender, client_id: str, *, to=None, group=None) -> SendRequest:
    return SendRequest(sender_id=sender.id, client_id=client_id, type="text",
                       body={"text": client_id}, to=to, group=group)


def test_many_users_at_once_as_one_at_a_time():
    alice, bob, carol, dave = (make_user() for _ in range(4))
    group = group_create(owner=alice, name="g", member_ids=[bob.id, carol.id])
    sent = messages_send([
        _text(alice, "a1", to=bob.id), _text(alice, "a2", to=bob.id),
        _text(carol, "c1", to=bob.id), _text(alice, "g1", group=group.id),
        _text(bob, "g2", group=group.id), _text(carol, "g3", group=group.id),
    ])
    private = p_channel(alice.id, bob.id)
    # An edit after bob's read position, and bob has read the first message.
    messages_send([
        SendRequest(sender_id=alice.id, client_id="e1", type="edit",
                    body={"text": "fixed"}, channel=private,
                    target=sent[0].result.message.seq),
        ReadRequest(user_id=bob.id, channel=private, seq=1),
        ReadRequest(user_id=carol.id, channel=g_channel(group.id), seq=1),
    ])
    ids = [alice.id, bob.id, carol.id, dave.id]
    store = get_store()
    many = channels_of_users(ids)
    assert many == {uid: dict(store.channels_of_user(uid)) for uid in ids}
    assert many[dave.id] == {}
    assert unread_states(many) == {uid: unread_state(user_id=uid, last_seqs=many[uid])
                                   for uid in ids}
    # bob: a2 in alice's channel (the edit does not count), c1, and g3 (sending g2
    # read the group up to it).
    bob_state = unread_states(many)[bob.id]
    assert bob_state[private] == (1, 1)
    assert sum(unread for _, unread in bob_state.values()) == 3

    ChannelSetting.objects.create(user=bob, channel=p_channel(carol.id, bob.id), muted=True)
    assert unread_counts(ids)[bob.id] == 2  # c1 is in a muted channel
