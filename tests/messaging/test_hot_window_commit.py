"""The hot window holds only what the write path's transaction committed (in process,
on the real database and a private Redis)."""

from __future__ import annotations

import secrets

import pytest
import redis

from improto.channels import p_channel


@pytest.mark.django_db(transaction=True)
def test_the_window_is_written_once_the_batch_commits_and_never_for_a_rollback(redis_server):
    from django.db import transaction

    from messaging.store.base import NewMessage
    from messaging.store.hot import HotWindowStore
    from messaging.store.orm import OrmMessageStore
    from tests.accounts.factories import make_user

    alice, bob = make_user(), make_user()
    prefix = f"hw{secrets.token_hex(4)}"
    store = HotWindowStore(OrmMessageStore(), url=redis_server.url(6), prefix=prefix, window=10)
    channel = p_channel(alice.pk, bob.pk)
    key = f"{prefix}:{channel}"
    window = redis.Redis.from_url(redis_server.url(6))

    def message(client_id: str) -> NewMessage:
        return NewMessage(channel=channel, sender_id=alice.pk, client_id=client_id,
                          type="text", body={"text": client_id}, recipient_id=bob.pk)

    with transaction.atomic():
        (stored,) = store.append([message("c1")], now_ms=1)
        assert window.zcard(key) == 0  # stored, not yet committed: not in the window
    assert [int(s) for _, s in window.zrange(key, 0, -1, withscores=True)] == [stored.message.seq]

    with pytest.raises(RuntimeError), transaction.atomic():
        store.append([message("c2")], now_ms=2)
        raise RuntimeError("the batch fails after the append")
    assert window.zcard(key) == 1  # the rolled-back message never reached it
    assert store.range(channel, after=0, limit=10) == [stored.message]
